"""Sweeper's pure core: which PROCESSING records their execution can no longer finish, and why.

An execution that stops at its own timeout, at the Express 5-minute cap, or on an uncatchable
`States.Runtime` never runs HandleError: its record stays PROCESSING and nobody is told. The
sweeper finds such records through the status index (records claimed longer ago than the
execution's timeout plus a grace period), asks Step Functions about their execution, and ends
each one FAILED with a reason, once: the write is conditional on the status and the claim.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from qip_shared.enums import EventDetailType, ImageStatus, NotificationType, StageName
from qip_shared.events import Notification, ProcessingEvent, ProcessingEventDetail
from qip_shared.record import (
    STATUS_INDEX_NAME,
    STATUS_INDEX_PARTITION_KEY,
    STATUS_INDEX_SORT_KEY,
    ImageRecord,
)
from qip_shared.requests import status_update_request
from qip_shared.timeutil import format_timestamp, parse_timestamp
from qip_shared.transitions import Condition

# Execution statuses after which the execution may still finish the record itself.
STILL_RUNNING = frozenset({"RUNNING", "PENDING_REDRIVE"})
PAGE_SIZE = 100


class SweepReason(StrEnum):
    """Why a record was ended FAILED by the sweeper (its `errorType`)."""

    TIMED_OUT = "TIMED_OUT"  # the execution timed out (or, Express, is past its cap)
    ABORTED = "ABORTED"  # the execution was stopped
    EXECUTION_FAILED = "EXECUTION_FAILED"  # it failed without recording it (States.Runtime)
    UNFINISHED = "UNFINISHED"  # it succeeded yet left the record PROCESSING
    NOT_STARTED = "NOT_STARTED"  # no execution was recorded and none can be found


_BY_EXECUTION_STATUS = {
    "TIMED_OUT": SweepReason.TIMED_OUT,
    "ABORTED": SweepReason.ABORTED,
    "FAILED": SweepReason.EXECUTION_FAILED,
    "SUCCEEDED": SweepReason.UNFINISHED,
}


def cutoff(now: datetime, sweep_after: timedelta) -> str:
    """The newest claim time a record may have and still be swept."""
    return format_timestamp(now - sweep_after)


def stuck_query(table_name: str, newest_upload: str, start_key: Any = None) -> dict[str, Any]:
    """`query` of the status index: PROCESSING records uploaded no later than `newest_upload`.

    A claim is never older than its upload, so this bounds the candidates without a Scan.
    """
    request: dict[str, Any] = {
        "TableName": table_name,
        "IndexName": STATUS_INDEX_NAME,
        "KeyConditionExpression": "#status = :processing AND #uploaded <= :newest",
        "ExpressionAttributeNames": {
            "#status": STATUS_INDEX_PARTITION_KEY,
            "#uploaded": STATUS_INDEX_SORT_KEY,
        },
        "ExpressionAttributeValues": {
            ":processing": {"S": ImageStatus.PROCESSING.value},
            ":newest": {"S": newest_upload},
        },
        "Limit": PAGE_SIZE,
    }
    if start_key:
        request["ExclusiveStartKey"] = start_key
    return request


def claimed_at(record: ImageRecord) -> str:
    """When the pipeline was last claimed for this record (its upload time if never)."""
    return record.claimed_at or record.upload_timestamp


def verdict(
    record: ImageRecord, execution_status: str | None, now: datetime, sweep_after: timedelta
) -> SweepReason | None:
    """Why the record must end FAILED now, or None when it must be left alone.

    `execution_status` is what DescribeExecution answered, None when it cannot tell (an Express
    execution, or none by that name).
    """
    if record.status is not ImageStatus.PROCESSING:
        return None
    if parse_timestamp(claimed_at(record)) > now - sweep_after:
        return None  # its execution may still be inside its timeout
    if execution_status in STILL_RUNNING:
        return None  # a Standard execution still working: it will finish the record itself
    if execution_status in _BY_EXECUTION_STATUS:
        return _BY_EXECUTION_STATUS[execution_status]
    started = record.execution_arn or record.stages.model_dump(exclude_none=True)
    return SweepReason.TIMED_OUT if started else SweepReason.NOT_STARTED


def hung_stage(record: ImageRecord) -> StageName | None:
    """The stage that was running when the execution stopped (IN_PROGRESS), if any."""
    for stage in StageName:
        info = record.stages.get(stage)
        if info is not None and info.status.value == "IN_PROGRESS":
            return stage
    return None


def failure_message(record: ImageRecord, reason: SweepReason, sweep_after: timedelta) -> str:
    """The record's errorMessage: what the sweeper found, in one sentence."""
    stage = hung_stage(record)
    during = f" during {stage.value}" if stage else ""
    seconds = int(sweep_after.total_seconds())
    found = {
        SweepReason.TIMED_OUT: f"the execution stopped{during} without finishing the record",
        SweepReason.ABORTED: f"the execution was aborted{during}",
        SweepReason.EXECUTION_FAILED: f"the execution failed{during} without recording why",
        SweepReason.UNFINISHED: "the execution succeeded but left the record PROCESSING",
        SweepReason.NOT_STARTED: "no execution was started for this record",
    }[reason]
    return f"{reason.value}: {found}; still PROCESSING {seconds} s after its claim"


def sweep_request(
    table_name: str, record: ImageRecord, reason: SweepReason, message: str, now: str
) -> dict[str, Any]:
    """PROCESSING → FAILED, only if the record is still PROCESSING under the claim we saw."""
    fields: dict[str, Any] = {"errorType": reason.value, "errorMessage": message}
    stage = hung_stage(record)
    if stage is not None:
        fields["failedStage"] = stage.value
    if record.claimed_at:
        same_claim = Condition(
            "#sclaim = :sseen", {"#sclaim": "claimedAt"}, {":sseen": {"S": record.claimed_at}}
        )
    else:
        same_claim = Condition("attribute_not_exists(#sclaim)", {"#sclaim": "claimedAt"})
    return status_update_request(
        table_name,
        record.image_key,
        ImageStatus.FAILED,
        updated_at=now,
        fields=fields,
        extra_condition=same_claim,
    )


def failure_announcements(
    record: ImageRecord, message: str, now: str, bucket: str
) -> tuple[ProcessingEvent, Notification]:
    """The ProcessingFailed event and PROCESSING_FAILED notification the pipeline would send."""
    stage = hung_stage(record)
    event = ProcessingEvent(
        detail_type=EventDetailType.PROCESSING_FAILED,
        detail=ProcessingEventDetail(
            image_key=record.image_key,
            bucket=record.bucket or bucket,
            timestamp=now,
            status=ImageStatus.FAILED.value,
            stage=stage,
            execution_arn=record.execution_arn,
            error_message=message,
        ),
    )
    notification = Notification(
        event_type=NotificationType.PROCESSING_FAILED,
        image_key=record.image_key,
        timestamp=now,
        stage=stage,
        status=ImageStatus.FAILED.value,
        error_message=message,
    )
    return event, notification
