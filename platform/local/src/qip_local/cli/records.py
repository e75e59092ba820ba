"""`qip status`, `qip query` and `qip delete`: one image's record, a listing, a removal."""

# Imports are lazy on purpose: `qip process` must never load CDK, and `--help` stays fast.
# Typer commands take their options as parameters.
# ruff: noqa: PLC0415, PLR0917

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from qip_local.cli.common import (
    STAGE_ORDER,
    CliError,
    EndpointOption,
    JsonOption,
    OutputsOption,
    PrefixOption,
    app,
    connect,
    one_line_errors,
    status_text,
)
from qip_shared.enums import ImageStatus


def _record_table(record: Any, execution_status: str | None) -> Table:
    table = Table(title=record.image_key, show_header=False)
    table.add_column("field")
    table.add_column("value", overflow="fold")
    table.add_row("status", status_text(record.status.value))
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
    with one_line_errors():
        client = connect(endpoint, prefix, outputs)
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
    with one_line_errors():
        client = connect(endpoint, prefix, outputs)
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
                status_text(record.status.value),
                record.upload_timestamp,
                detail or "",
            )
        Console(highlight=False).print(table)


def _moment(text: str | None, option: str) -> Any:
    """`2026-11-01` (a whole UTC day) or an ISO timestamp (UTC when no offset is given)."""
    from qip_shared.timeutil import parse_range_bound

    if text is None:
        return None
    try:
        return parse_range_bound(text)
    except ValueError:
        raise CliError(f"{option} {text!r} is not an ISO date or timestamp") from None


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
    with one_line_errors():
        client = connect(endpoint, prefix)
        removed = client.delete_image(key)
        if not removed:
            raise CliError(f"nothing found for {key}")
        for item in removed:
            typer.echo(f"removed {item}")
