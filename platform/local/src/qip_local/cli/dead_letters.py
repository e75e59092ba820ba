"""`qip reprocess` and `qip dlq list|redrive`: run failed images again."""

# Imports are lazy on purpose: `qip process` must never load CDK, and `--help` stays fast.
# Typer commands take their options as parameters.
# ruff: noqa: PLC0415, PLR0917

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from qip_local.cli.common import (
    EXIT_FAILED,
    CliError,
    EndpointOption,
    JsonOption,
    OutputsOption,
    PrefixOption,
    app,
    connect,
    dlq_app,
    err,
    one_line_errors,
)


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

    with one_line_errors():
        client = connect(endpoint, prefix, outputs)
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

    with one_line_errors():
        client = connect(endpoint, prefix, outputs)
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

    with one_line_errors():
        client = connect(endpoint, prefix, outputs)
        wanted = piped_message_ids(sys.stdin)
        if wanted is not None and not wanted:
            raise CliError("no message ids on stdin (pipe `qip dlq list` into it, or run alone)")
        moved = client.dlq_redrive(wanted)
        typer.echo(f"moved {moved} message(s) back to {queue_name(client.resources.queue_url)}")
        if wanted is not None and moved < len(set(wanted)):
            err.print(f"{len(set(wanted)) - moved} of the given ids were not in the queue")
