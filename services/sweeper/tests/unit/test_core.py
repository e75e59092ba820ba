"""The sweeper's decisions: which records to end FAILED, why, and the guarded write."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from qip_shared.enums import ImageStatus, StageName, StageStatus
from qip_shared.record import STATUS_INDEX_NAME, ImageRecord, StageInfo, Stages
from qip_shared.timeutil import format_timestamp
from qip_sweeper.core import (
    SweepReason,
    failure_announcements,
    failure_message,
    hung_stage,
    stuck_query,
    sweep_request,
    verdict,
)

NOW = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
CAP = timedelta(seconds=330)
ARN = "arn:aws:states:us-east-1:123456789012:express:qip-pipeline:run:1"


def _record(age_seconds: float, **fields: object) -> ImageRecord:
    claimed = format_timestamp(NOW - timedelta(seconds=age_seconds))
    values: dict[str, object] = {
        "image_key": "uploads/2026/12/06/a.png",
        "upload_timestamp": claimed,
        "claimed_at": claimed,
        "size": 10,
        "content_type": "image/png",
        "status": ImageStatus.PROCESSING,
        "execution_arn": ARN,
        **fields,
    }
    return ImageRecord.model_validate(values)


def _in_progress(stage: StageName) -> Stages:
    info = StageInfo(status=StageStatus.IN_PROGRESS, timestamp=format_timestamp(NOW))
    return Stages.model_validate({stage.value: info})


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (None, SweepReason.TIMED_OUT),  # Express: DescribeExecution cannot tell
        ("TIMED_OUT", SweepReason.TIMED_OUT),
        ("ABORTED", SweepReason.ABORTED),
        ("FAILED", SweepReason.EXECUTION_FAILED),
        ("SUCCEEDED", SweepReason.UNFINISHED),
        ("RUNNING", None),  # a Standard execution still at work finishes the record itself
        ("PENDING_REDRIVE", None),
    ],
)
def test_an_old_claim_is_swept_by_what_its_execution_says(
    status: str | None, expected: SweepReason | None
) -> None:
    assert verdict(_record(331), status, NOW, CAP) is expected


def test_a_claim_inside_the_cap_is_left_alone_whatever_the_execution_says() -> None:
    for status in (None, "FAILED", "TIMED_OUT"):
        assert verdict(_record(329), status, NOW, CAP) is None


def test_a_terminal_record_is_never_swept() -> None:
    for final in (ImageStatus.COMPLETED, ImageStatus.FAILED, ImageStatus.REJECTED):
        assert verdict(_record(3600, status=final), None, NOW, CAP) is None


def test_no_execution_and_no_stage_means_not_started() -> None:
    record = _record(3600, execution_arn=None)
    assert verdict(record, None, NOW, CAP) is SweepReason.NOT_STARTED
    hung = _record(3600, execution_arn=None, stages=_in_progress(StageName.RESIZE))
    assert verdict(hung, None, NOW, CAP) is SweepReason.TIMED_OUT


def test_the_query_reads_the_status_index_never_a_scan() -> None:
    request = stuck_query("qip-images", "2026-12-06T02:54:30.000Z", {"imageKey": {"S": "k"}})
    assert request["IndexName"] == STATUS_INDEX_NAME
    assert request["ExpressionAttributeValues"][":processing"] == {"S": "PROCESSING"}
    assert request["ExpressionAttributeValues"][":newest"] == {"S": "2026-12-06T02:54:30.000Z"}
    assert "<=" in request["KeyConditionExpression"]
    assert request["ExclusiveStartKey"] == {"imageKey": {"S": "k"}}
    assert "FilterExpression" not in request


def test_the_write_is_guarded_by_status_and_the_claim_seen() -> None:
    record = _record(400, stages=_in_progress(StageName.THUMBNAIL))
    message = failure_message(record, SweepReason.TIMED_OUT, CAP)
    request = sweep_request("qip-images", record, SweepReason.TIMED_OUT, message, "now")
    condition = request["ConditionExpression"]
    values = request["ExpressionAttributeValues"]
    assert ":sseen" in condition
    assert values[":sseen"] == {"S": record.claimed_at}
    assert {"S": "PROCESSING"} in values.values()
    assert {"S": "FAILED"} in values.values()
    assert {"S": "TIMED_OUT"} in values.values()
    assert {"S": "thumbnail"} in values.values()  # failedStage: the stage that hung
    unclaimed = _record(400, claimed_at=None)
    request = sweep_request("qip-images", unclaimed, SweepReason.NOT_STARTED, "m", "now")
    assert "attribute_not_exists(#sclaim)" in request["ConditionExpression"]


def test_message_and_announcements_name_the_hung_stage() -> None:
    record = _record(400, stages=_in_progress(StageName.RESIZE))
    assert hung_stage(record) is StageName.RESIZE
    message = failure_message(record, SweepReason.TIMED_OUT, CAP)
    assert message.startswith("TIMED_OUT: ")
    assert "during resize" in message
    event, notification = failure_announcements(record, message, "now", "qip-uploads")
    assert event.detail_type.value == "ProcessingFailed"
    assert event.detail.stage is StageName.RESIZE
    assert event.detail.bucket == "qip-uploads"
    assert notification.event_type.value == "PROCESSING_FAILED"
    assert notification.error_message == message
