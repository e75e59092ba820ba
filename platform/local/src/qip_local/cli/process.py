"""`qip process`: run the whole pipeline on files, live progress, then a summary."""

# Imports are lazy on purpose: `qip process` must never load CDK, and `--help` stays fast.
# Typer commands take their options as parameters.
# ruff: noqa: PLC0415, PLR0917

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.live import Live
from rich.table import Table

from qip_local.cli.common import (
    EXIT_FAILED,
    STAGE_HEADERS,
    SYMBOLS,
    CliError,
    OutputsOption,
    RecipeOption,
    RetryScaleOption,
    app,
    connect,
    one_line_errors,
    parse_stage_list,
    read_recipe_file,
    runtime_output_to,
    status_text,
)
from qip_shared.enums import StageName


def _progress_table(files: list[str], records: dict[int, Any], stages: list[StageName]) -> Table:
    table = Table(title="QIP pipeline", expand=False, box=box.SIMPLE_HEAD)
    table.add_column("image", overflow="ellipsis", no_wrap=True, max_width=28)
    table.add_column("status", no_wrap=True)
    for stage in stages:
        header = STAGE_HEADERS[stage]
        table.add_column(header, justify="center", no_wrap=True, min_width=len(header))
    for i, name in enumerate(_display_names(files)):
        record = records.get(i)
        if record is None:
            table.add_row(name, "[dim]uploading[/]", *["[dim]·[/]"] * len(stages))
            continue
        cells = []
        for stage in stages:
            info = record.stages.get(stage)
            cells.append(SYMBOLS.get(info.status.value, "?") if info else "[dim]·[/]")
        table.add_row(name, status_text(record.status.value), *cells)
    return table


def _display_names(files: list[str]) -> list[str]:
    """Base names when they are unique (shorter tables), else the paths as given."""
    names = [Path(f).name for f in files]
    return names if len(set(names)) == len(names) else list(files)


def _summary_table(outcomes: list[Any], stages: list[StageName]) -> Table:
    table = Table(title="Summary (seconds per stage)", box=box.SIMPLE_HEAD)
    table.add_column("image", overflow="ellipsis", no_wrap=True, max_width=18)
    table.add_column("status", no_wrap=True, min_width=9)
    for stage in stages:
        header = STAGE_HEADERS[stage]
        table.add_column(header, justify="right", no_wrap=True, min_width=len(header))
    table.add_column("total", justify="right", no_wrap=True, min_width=5)
    shown = _display_names([o.file for o in outcomes])
    for label, outcome in zip(shown, outcomes, strict=True):
        durations = [
            f"{outcome.durations[s.value]:.2f}" if s.value in outcome.durations else "—"
            for s in stages
        ]
        table.add_row(
            label,
            status_text(outcome.status),
            *durations,
            f"{outcome.seconds:.2f}" if outcome.seconds else "—",
        )
    return table


def _details(outcomes: list[Any]) -> list[str]:
    """One line per image that did not complete: its reason or error."""
    shown = _display_names([o.file for o in outcomes])
    lines = []
    for label, outcome in zip(shown, outcomes, strict=True):
        detail = outcome.reason or outcome.error
        if outcome.status != "COMPLETED" and detail:
            lines.append(f"{label}: {status_text(outcome.status)} {detail}")
    return lines


@app.command()
def process(
    paths: Annotated[list[str], typer.Argument(help="Image files and/or folders.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where outputs are copied.")] = Path(
        "qip-out"
    ),
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON array (one object per file) only.")
    ] = False,
    stages: Annotated[
        str | None,
        typer.Option("--stages", help="Comma-separated stages (default: all five)."),
    ] = None,
    endpoint: Annotated[
        str | None,
        typer.Option("--endpoint", help="Use a running `qip serve` instead of starting one."),
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for all images.")] = 300.0,
    retry_scale: RetryScaleOption = 1.0,
    recipe: RecipeOption = None,
    outputs: OutputsOption = None,
) -> None:
    """Run the whole pipeline on files or folders, and copy the outputs to ./qip-out/.

    Starts an embedded AWS (moto) on 127.0.0.1, uploads each file through the real path
    (upload-url's presigned POST -> S3 -> EventBridge -> SQS -> trigger -> Step Functions),
    shows each image's stages live, then a summary. Exit code 1 if any image FAILED
    (REJECTED is a normal outcome), 2 on a usage or environment error.

    With --outputs, the same against a deployed stack: each file is put straight into its upload
    bucket (under the key upload-url would give) with the environment's AWS credentials.

    Examples:

        qip process examples/

        qip process examples/ --outputs staging-outputs.json

        qip process photo.jpg scans/ --out /tmp/qip-out

        qip process examples/ --json | jq '.[] | {file, status, reason}'

        qip process examples/ --stages validation,metadata,thumbnail

        qip process examples/ --recipe recipes/all-formats.json
    """
    with one_line_errors():
        files, stage_list, chosen_recipe = _inputs(paths, stages, recipe, endpoint)
        out.mkdir(parents=True, exist_ok=True)
        stdout = sys.stdout
        console = Console(file=stdout, highlight=False)
        log_path = out / "qip.log"
        log_path.write_bytes(b"")
        # Appended to, here and by the embedded AWS's process (which opens it by its path).
        with log_path.open("a") as log, runtime_output_to(log):
            outcomes, chosen = _run_process(
                files,
                out,
                stage_list,
                endpoint,
                timeout,
                retry_scale,
                console,
                json_output,
                chosen_recipe,
                outputs,
            )
        if json_output:
            stdout.write(json.dumps([o.to_json() for o in outcomes], indent=2) + "\n")
            stdout.flush()
        else:
            _print_summary(console, outcomes, chosen, out)
    if any(o.status not in ("COMPLETED", "REJECTED") for o in outcomes):
        raise typer.Exit(EXIT_FAILED)


def _inputs(
    paths: list[str], stages: str | None, recipe: Path | None, endpoint: str | None
) -> tuple[list[str], tuple[StageName, ...], Any]:
    """The files to process, the stage selection and the recipe (None: the default)."""
    from qip_local.client import expand_paths

    files = expand_paths(paths)
    if not files:
        raise CliError("no files to process")
    stage_list = parse_stage_list(stages)
    chosen_recipe = read_recipe_file(recipe)
    if chosen_recipe is not None and endpoint:
        raise CliError("--recipe starts a system with it; on a running one: qip recipe set")
    return files, stage_list, chosen_recipe


def _print_summary(
    console: Console, outcomes: list[Any], chosen: list[StageName], out: Path
) -> None:
    """The summary table, one line per image that did not complete, and the totals."""
    console.print()
    console.print(_summary_table(outcomes, chosen))
    for line in _details(outcomes):
        console.print(line, soft_wrap=True)
    done = sum(o.status == "COMPLETED" for o in outcomes)
    console.print(
        f"{done}/{len(outcomes)} completed; outputs in [bold]{out}/[/] (log: {out / 'qip.log'})"
    )


def _run_process(
    files: list[str],
    out: Path,
    stage_list: tuple[StageName, ...],
    endpoint: str | None,
    timeout: float,
    retry_scale: float,
    console: Console,
    json_output: bool,
    recipe: Any = None,
    outputs: Path | None = None,
) -> tuple[list[Any], list[StageName]]:
    records: dict[int, Any] = {}
    with contextlib.ExitStack() as stack:
        if endpoint or outputs:
            client = connect(endpoint, None, outputs)
        else:
            from qip_local.launcher import take_prestarted
            from qip_local.runtime import LocalConfig, LocalRuntime

            if not json_output:
                console.print("[dim]starting the embedded AWS (moto) and the pipeline…[/]")
            config = LocalConfig(stages=stage_list, retry_scale=retry_scale)
            if recipe is not None:
                config.recipe = recipe
            # moto, the state machine and the handlers in a child process: this one uploads
            # and watches on the other core.
            # Started by `qip` before its imports, if it was: it gets its configuration now.
            runtime = LocalRuntime(
                config,
                separate_process=True,
                prestarted=take_prestarted(),
                child_output=str((out / "qip.log").resolve()),
            )
            stack.enter_context(runtime)
            client = runtime.local_client()
            if not json_output:
                console.print(f"[dim]embedded AWS at {runtime.endpoint_url}[/]")
        chosen = list(client.resources.stages)
        if json_output:
            return client.process(files, out, timeout=timeout), chosen

        live = stack.enter_context(
            Live(_progress_table(files, records, chosen), console=console, refresh_per_second=8)
        )

        def on_update(index: int, record: Any) -> None:
            records[index] = record
            live.update(_progress_table(files, records, chosen))

        return client.process(files, out, timeout=timeout, on_update=on_update), chosen
