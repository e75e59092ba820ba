"""The sweeper on moto: stuck records end FAILED once, announced; others are left alone."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from qip_shared.enums import ImageStatus
from qip_shared.record import ImageRecord
from qip_shared.testing.moto import MotoAccount, processing_durations
from qip_shared.timeutil import format_timestamp
from qip_sweeper import handler as sweeper_handler
from qip_sweeper.adapters import SweepSettings

EVENTS = Path(__file__).resolve().parents[2] / "events"
NOW = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
CAP = timedelta(seconds=330)
GONE = "arn:aws:states:us-east-1:123456789012:express:qip-pipeline:gone:0"


def _put(aws: MotoAccount, key: str, age: float, status: ImageStatus, **fields: Any) -> None:
    at = format_timestamp(NOW - timedelta(seconds=age))
    aws.put_item(
        ImageRecord.model_validate(
            {
                "image_key": key,
                "upload_timestamp": at,
                "claimed_at": at,
                "size": 1,
                "content_type": "image/png",
                "status": status,
                "bucket": aws.bucket,
                **fields,
            }
        )
    )


def _use_clock(aws: MotoAccount) -> None:
    aws.adapters.clock = lambda: NOW
    aws.adapters.sweep = SweepSettings(sweep_after=CAP)


def test_a_stuck_record_ends_failed_once_with_reason_notification_and_event(
    aws: MotoAccount, invoke: Any, lambda_logs: Any
) -> None:
    _use_clock(aws)
    _put(aws, "uploads/stuck.png", 600, ImageStatus.PROCESSING, execution_arn=GONE)
    _put(aws, "uploads/young.png", 60, ImageStatus.PROCESSING, execution_arn=GONE)
    _put(aws, "uploads/done.png", 600, ImageStatus.COMPLETED, execution_arn=GONE)
    scheduled = json.loads((EVENTS / "scheduled.json").read_text())
    lambda_logs()

    assert invoke(scheduled) == {"checked": 1, "swept": 1}

    stuck = aws.record("uploads/stuck.png")
    assert stuck is not None
    assert stuck.status is ImageStatus.FAILED
    assert stuck.error_type == "TIMED_OUT"
    assert stuck.error_message
    assert stuck.error_message.startswith("TIMED_OUT: ")
    young, done = aws.record("uploads/young.png"), aws.record("uploads/done.png")
    assert young is not None
    assert young.status is ImageStatus.PROCESSING
    assert done is not None
    assert done.status is ImageStatus.COMPLETED
    [note] = aws.notifications()
    assert (note["eventType"], note["imageKey"]) == ("PROCESSING_FAILED", "uploads/stuck.png")
    [event] = aws.bus_events()
    assert event["detail-type"] == "ProcessingFailed"
    assert event["detail"]["imageKey"] == "uploads/stuck.png"
    # Counted once, where FAILED is written, and timed from the upload.
    lines = lambda_logs()
    [emf] = [line for line in lines if "RecordsSwept" in line]
    names = {m["Name"] for m in emf["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert {"PipelineFailures", "RecordsSwept"} <= names
    assert processing_durations(lines) == [("FAILED", 600_000.0, ["service", "status"])]

    # A second run finds nothing to do: the image is not failed or announced twice.
    assert invoke(scheduled) == {"checked": 0, "swept": 0}
    assert aws.notifications() == []
    assert aws.bus_events() == []


def test_a_record_that_moved_on_meanwhile_is_not_swept(aws: MotoAccount) -> None:
    _use_clock(aws)
    _put(aws, "uploads/raced.png", 600, ImageStatus.PROCESSING, execution_arn=GONE)
    [seen] = list(aws.adapters.stuck_records(format_timestamp(NOW - CAP)))
    # A reprocess claimed it again after the sweeper read it: the guarded write refuses.
    _put(aws, "uploads/raced.png", 5, ImageStatus.PROCESSING, execution_arn=GONE)
    assert sweeper_handler.sweep(seen, aws.adapters) is False
    record = aws.record("uploads/raced.png")
    assert record is not None
    assert record.status is ImageStatus.PROCESSING
    assert aws.notifications() == []


def test_a_running_standard_execution_is_left_to_finish(aws: MotoAccount) -> None:
    _use_clock(aws)
    sfn = aws.adapters.stepfunctions
    role = "arn:aws:iam::123456789012:role/sfn"
    machine = sfn.create_state_machine(
        name="qip-standard",
        roleArn=role,
        definition=json.dumps({"StartAt": "W", "States": {"W": {"Type": "Pass", "End": True}}}),
    )["stateMachineArn"]
    running = sfn.start_execution(stateMachineArn=machine, name="running")["executionArn"]
    _put(aws, "uploads/slow.png", 600, ImageStatus.PROCESSING, execution_arn=running)
    [seen] = list(aws.adapters.stuck_records(format_timestamp(NOW - CAP)))
    # moto (without its interpreter switched on) keeps an execution RUNNING, as a long one is.
    assert aws.adapters.execution_status(running) == "RUNNING"
    assert sweeper_handler.sweep(seen, aws.adapters) is False
    record = aws.record("uploads/slow.png")
    assert record is not None
    assert record.status is ImageStatus.PROCESSING
    assert aws.adapters.execution_status(GONE) is None
