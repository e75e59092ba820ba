"""The validate handler on moto: record, notifications, events, output, idempotent re-runs."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from qip_shared.enums import ImageStatus, RejectionReason, StageStatus
from qip_shared.errors import InvalidImageError, PermanentError, RetryableError
from qip_shared.pipeline import PipelineState, ValidateOutput
from qip_shared.testing.moto import processing_durations
from qip_validate import handler as validate_handler
from qip_validate.handler import handler


def test_valid_image_completes_the_stage(
    aws: Any, upload: Any, make_image: Any, sample_state: dict[str, Any]
) -> None:
    data = make_image("JPEG", (320, 200))
    event = upload(data)
    output = handler(event, None)

    assert ValidateOutput.model_validate(output) == ValidateOutput(
        image_key=event["imageKey"],
        bucket=event["bucket"],
        valid=True,
        format="jpeg",
        width=320,
        height=200,
        frames=1,
        content_sha256=hashlib.sha256(data).hexdigest(),
    )
    assert output["imageKey"] == sample_state["imageKey"]  # camelCase on the wire
    record = aws.record(event["imageKey"])
    assert record.status is ImageStatus.PROCESSING  # validate never finishes a record itself
    assert record.content_sha256 == hashlib.sha256(data).hexdigest()
    stage = record.stages.validation
    assert stage is not None
    assert stage.status is StageStatus.COMPLETED
    assert (stage.width, stage.height, stage.format) == (320, 200, "jpeg")
    assert stage.started_at is not None
    assert stage.completed_at is not None
    assert stage.started_at <= stage.completed_at
    assert stage.duration_ms is not None

    (message,) = aws.notifications()
    assert message["eventType"] == "STAGE_COMPLETED"
    assert message["stage"] == "validation"
    assert message["imageKey"] == event["imageKey"]
    assert message["timestamp"] == stage.completed_at
    (bus_event,) = aws.bus_events()
    assert bus_event["source"] == "image-processor"
    assert bus_event["detail-type"] == "StageCompleted"
    assert bus_event["detail"]["stage"] == "validation"
    assert bus_event["detail"]["metadata"] == {
        "format": "jpeg",
        "width": 320,
        "height": 200,
        "frames": 1,
    }


def test_rejection_records_reason_notifies_and_reraises(
    aws: Any, upload: Any, corpus_dir: Path
) -> None:
    event = upload((corpus_dir / "truncated.png").read_bytes(), content_type="image/png")
    with pytest.raises(InvalidImageError) as caught:
        handler(event, None)
    assert type(caught.value).__name__ == "InvalidImageError"  # what the Catch matches on
    assert caught.value.reason is RejectionReason.CORRUPT

    record = aws.record(event["imageKey"])
    assert record.status is ImageStatus.REJECTED
    assert record.rejection_reason is RejectionReason.CORRUPT
    assert record.error_message == caught.value.message
    stage = record.stages.validation
    assert stage is not None
    assert stage.status is StageStatus.FAILED
    assert stage.error_message == caught.value.message

    (message,) = aws.notifications()
    assert message["eventType"] == "PROCESSING_REJECTED"
    assert message["reason"] == "CORRUPT"
    assert message["status"] == "REJECTED"
    assert message["imageKey"] == event["imageKey"]
    (bus_event,) = aws.bus_events()
    assert bus_event["detail-type"] == "ImageRejected"
    assert bus_event["detail"]["reason"] == "CORRUPT"


def test_too_large_is_decided_by_head_object_without_downloading(
    aws: Any, upload: Any, use_settings: Any, make_image: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = make_image("PNG", (64, 64), noise=True)
    adapters = use_settings(max_bytes=len(data) - 1)
    reads: list[Any] = []
    monkeypatch.setattr(adapters, "read_range", lambda *args, **kwargs: reads.append(args))
    event = upload(data, content_type="image/png")
    with pytest.raises(InvalidImageError) as caught:
        handler(event, None)
    assert caught.value.reason is RejectionReason.TOO_LARGE
    assert reads == []
    assert aws.record(event["imageKey"]).rejection_reason is RejectionReason.TOO_LARGE


def test_non_image_is_refused_after_reading_only_its_first_range(
    aws: Any, upload: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    adapters = validate_handler.dependencies()
    ranges: list[tuple[int, int | None]] = []
    original = adapters.read_range

    def spy(bucket: str, key: str, version: Any, start: int, end: int | None = None) -> bytes:
        ranges.append((start, end))
        return original(bucket, key, version, start, end)

    monkeypatch.setattr(adapters, "read_range", spy)
    event = upload(b"%PDF-1.7 " + b"x" * 200_000, content_type="image/jpeg")
    with pytest.raises(InvalidImageError) as caught:
        handler(event, None)
    assert caught.value.reason is RejectionReason.UNSUPPORTED_FORMAT
    assert ranges == [(0, validate_handler.FIRST_READ_BYTES - 1)]


def test_large_image_is_read_in_two_ranges(aws: Any, upload: Any, make_image: Any) -> None:
    data = make_image("PNG", (300, 300), noise=True)
    assert len(data) > validate_handler.FIRST_READ_BYTES
    output = handler(upload(data, content_type="image/png"), None)
    assert (output["width"], output["height"], output["format"]) == (300, 300, "png")


def test_empty_object_is_unsupported(aws: Any, upload: Any) -> None:
    event = upload(b"")
    with pytest.raises(InvalidImageError) as caught:
        handler(event, None)
    assert caught.value.reason is RejectionReason.UNSUPPORTED_FORMAT
    assert aws.record(event["imageKey"]).status is ImageStatus.REJECTED


def test_rerun_on_rejected_record_reraises_without_writing(
    aws: Any, upload: Any, lambda_logs: Any
) -> None:
    event = upload(b"just some text")
    with pytest.raises(InvalidImageError) as first:
        handler(event, None)
    before = aws.raw_item(event["imageKey"])
    aws.notifications()
    aws.bus_events()
    lambda_logs()

    with pytest.raises(InvalidImageError) as second:
        handler(event, None)
    assert second.value.reason is first.value.reason
    assert second.value.message == first.value.message
    assert aws.raw_item(event["imageKey"]) == before
    assert aws.notifications() == []
    assert aws.bus_events() == []
    metrics = [line for line in lambda_logs() if "_aws" in line]
    assert all("ValidationFailures" not in line for line in metrics)
    assert processing_durations(metrics) == []  # timed once, by the run that rejected it


def test_rerun_after_completion_answers_without_writing(
    aws: Any, upload: Any, make_image: Any
) -> None:
    event = upload(make_image("GIF", (40, 30)), content_type="image/gif")
    first = handler(event, None)
    before = aws.raw_item(event["imageKey"])
    aws.notifications()
    assert handler(event, None) == first
    assert aws.raw_item(event["imageKey"]) == before
    assert aws.notifications() == []


def test_finished_record_is_a_permanent_error(aws: Any, upload: Any, make_image: Any) -> None:
    event = upload(make_image("PNG", (8, 8)), status=ImageStatus.COMPLETED)
    with pytest.raises(PermanentError) as caught:
        handler(event, None)
    assert type(caught.value) is PermanentError
    assert aws.notifications() == []


def test_missing_record_is_a_permanent_error(
    aws: Any, sample_state: dict[str, Any], make_image: Any
) -> None:
    aws.put_object(sample_state["imageKey"], make_image("JPEG", (8, 8)))
    with pytest.raises(PermanentError):
        handler(sample_state, None)


def test_malformed_event_is_a_permanent_error(aws: Any) -> None:
    with pytest.raises(PermanentError):
        handler({"bucket": "qip-uploads"}, None)


def test_missing_object_is_a_permanent_error(aws: Any, sample_state: dict[str, Any]) -> None:
    aws.put_record(sample_state, ImageStatus.PROCESSING)
    with pytest.raises(PermanentError) as caught:
        handler(sample_state, None)
    assert type(caught.value) is PermanentError  # not a rejection: HandleError decides
    record = aws.record(sample_state["imageKey"])
    assert record.status is ImageStatus.PROCESSING
    assert record.stages.validation.status is StageStatus.FAILED
    assert record.stages.validation.error_message


def test_throttling_is_retryable(
    aws: Any, upload: Any, make_image: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = upload(make_image("JPEG", (8, 8)))
    adapters = validate_handler.dependencies()

    def throttled(**kwargs: Any) -> Any:
        raise ClientError(
            {
                "Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow"},
                "ResponseMetadata": {"HTTPStatusCode": 400},
            },
            "UpdateItem",
        )

    monkeypatch.setattr(adapters.dynamodb, "update_item", throttled)
    with pytest.raises(RetryableError) as caught:
        handler(event, None)
    assert type(caught.value) is RetryableError  # the name the Retry matches on


def test_publish_failure_does_not_change_the_outcome(
    aws: Any, upload: Any, make_image: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = upload(make_image("JPEG", (8, 8)))
    adapters = validate_handler.dependencies()

    def down(**kwargs: Any) -> Any:
        raise ClientError({"Error": {"Code": "InternalError", "Message": "down"}}, "Publish")

    monkeypatch.setattr(adapters.sns, "publish", down)
    assert handler(event, None)["valid"] is True
    assert aws.record(event["imageKey"]).stages.validation.status is StageStatus.COMPLETED


def test_logs_and_metrics_are_structured(
    aws: Any, upload: Any, rerun_state: dict[str, Any], lambda_logs: Any
) -> None:
    event = upload(b"not an image at all")
    event = {**event, "executionArn": rerun_state["executionArn"], "retryCount": 1}
    lambda_logs()
    with pytest.raises(InvalidImageError):
        handler(event, None)
    lines = lambda_logs()
    (error,) = [line for line in lines if line.get("level") == "ERROR"]
    assert error["imageKey"] == event["imageKey"]  # a key, not formatted into the message
    assert event["imageKey"] not in error["message"]
    assert error["stage"] == "validation"
    assert error["errorType"] == "InvalidImageError"
    assert error["reason"] == "UNSUPPORTED_FORMAT"
    assert error["attempt"] == 2
    assert error["executionArn"] == rerun_state["executionArn"]
    assert error["function_name"] == "qip-validate"
    assert "timestamp" in error
    (emf,) = [line for line in lines if "StageExecutionTime" in line]
    names = {m["Name"] for m in emf["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert {"ValidationFailures", "StageExecutionTime"} <= names
    # The image ends here: timed once as REJECTED, in its own EMF document.
    [(status, elapsed, dimensions)] = processing_durations(lines)
    assert (status, dimensions) == ("REJECTED", ["service", "status"])
    assert elapsed >= 0
    assert emf["stage"] == "validation"
    assert emf["ValidationFailures"] in (1.0, [1.0])  # EMF may list the values
    assert emf["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "QIP"


def test_handler_accepts_a_partial_context(aws: Any, upload: Any, make_image: Any) -> None:
    class Fake:
        function_name = "qip-validate-local"

    assert handler(upload(make_image("PNG", (4, 4))), Fake())["valid"] is True


def test_sample_events_parse(sample_state: dict[str, Any], rerun_state: dict[str, Any]) -> None:
    assert PipelineState.model_validate(sample_state).image_key.startswith("uploads/")
    assert PipelineState.model_validate(rerun_state).image_key == sample_state["imageKey"]
