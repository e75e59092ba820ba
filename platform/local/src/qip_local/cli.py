"""`qip`: run the whole pipeline locally on moto, and look inside it.

Every command prints one clear line on error (exit code 2), never a traceback.
"""

# Imports are lazy on purpose: `qip process` must never load CDK, and `--help` stays fast.
# Typer commands take their options as parameters.
# ruff: noqa: PLC0415, PLR0917

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.live import Live
from rich.table import Table

from qip_local.state import clear_state
from qip_shared.enums import ImageStatus, StageName
from qip_shared.record import STATUS_INDEX_NAME

app = typer.Typer(
    name="qip",
    help=(
        "QIP, the serverless image pipeline, on your laptop: no AWS account, no Docker.\n\n"
        "Start with:  qip process examples/"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
dlq_app = typer.Typer(
    help="Inspect and replay the dead-letter queue (of a running `qip serve`, or --outputs).",
    no_args_is_help=True,
)
app.add_typer(dlq_app, name="dlq")
recipe_app = typer.Typer(
    help="Show or change the recipe (the variants resize and thumbnail render) of `qip serve`.",
    no_args_is_help=True,
)
app.add_typer(recipe_app, name="recipe")

err = Console(stderr=True, highlight=False)
STAGE_ORDER = list(StageName)
EXIT_FAILED = 1
EXIT_ERROR = 2
SYMBOLS = {"IN_PROGRESS": "[yellow]…[/]", "COMPLETED": "[green]✓[/]", "FAILED": "[red]✗[/]"}
STAGE_HEADERS = {
    StageName.VALIDATION: "valid",
    StageName.METADATA: "meta",
    StageName.RESIZE: "resize",
    StageName.THUMBNAIL: "thumb",
    StageName.ARCHIVE: "arch",
}
STATUS_STYLE = {
    "COMPLETED": "green",
    "REJECTED": "yellow",
    "FAILED": "red",
    "PROCESSING": "cyan",
    "UPLOADED": "blue",
}


class CliError(Exception):
    """An error reported to the user as one line."""


def _fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    return typer.Exit(EXIT_ERROR)


@contextlib.contextmanager
def _one_line_errors() -> Iterator[None]:
    """Turn expected failures into one line on stderr and exit code 2."""
    try:
        yield
    except (typer.Exit, typer.Abort):
        raise
    except CliError as exc:
        raise _fail(str(exc)) from None
    except FileNotFoundError as exc:
        raise _fail(str(exc.args[0] if exc.args else exc)) from None
    except KeyboardInterrupt:
        raise _fail("interrupted") from None
    except Exception as exc:
        raise _fail(f"{type(exc).__name__}: {exc}") from None


def _status_text(status: str) -> str:
    style = STATUS_STYLE.get(status, "white")
    return f"[{style}]{status}[/]"


# -- connection to a running `qip serve`, or to a deployed stack ---------------------------
def _connect(endpoint: str | None, prefix: str | None, outputs: Path | None = None) -> Any:
    """A client of a deployed stack (--outputs), else of a running server (--endpoint,
    $QIP_ENDPOINT, or the state file)."""
    if outputs is not None:
        from qip_local.deployed import OutputsFileError, deployed_client

        try:
            return deployed_client(outputs)
        except OutputsFileError as exc:
            raise CliError(str(exc)) from None
    import boto3
    import botocore.exceptions

    from qip_local.client import LocalClient
    from qip_local.provision import discover
    from qip_local.runtime import FAKE_CREDENTIALS
    from qip_local.state import ENDPOINT_ENV, read_state, state_path
    from qip_pipeline.names import ResourceNames

    state = read_state()
    url = endpoint or os.environ.get(ENDPOINT_ENV) or (state.endpoint if state else None)
    if not url:
        raise CliError(
            f"no running `qip serve` found (state file {state_path()}); "
            "start one with `qip serve`, or pass --endpoint"
        )
    chosen_prefix = prefix or (state.prefix if state and state.endpoint == url else "qip")
    session = boto3.Session(
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=FAKE_CREDENTIALS["AWS_SESSION_TOKEN"],
        region_name=FAKE_CREDENTIALS["AWS_DEFAULT_REGION"],
    )
    try:
        resources = discover(session, ResourceNames(chosen_prefix), endpoint_url=url)
    except botocore.exceptions.EndpointConnectionError:
        raise CliError(f"cannot reach {url}: is `qip serve` still running?") from None
    except (StopIteration, botocore.exceptions.ClientError):
        raise CliError(f"{url} has no QIP system with prefix {chosen_prefix!r}") from None
    return LocalClient(session, resources, endpoint_url=url)


EndpointOption = Annotated[
    str | None,
    typer.Option(
        "--endpoint",
        help="URL of a running `qip serve` (default: $QIP_ENDPOINT, then its state file).",
    ),
]
PrefixOption = Annotated[
    str | None, typer.Option("--prefix", help="Resource-name prefix (default: the server's).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
OutputsOption = Annotated[
    Path | None,
    typer.Option(
        "--outputs",
        help="A deployed stack: the file `cdk deploy --outputs-file` wrote (AWS credentials, "
        "region and endpoint from the environment).",
    ),
]
RecipeOption = Annotated[
    Path | None,
    typer.Option(
        "--recipe",
        help="A recipe JSON file: the variants to render (default: the design's two JPEGs).",
    ),
]


def _read_recipe(path: Path | None) -> Any:
    """The validated recipe in `path` (None: none given); a bad file is one clear line."""
    from pydantic import ValidationError

    from qip_shared.recipe import Recipe

    if path is None:
        return None
    try:
        return Recipe.from_json(path.read_bytes())
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'recipe'}: {e['msg']}" for e in exc.errors()
        )
        raise CliError(f"{path} is not a valid recipe: {problems}") from None


# -- process -------------------------------------------------------------------------------
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
        table.add_row(name, _status_text(record.status.value), *cells)
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
            _status_text(outcome.status),
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
            lines.append(f"{label}: {_status_text(outcome.status)} {detail}")
    return lines


@contextlib.contextmanager
def _runtime_output_to(log: IO[str]) -> Iterator[None]:
    """Send handler logs, metrics and warnings to `log`, keeping stdout for our own output."""
    root = logging.getLogger()
    handler = logging.StreamHandler(log)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root.addHandler(handler)
    previous_level = root.level
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    try:
        with contextlib.redirect_stdout(log):
            yield
    finally:
        logging.captureWarnings(False)
        root.removeHandler(handler)
        root.setLevel(previous_level)


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
    retry_scale: Annotated[
        float,
        typer.Option(help="Scale of Step Functions retry waits (1 = the designed 2/4/8 s)."),
    ] = 1.0,
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
    from qip_local.client import expand_paths

    with _one_line_errors():
        files = expand_paths(paths)
        if not files:
            raise CliError("no files to process")
        stage_list = _parse_stages(stages)
        chosen_recipe = _read_recipe(recipe)
        if chosen_recipe is not None and endpoint:
            raise CliError("--recipe starts a system with it; on a running one: qip recipe set")
        out.mkdir(parents=True, exist_ok=True)
        stdout = sys.stdout
        console = Console(file=stdout, highlight=False)
        with (out / "qip.log").open("w") as log, _runtime_output_to(log):
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
            console.print()
            console.print(_summary_table(outcomes, chosen))
            for line in _details(outcomes):
                console.print(line, soft_wrap=True)
            done = sum(o.status == "COMPLETED" for o in outcomes)
            console.print(
                f"{done}/{len(outcomes)} completed; outputs in [bold]{out}/[/] "
                f"(log: {out / 'qip.log'})"
            )
    if any(o.status not in ("COMPLETED", "REJECTED") for o in outcomes):
        raise typer.Exit(EXIT_FAILED)


def _parse_stages(stages: str | None) -> tuple[StageName, ...]:
    from qip_pipeline.definition import ALL_STAGES, StageSelectionError, parse_stages

    if not stages:
        return ALL_STAGES
    try:
        return parse_stages(stages.split(","))
    except StageSelectionError as exc:
        raise CliError(str(exc)) from None


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
            client = _connect(endpoint, None, outputs)
        else:
            from qip_local.runtime import LocalConfig, LocalRuntime

            if not json_output:
                console.print("[dim]starting the embedded AWS (moto) and the pipeline…[/]")
            config = LocalConfig(stages=stage_list, retry_scale=retry_scale)
            if recipe is not None:
                config.recipe = recipe
            # moto, the state machine and the handlers in a child process: this one uploads
            # and watches on the other core.
            runtime = LocalRuntime(config, separate_process=True)
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


# -- serve ---------------------------------------------------------------------------------
def _awscli_examples(endpoint: str, resources: Any) -> str:
    return "\n".join(
        [
            f"export AWS_ENDPOINT_URL={endpoint} AWS_DEFAULT_REGION=us-east-1 "
            "AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing",
            f"qip process --endpoint {endpoint} examples/",
            f"aws s3 ls s3://{resources.upload_bucket} --recursive",
            f"aws s3 ls s3://{resources.archive_bucket} --recursive",
            f"aws dynamodb scan --table-name {resources.table}",
            "aws dynamodb query --table-name "
            f"{resources.table} --index-name {STATUS_INDEX_NAME} "
            "--key-condition-expression '#s = :s' --expression-attribute-names "
            '\'{"#s":"status"}\' --expression-attribute-values \'{":s":{"S":"COMPLETED"}}\'',
            f"aws stepfunctions list-executions --state-machine-arn {resources.state_machine_arn}",
            f"aws sqs receive-message --queue-url {resources.notifications_queue_url} "
            "--max-number-of-messages 10",
            "aws sqs get-queue-attributes --attribute-names ApproximateNumberOfMessages "
            f"--queue-url {resources.dlq_url}",
        ]
    )


class StopRequest:
    """SIGINT/SIGTERM asking `serve` to stop; the handler takes no lock, so it cannot deadlock.

    The first signal sets a flag the main loop polls (or, still starting, unwinds the start-up)
    and sets an alarm: if the shutdown takes longer than `SHUTDOWN_GRACE` seconds, SIGALRM's
    default action ends the process. A second signal exits at once.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)
    POLL_SECONDS = 0.2
    SHUTDOWN_GRACE = 10

    def __init__(self) -> None:
        # list.append is one atomic step: safe even when a handler interrupts another.
        self.received: list[int] = []
        self.waiting = False

    def handle(self, signum: int, frame: object) -> None:
        """Record the signal and arm the alarm; on the second one, leave at once."""
        del frame
        self.received.append(signum)
        if len(self.received) > 1:
            clear_state(os.getpid())
            os._exit(128 + signum)
        signal.alarm(self.SHUTDOWN_GRACE)  # a system call: no lock, no thread
        if not self.waiting:
            raise SystemExit(128 + signum)

    def install(self) -> None:
        """Route SIGINT and SIGTERM to `handle`; SIGALRM keeps its default (terminate)."""
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        for signum in self.SIGNALS:
            signal.signal(signum, self.handle)

    def wait(self) -> None:
        """Return once a signal has arrived (sleep is woken by signals, PEP 475)."""
        self.waiting = True
        while not self.received:
            time.sleep(self.POLL_SECONDS)


@app.command()
def serve(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0: any free port).")] = 0,
    prefix: Annotated[str, typer.Option(help="Resource-name prefix.")] = "qip",
    stages: Annotated[
        str | None, typer.Option(help="Comma-separated stages (default: all five).")
    ] = None,
    log_file: Annotated[Path, typer.Option("--log-file", help="Where function logs go.")] = Path(
        "qip-out/serve.log"
    ),
    retry_scale: Annotated[
        float, typer.Option(help="Scale of Step Functions retry waits (1 = designed).")
    ] = 1.0,
    dashboard_port: Annotated[
        int, typer.Option(help="Live dashboard port on 127.0.0.1 (0: any free port).")
    ] = 0,
    recipe: RecipeOption = None,
) -> None:
    """Keep the embedded AWS and the pipeline running until Ctrl-C.

    Prints the endpoint and ready-to-paste awscli commands; `qip status`, `qip query`,
    `qip dlq` and `qip process --endpoint` talk to it (found through a state file).

    Examples:

        qip serve

        qip serve --port 4566 --log-file /tmp/qip.log

        qip serve --recipe recipes/all-formats.json
    """
    from qip_local.dashboard import serve_dashboard
    from qip_local.runtime import LocalConfig, LocalRuntime
    from qip_local.state import ServeState, state_path, write_state

    stop = StopRequest()
    stop.install()  # from the start: a signal during start-up stops it too
    with _one_line_errors():
        stage_list = _parse_stages(stages)
        config = LocalConfig(prefix=prefix, stages=stage_list, retry_scale=retry_scale)
        chosen_recipe = _read_recipe(recipe)
        if chosen_recipe is not None:
            config.recipe = chosen_recipe
        console = Console(file=sys.stdout, highlight=False)
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with log_file.open("a") as log, _runtime_output_to(log):
            runtime = LocalRuntime(config, server=True, port=port)
            with (
                runtime,
                serve_dashboard(runtime.local_client(), port=dashboard_port) as dashboard_url,
            ):
                assert runtime.endpoint_url is not None
                assert runtime.resources is not None
                try:
                    write_state(ServeState(runtime.endpoint_url, prefix, os.getpid()))
                    console.print(
                        f"[bold green]QIP is running[/] at [bold]{runtime.endpoint_url}[/]"
                    )
                    console.print(f"[bold green]dashboard[/] at [bold]{dashboard_url}[/]")
                    console.print(f"state file: {state_path()}   function logs: {log_file}")
                    console.print("\nTry (in another shell):\n")
                    console.print(_awscli_examples(runtime.endpoint_url, runtime.resources))
                    console.print("\nCtrl-C to stop.")
                    stop.wait()
                finally:
                    clear_state(os.getpid())
                    console.print("stopping…")


# -- status, query, delete -----------------------------------------------------------------
def _record_table(record: Any, execution_status: str | None) -> Table:
    table = Table(title=record.image_key, show_header=False)
    table.add_column("field")
    table.add_column("value", overflow="fold")
    table.add_row("status", _status_text(record.status.value))
    for label, value in (
        ("uploadTimestamp", record.upload_timestamp),
        ("contentType", record.content_type),
        ("size", str(record.size)),
        ("rejectionReason", record.rejection_reason and record.rejection_reason.value),
        ("errorType", record.error_type),
        ("errorMessage", record.error_message),
        ("archivedLocation", record.archived_location),
        ("recipeVersion", record.recipe_version),
        ("duplicateOf", record.duplicate_of),
        ("dominantColor", record.dominant_color),
        (
            "focalPoint",
            record.focal_point and f"{record.focal_point.x:.3f}, {record.focal_point.y:.3f}",
        ),
        ("perceptualHash", record.perceptual_hash),
        ("contentSha256", record.content_sha256),
        (
            "execution",
            f"{record.execution_arn} ({execution_status})" if record.execution_arn else None,
        ),
    ):
        if value:
            table.add_row(label, str(value))
    for stage in STAGE_ORDER:
        info = record.stages.get(stage)
        if info is not None:
            took = f" in {info.duration_ms} ms" if info.duration_ms is not None else ""
            table.add_row(f"stage {stage.value}", f"{info.status.value}{took} ({info.timestamp})")
    for variant in record.variants or []:
        table.add_row(
            f"variant {variant.name} {variant.format.value}",
            f"{variant.width}x{variant.height}, {variant.bytes} bytes: {variant.key}",
        )
    return table


@app.command()
def status(
    key: Annotated[str, typer.Argument(help="The image key (uploads/yyyy/mm/dd/uuid.ext).")],
    endpoint: EndpointOption = None,
    prefix: PrefixOption = None,
    json_output: JsonOption = False,
    outputs: OutputsOption = None,
) -> None:
    """Show one image's record, its stages and its execution (`qip serve`, or --outputs).

    Examples:

        qip status uploads/2026/11/26/0b9c...e1.jpg

        qip status uploads/2026/11/26/0b9c...e1.jpg --json
    """
    with _one_line_errors():
        client = _connect(endpoint, prefix, outputs)
        record = client.record(key)
        if record is None:
            raise CliError(f"no record for {key}")
        execution = client.execution_status(record)
        if json_output:
            shown = {
                **record.to_json_dict(),
                "render": record.render.to_public_dict(),
                "executionStatus": execution,
            }
            typer.echo(json.dumps(shown, indent=2))
        else:
            Console(highlight=False).print(_record_table(record, execution))


@app.command()
def query(
    status_filter: Annotated[
        str | None,
        typer.Option("--status", help="UPLOADED, PROCESSING, COMPLETED, FAILED or REJECTED."),
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Uploaded at or after (ISO date or timestamp).")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Uploaded before (ISO date or timestamp).")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many records.")] = 100,
    endpoint: EndpointOption = None,
    prefix: PrefixOption = None,
    json_output: JsonOption = False,
    outputs: OutputsOption = None,
) -> None:
    """List images by status and upload date (the status-uploadTimestamp index).

    Examples:

        qip query --status FAILED --since 2026-11-01

        qip query --since 2026-11-26T08:00:00Z --json
    """
    with _one_line_errors():
        client = _connect(endpoint, prefix, outputs)
        records = _run_query(client, status_filter, since, until, limit)
        if json_output:
            typer.echo(json.dumps([r.to_json_dict() for r in records], indent=2))
            return
        table = Table(title=f"{len(records)} image(s)")
        for column in ("imageKey", "status", "uploaded", "reason / error"):
            table.add_column(column, overflow="fold")
        for record in records:
            detail = record.rejection_reason.value if record.rejection_reason else record.error_type
            table.add_row(
                record.image_key,
                _status_text(record.status.value),
                record.upload_timestamp,
                detail or "",
            )
        Console(highlight=False).print(table)


def _moment(text: str | None, option: str) -> Any:
    """`2026-11-01` (a whole UTC day) or an ISO timestamp (UTC when no offset is given)."""
    from datetime import UTC, date, datetime

    if text is None:
        return None
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CliError(f"{option} {text!r} is not an ISO date or timestamp") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _run_query(
    client: Any, status_filter: str | None, since: str | None, until: str | None, limit: int
) -> list[Any]:
    from qip_images_api.query import ImageQuery

    start, end = _moment(since, "--since"), _moment(until, "--until")
    images = ImageQuery(client.client("dynamodb"), client.resources.table)
    if status_filter:
        try:
            chosen = ImageStatus(status_filter.upper())
        except ValueError:
            valid = ", ".join(s.value for s in ImageStatus)
            raise CliError(f"unknown status {status_filter!r}; choose from {valid}") from None
        pages = images.pages_by_status(chosen, start, end, page_size=min(limit, 1000))
    else:
        pages = images.pages_in_range(start, end, page_size=min(limit, 1000))
    records: list[Any] = []
    for page in pages:
        records.extend(page.records)
        if len(records) >= limit:
            break
    return records[:limit]


@app.command()
def delete(
    key: Annotated[str, typer.Argument(help="The image key to remove.")],
    endpoint: EndpointOption = None,
    prefix: PrefixOption = None,
) -> None:
    """Remove an image: its upload, processed and archived objects (all versions), its record.

    Examples:

        qip delete uploads/2026/11/26/0b9c...e1.jpg
    """
    with _one_line_errors():
        client = _connect(endpoint, prefix)
        removed = client.delete_image(key)
        if not removed:
            raise CliError(f"nothing found for {key}")
        for item in removed:
            typer.echo(f"removed {item}")


# -- reprocess and dlq ----------------------------------------------------------------------
@app.command()
def reprocess(
    key: Annotated[str, typer.Argument(help="The FAILED image's key.")],
    endpoint: EndpointOption = None,
    prefix: PrefixOption = None,
    outputs: OutputsOption = None,
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="Wait for the new outcome (default).")
    ] = True,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the new outcome.")] = 300.0,
) -> None:
    """Run a FAILED image through the pipeline again (after a fix).

    Sends its upload event to the processing queue, marked with the dead-letter id of its last
    failure, as a redriven dead letter would arrive; the trigger claims it once. Exit code 1 if
    it fails again.

    Examples:

        qip reprocess uploads/2026/11/26/0b9c...e1.jpg

        qip reprocess uploads/2026/11/26/0b9c...e1.jpg --outputs outputs.json --no-wait
    """
    from qip_local.client import NotReprocessableError
    from qip_local.dlq import queue_name

    with _one_line_errors():
        client = _connect(endpoint, prefix, outputs)
        try:
            before = client.reprocess(key)
        except NotReprocessableError as exc:
            raise CliError(str(exc)) from None
        typer.echo(f"sent {key} back to {queue_name(client.resources.queue_url)}")
        if not wait:
            return
        after = client.wait_for_change(before, timeout=timeout)
        status_value = after.status.value if after is not None else "UNKNOWN"
        typer.echo(f"{key}: {status_value}")
    if status_value not in ("COMPLETED", "REJECTED"):
        raise typer.Exit(EXIT_FAILED)


@dlq_app.command("list")
def dlq_list(
    endpoint: EndpointOption = None,
    prefix: PrefixOption = None,
    json_output: JsonOption = False,
    outputs: OutputsOption = None,
) -> None:
    """List the messages in the dead-letter queue (they stay there).

    On a terminal it prints a table; piped, one `messageId imageKey receives` line per message,
    which `qip dlq redrive` reads.

    Examples:

        qip dlq list

        qip dlq list --json

        qip dlq list | grep 2026/11/26 | qip dlq redrive
    """
    from qip_local.dlq import dlq_rows, queue_name

    with _one_line_errors():
        client = _connect(endpoint, prefix, outputs)
        rows = dlq_rows(client.dlq_messages())
        if json_output:
            typer.echo(json.dumps(rows, indent=2))
            return
        if not sys.stdout.isatty():
            for row in rows:
                typer.echo(f"{row['messageId']}\t{row['imageKey']}\t{row['receiveCount']}")
            return
        table = Table(title=f"{len(rows)} message(s) in {queue_name(client.resources.dlq_url)}")
        for column in ("messageId", "imageKey", "receives"):
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(row["messageId"], row["imageKey"], str(row["receiveCount"]))
        Console(highlight=False).print(table)


@dlq_app.command("redrive")
def dlq_redrive(
    endpoint: EndpointOption = None,
    prefix: PrefixOption = None,
    outputs: OutputsOption = None,
) -> None:
    """Move dead-lettered messages back to the processing queue unchanged (after a fix).

    Reads message ids from stdin when piped (the lines `qip dlq list` prints, or its --json),
    else moves every message. A dead letter of a failed stage reprocesses its image once, as
    SQS's own redrive of the same message does.

    Examples:

        qip dlq redrive

        qip dlq list | head -3 | qip dlq redrive
    """
    from qip_local.dlq import piped_message_ids, queue_name

    with _one_line_errors():
        client = _connect(endpoint, prefix, outputs)
        wanted = piped_message_ids(sys.stdin)
        if wanted is not None and not wanted:
            raise CliError("no message ids on stdin (pipe `qip dlq list` into it, or run alone)")
        moved = client.dlq_redrive(wanted)
        typer.echo(f"moved {moved} message(s) back to {queue_name(client.resources.queue_url)}")
        if wanted is not None and moved < len(set(wanted)):
            err.print(f"{len(set(wanted)) - moved} of the given ids were not in the queue")


# -- recipe and backfill -------------------------------------------------------------------
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
) -> None:
    """Show the recipe a running `qip serve` renders.

    Examples:

        qip recipe show

        qip recipe show --json > recipe.json
    """
    from qip_shared.recipe_store import read_recipe

    with _one_line_errors():
        client = _connect(endpoint, prefix)
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
) -> None:
    """Make a running `qip serve` render another recipe (new uploads; `qip backfill` for the
    images it already has). Warm functions pick it up within a minute.

    Examples:

        qip recipe set recipes/all-formats.json && qip backfill
    """
    from qip_shared.recipe_store import read_recipe, write_recipe

    with _one_line_errors():
        chosen = _read_recipe(file)
        client = _connect(endpoint, prefix)
        ssm, parameter = client.client("ssm"), client.resources.recipe_parameter
        previous = read_recipe(ssm, parameter)
        write_recipe(ssm, parameter, chosen)
        typer.echo(f"recipe {chosen.version} set (was {previous.version}); run `qip backfill`")


@app.command()
def backfill(
    endpoint: EndpointOption = None,
    prefix: PrefixOption = None,
    json_output: Annotated[
        bool, typer.Option("--json", help='Print only {"examined", "rerendered", "failed"}.')
    ] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for all re-renders.")] = 600.0,
) -> None:
    """Re-render the COMPLETED images whose variants another recipe version rendered.

    Finds them through the status index (no Scan), runs each through the same stages once
    (idempotent: run it again and nothing is re-rendered; resumable after an interruption).
    Exit code 1 if any image failed to re-render.

    Examples:

        qip recipe set recipes/all-formats.json && qip backfill

        qip backfill --json
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from qip_local.backfill import Backfill

    with _one_line_errors():
        client = _connect(endpoint, prefix)
        resources = client.resources
        job = Backfill(
            dynamodb=client.client("dynamodb"),
            stepfunctions=client.client("stepfunctions"),
            ssm=client.client("ssm"),
            table=resources.table,
            upload_bucket=resources.upload_bucket,
            state_machine_arn=resources.state_machine_arn,
            recipe_parameter=resources.recipe_parameter,
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


# -- synth ---------------------------------------------------------------------------------
@app.command()
def synth(
    stages: Annotated[
        str | None, typer.Option(help="Comma-separated stages (default: all five).")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the template here.")
    ] = None,
) -> None:
    """Print the CloudFormation template of the stack (CDK synth, no AWS account needed).

    Examples:

        qip synth > template.json

        qip synth --stages validation,thumbnail -o thumbs-only.json
    """
    with _one_line_errors():
        stage_list = _parse_stages(stages)
        started = time.perf_counter()
        template = _synth_template(stage_list)
        text = json.dumps(template, indent=1, sort_keys=True) + "\n"
        if output is None:
            sys.stdout.write(text)
        else:
            output.write_text(text)
            err.print(f"wrote {output} in {time.perf_counter() - started:.1f}s")


def _synth_template(stage_list: tuple[StageName, ...]) -> dict[str, Any]:
    """Synthesize the platform's CDK app for a stage selection; the stack's template."""
    import tempfile

    # jsii's banner about the Node version would break the "one clear line" promise.
    os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
    try:
        from qip_platform.app import build_app
        from qip_platform.layers import LayerBuildError
    except ImportError:
        raise CliError(
            "qip synth needs the CDK app (package qip-platform, ~430 MB with aws-cdk-lib): "
            "install it with `uv sync --all-packages`, then run this again"
        ) from None
    with tempfile.TemporaryDirectory(prefix="qip-synth-") as outdir:
        try:
            app, stack = build_app({"stages": ",".join(s.value for s in stage_list)}, outdir=outdir)
            assembly = app.synth()
        except LayerBuildError as exc:
            raise CliError(f"could not build the Lambda layers: {exc}") from None
        template: dict[str, Any] = assembly.get_stack_by_name(stack.stack_name).template
    return template


if __name__ == "__main__":  # pragma: no cover
    app()
