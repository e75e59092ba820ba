"""`qip serve`: keep the embedded AWS, the pipeline and the dashboard running."""

# Imports are lazy on purpose: `qip process` must never load CDK, and `--help` stays fast.
# Typer commands take their options as parameters.
# ruff: noqa: PLC0415, PLR0917

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from qip_local.cli.common import (
    RecipeOption,
    RetryScaleOption,
    app,
    one_line_errors,
    parse_stage_list,
    read_recipe_file,
    runtime_output_to,
)
from qip_local.state import clear_state
from qip_shared.record import STATUS_INDEX_NAME


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
    POLL_SECONDS = 0.05
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
    retry_scale: RetryScaleOption = 1.0,
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
    with one_line_errors():
        stage_list = parse_stage_list(stages)
        config = LocalConfig(prefix=prefix, stages=stage_list, retry_scale=retry_scale)
        chosen_recipe = read_recipe_file(recipe)
        if chosen_recipe is not None:
            config.recipe = chosen_recipe
        console = Console(file=sys.stdout, highlight=False)
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with log_file.open("a") as log, runtime_output_to(log):
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
