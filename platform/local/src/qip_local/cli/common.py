"""The `qip` app, its command groups and what every command shares: errors, connection, options."""

# Imports are lazy on purpose: `qip process` must never load CDK, and `--help` stays fast.
# Typer commands take their options as parameters.
# ruff: noqa: PLC0415

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Annotated, Any

import typer
from rich.console import Console

from qip_shared.enums import StageName
from qip_shared.limits import LIMITS, RetryBudget, Workflow

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
    help="Show or change the recipe (the variants resize and thumbnail render) of `qip serve`, "
    "or --outputs.",
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


def fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    return typer.Exit(EXIT_ERROR)


@contextlib.contextmanager
def one_line_errors() -> Iterator[None]:
    """Turn expected failures into one line on stderr and exit code 2."""
    try:
        yield
    except (typer.Exit, typer.Abort):
        raise
    except CliError as exc:
        raise fail(str(exc)) from None
    except FileNotFoundError as exc:
        raise fail(str(exc.args[0] if exc.args else exc)) from None
    except KeyboardInterrupt:
        raise fail("interrupted") from None
    except Exception as exc:
        raise fail(f"{type(exc).__name__}: {exc}") from None


def status_text(status: str) -> str:
    style = STATUS_STYLE.get(status, "white")
    return f"[{style}]{status}[/]"


# -- connection to a running `qip serve`, or to a deployed stack ---------------------------
def connect(
    endpoint: str | None,
    prefix: str | None,
    outputs: Path | None = None,
    *,
    needs: Sequence[str] = (),
) -> Any:
    """A client of a deployed stack (--outputs, which must hold the outputs in `needs` too),
    else of a running server (--endpoint, $QIP_ENDPOINT, or the state file)."""
    if outputs is not None:
        from qip_local.deployed import OutputsFileError, deployed_client

        try:
            return deployed_client(outputs, needs=needs)
        except OutputsFileError as exc:
            raise CliError(str(exc)) from None
    import boto3
    import botocore.exceptions

    from qip_local.client import LocalClient
    from qip_local.launcher import FAKE_CREDENTIALS
    from qip_local.provision import discover
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


def _retried(budget: RetryBudget) -> str:
    """`once after 2 s`, `3 times after 2, 4, 8 s`: a retrier's waits in words."""
    waits = ", ".join(f"{wait:g}" for wait in budget.waits())
    times = "once" if budget.max_attempts == 1 else f"{budget.max_attempts} times"
    return f"{times} after {waits} s"


# The local system runs the Express definition: its budgets are the designed waits.
_LOCAL_LIMITS = LIMITS[Workflow.EXPRESS]
RetryScaleOption = Annotated[
    float,
    typer.Option(
        "--retry-scale",
        help="Scale of the Step Functions retry waits (1 = as designed: a stage's AWS errors are "
        f"retried {_retried(_LOCAL_LIMITS.service_retry)}, other failures "
        f"{_retried(_LOCAL_LIMITS.task_retry)}).",
    ),
]
RecipeOption = Annotated[
    Path | None,
    typer.Option(
        "--recipe",
        help="A recipe JSON file: the variants to render (default: the design's two JPEGs).",
    ),
]


def read_recipe_file(path: Path | None) -> Any:
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


@contextlib.contextmanager
def runtime_output_to(log: IO[str]) -> Iterator[None]:
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


def parse_stage_list(stages: str | None) -> tuple[StageName, ...]:
    from qip_pipeline.definition import ALL_STAGES, StageSelectionError, parse_stages

    if not stages:
        return ALL_STAGES
    try:
        return parse_stages(stages.split(","))
    except StageSelectionError as exc:
        raise CliError(str(exc)) from None
