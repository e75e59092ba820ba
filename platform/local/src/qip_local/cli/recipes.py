"""`qip recipe show|set` and `qip backfill`: the variants rendered, and re-rendering."""

# Imports are lazy on purpose: `qip process` must never load CDK, and `--help` stays fast.
# Typer commands take their options as parameters.
# ruff: noqa: PLC0415

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from qip_local.cli.common import (
    EXIT_FAILED,
    EndpointOption,
    JsonOption,
    OutputsOption,
    PrefixOption,
    app,
    connect,
    one_line_errors,
    read_recipe_file,
    recipe_app,
)


def _connect_to_recipe(endpoint: str | None, prefix: str | None, outputs: Path | None) -> Any:
    """A client of a system whose recipe parameter is known (a deployed stack must output it)."""
    from qip_pipeline import names

    return connect(endpoint, prefix, outputs, needs=(names.OUTPUT_RECIPE_PARAMETER,))


def _recipe_table(recipe: Any) -> Table:
    table = Table(title=f"recipe {recipe.version}", box=box.SIMPLE_HEAD)
    for column in ("variant", "stage", "fit", "size", "formats"):
        table.add_column(column)
    for variant in recipe.variants:
        table.add_row(
            variant.name,
            variant.stage.value,
            variant.fit.value,
            f"{variant.width}x{variant.height}",
            ", ".join(f.value for f in variant.formats),
        )
    return table


@recipe_app.command("show")
def recipe_show(
    endpoint: EndpointOption = None,
    prefix: PrefixOption = None,
    json_output: JsonOption = False,
    outputs: OutputsOption = None,
) -> None:
    """Show the recipe a running `qip serve` (or a deployed stack, --outputs) renders.

    Examples:

        qip recipe show

        qip recipe show --json > recipe.json

        qip recipe show --outputs staging-outputs.json
    """
    from qip_shared.recipe_store import read_recipe

    with one_line_errors():
        client = _connect_to_recipe(endpoint, prefix, outputs)
        current = read_recipe(client.client("ssm"), client.resources.recipe_parameter)
        if json_output:
            typer.echo(json.dumps(current.to_json_dict(), indent=2))
        else:
            Console(highlight=False).print(_recipe_table(current))


@recipe_app.command("set")
def recipe_set(
    file: Annotated[Path, typer.Argument(help="The recipe JSON file.")],
    endpoint: EndpointOption = None,
    prefix: PrefixOption = None,
    outputs: OutputsOption = None,
) -> None:
    """Make a running `qip serve` (or a deployed stack, --outputs) render another recipe (new
    uploads; `qip backfill` for the images it already has). Warm functions pick it up within a
    minute. A deployed stack's next `cdk deploy` writes back the recipe of its CDK context
    (`-c recipe=FILE`): deploy with the same file to keep it.

    Examples:

        qip recipe set recipes/all-formats.json && qip backfill

        qip recipe set recipes/all-formats.json --outputs staging-outputs.json
    """
    from qip_shared.recipe_store import read_recipe, write_recipe

    with one_line_errors():
        chosen = read_recipe_file(file)
        client = _connect_to_recipe(endpoint, prefix, outputs)
        ssm, parameter = client.client("ssm"), client.resources.recipe_parameter
        previous = read_recipe(ssm, parameter)
        write_recipe(ssm, parameter, chosen)
        then = f"qip backfill --outputs {outputs}" if outputs is not None else "qip backfill"
        typer.echo(f"recipe {chosen.version} set (was {previous.version}); run `{then}`")


@app.command()
def backfill(
    endpoint: EndpointOption = None,
    prefix: PrefixOption = None,
    json_output: Annotated[
        bool, typer.Option("--json", help='Print only {"examined", "rerendered", "failed"}.')
    ] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for all re-renders.")] = 600.0,
    outputs: OutputsOption = None,
) -> None:
    """Re-render the COMPLETED images whose variants another recipe version rendered, on a
    running `qip serve` or a deployed stack (--outputs).

    Finds them through the status index (no Scan), runs each through the same stages once
    (idempotent: run it again and nothing is re-rendered; resumable after an interruption).
    Exit code 1 if any image failed to re-render.

    Examples:

        qip recipe set recipes/all-formats.json && qip backfill

        qip backfill --json

        qip backfill --outputs staging-outputs.json
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from qip_local.backfill import Backfill, sync_client_config

    with one_line_errors():
        client = _connect_to_recipe(endpoint, prefix, outputs)
        resources = client.resources
        job = Backfill(
            dynamodb=client.client("dynamodb"),
            stepfunctions=client.client("stepfunctions"),
            ssm=client.client("ssm"),
            table=resources.table,
            upload_bucket=resources.upload_bucket,
            state_machine_arn=resources.state_machine_arn,
            recipe_parameter=resources.recipe_parameter,
            # Express machines: each attempt runs with StartSyncExecution (up to 5 minutes).
            sync_stepfunctions=client.session.client(
                "stepfunctions", endpoint_url=client.endpoint_url, config=sync_client_config()
            ),
        )
        if json_output:
            report = job.run(timeout=timeout)
            typer.echo(json.dumps(report.to_json()))
        else:
            console = Console(highlight=False)
            version = job.current_recipe().version
            with Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
            ) as progress:
                task = progress.add_task(f"re-rendering with recipe {version}", total=None)
                report = job.run(
                    on_plan=lambda _examined, stale: progress.update(task, total=stale),
                    on_done=lambda _record, _ok: progress.advance(task),
                    timeout=timeout,
                )
            failed = f"[red]{report.failed} failed[/]" if report.failed else "0 failed"
            console.print(
                f"examined {report.examined} completed image(s): "
                f"[green]{report.rerendered} re-rendered[/], {failed}"
            )
    if report.failed:
        raise typer.Exit(EXIT_FAILED)
