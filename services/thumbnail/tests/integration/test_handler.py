"""The thumbnail handler on moto: object written, record updated, event and notification sent."""

from __future__ import annotations

import io
import json
import logging
from types import SimpleNamespace
from typing import Any

import pytest
from PIL import Image

from qip_shared.enums import ImageStatus, StageName, StageStatus
from qip_shared.errors import PermanentError
from qip_shared.keys import processed_prefix, thumbnail_key
from qip_shared.pipeline import ThumbnailOutput
from qip_shared.timeutil import parse_timestamp
from qip_thumbnail import handler as thumbnail_handler
from qip_thumbnail.errors import RecordNotFoundError, UndecodableImageError


@pytest.fixture
def upload(account: Any, sample_state: dict[str, Any], images: Any) -> dict[str, Any]:
    """A 1600x1200 (displayed) JPEG stored with orientation 6, its record PROCESSING."""
    key = sample_state["imageKey"]
    data = images.oriented(images.quadrant_image((1600, 1200)), 6, quality=90)
    account.put_upload(key, data)
    account.seed_record(key)
    return sample_state


def test_writes_the_thumbnail_and_records_completion(
    account: Any, upload: dict[str, Any], invoke: Any, images: Any
) -> None:
    key = upload["imageKey"]

    answer = invoke(upload)

    output = ThumbnailOutput.model_validate(answer)
    assert output.image_key == key
    assert output.thumbnail_key == thumbnail_key(key)
    assert (output.width, output.height) == (200, 200)
    assert set(answer) == {"imageKey", "thumbnailKey", "width", "height", "bytes"}
    # The JPEG: written under the thumbnail key, typed, upright, clean.
    stored = account.get_object(output.thumbnail_key)
    assert stored["ContentType"] == "image/jpeg"
    assert output.bytes == len(stored["data"])
    image = images.assert_clean_jpeg(stored["data"])
    assert image.size == (200, 200)
    assert all(map(images.close, images.quadrant_colours(image), images.QUADRANTS))
    # The record: stage COMPLETED with its timing, the thumbnail key, status untouched.
    record = account.record(key)
    assert record.status is ImageStatus.PROCESSING
    assert record.thumbnail_key == output.thumbnail_key
    stage = record.stages.get(StageName.THUMBNAIL)
    assert stage.status is StageStatus.COMPLETED
    assert stage.duration_ms is not None
    assert stage.duration_ms >= 0
    assert stage.started_at <= stage.completed_at
    elapsed = parse_timestamp(stage.completed_at) - parse_timestamp(stage.started_at)
    assert abs(elapsed.total_seconds() * 1000 - stage.duration_ms) <= 1
    # Requirement 4: StageCompleted on the bus, STAGE_COMPLETED on SNS.
    [notification] = account.notifications()
    assert notification["eventType"] == "STAGE_COMPLETED"
    assert notification["stage"] == "thumbnail"
    assert notification["imageKey"] == key
    assert notification["processingDuration"] == stage.duration_ms
    [event] = account.bus_events()
    assert event["source"] == "image-processor"
    assert event["detail-type"] == "StageCompleted"
    assert event["detail"]["stage"] == "thumbnail"
    assert event["detail"]["imageKey"] == key
    assert event["detail"]["metadata"]["thumbnailKey"] == output.thumbnail_key


def test_rerun_overwrites_the_same_key_and_does_not_reopen_the_stage(
    account: Any, upload: dict[str, Any], invoke: Any
) -> None:
    key = upload["imageKey"]
    first = invoke(upload)
    recorded = account.record(key).stages.get(StageName.THUMBNAIL)
    account.s3.put_object(Bucket=account.bucket, Key=first["thumbnailKey"], Body=b"stale")

    second = invoke(upload)

    assert second == first
    assert account.get_object(first["thumbnailKey"])["data"] != b"stale"
    listed = account.s3.list_objects_v2(Bucket=account.bucket, Prefix=processed_prefix(key))
    assert [o["Key"] for o in listed["Contents"]] == [first["thumbnailKey"]]
    assert account.record(key).stages.get(StageName.THUMBNAIL) == recorded


def test_finished_record_is_left_alone(account: Any, upload: dict[str, Any], invoke: Any) -> None:
    key = upload["imageKey"]
    account.seed_record(key, ImageStatus.FAILED)

    answer = invoke(upload)

    assert answer["thumbnailKey"] == thumbnail_key(key)
    record = account.record(key)
    assert record.status is ImageStatus.FAILED
    assert record.stages.get(StageName.THUMBNAIL) is None


def test_undecodable_upload_fails_permanently_and_records_it(
    account: Any, sample_state: dict[str, Any], invoke: Any
) -> None:
    key = sample_state["imageKey"]
    account.put_upload(key, b"\xff\xd8\xff\xe0 this is not really a JPEG")
    account.seed_record(key)

    with pytest.raises(PermanentError) as caught:
        invoke(sample_state)

    # The state machine matches class names: the subclass leaves as a plain PermanentError.
    assert type(caught.value) is PermanentError
    assert caught.value.code == "UNDECODABLE_IMAGE"
    assert isinstance(caught.value.__cause__, UndecodableImageError)
    stage = account.record(key).stages.get(StageName.THUMBNAIL)
    assert stage.status is StageStatus.FAILED
    assert "UNDECODABLE_IMAGE" in stage.error_message
    listed = account.s3.list_objects_v2(Bucket=account.bucket, Prefix=processed_prefix(key))
    assert "Contents" not in listed
    assert account.notifications() == []


def test_missing_upload_is_a_permanent_error(
    account: Any, sample_state: dict[str, Any], invoke: Any
) -> None:
    account.seed_record(sample_state["imageKey"])
    with pytest.raises(PermanentError) as caught:
        invoke(sample_state)
    assert type(caught.value) is PermanentError
    assert caught.value.code == "NoSuchKey"
    stage = account.record(sample_state["imageKey"]).stages.get(StageName.THUMBNAIL)
    assert stage.status is StageStatus.FAILED


def test_missing_record_is_a_permanent_error(
    account: Any, sample_state: dict[str, Any], invoke: Any, images: Any
) -> None:
    account.put_upload(sample_state["imageKey"], images.encode(Image.new("RGB", (8, 8)), "PNG"))
    with pytest.raises(PermanentError) as caught:
        invoke(sample_state)
    assert type(caught.value) is PermanentError
    assert caught.value.code == RecordNotFoundError.code


def test_invalid_event_is_a_permanent_error(account: Any, invoke: Any) -> None:
    with pytest.raises(PermanentError) as caught:
        invoke({"bucket": "qip-uploads"})
    assert caught.value.code == "BAD_INPUT"


def test_failure_is_logged_as_structured_json(
    account: Any, sample_state: dict[str, Any], invoke: Any
) -> None:
    account.seed_record(sample_state["imageKey"])
    event = {**sample_state, "executionArn": "arn:aws:states:us-east-1:1:execution:m:e"}
    # The logger's handler kept the stdout of import time: point it at a buffer for the test.
    stream = io.StringIO()
    log_handler = thumbnail_handler.logger.registered_handler
    assert isinstance(log_handler, logging.StreamHandler)
    previous = log_handler.setStream(stream)
    try:
        with pytest.raises(PermanentError):
            invoke(event)
    finally:
        log_handler.setStream(previous)
    logs = [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    [failure] = [entry for entry in logs if entry.get("level") == "ERROR"]
    assert failure["imageKey"] == sample_state["imageKey"]
    assert failure["stage"] == "thumbnail"
    assert failure["errorType"] == "PermanentError"
    assert failure["executionArn"] == event["executionArn"]
    assert "exception" in failure


def test_adapters_are_built_lazily_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, account: Any
) -> None:
    monkeypatch.setenv("QIP_TABLE_NAME", "from-env")
    thumbnail_handler.set_dependencies(None)
    built = thumbnail_handler.dependencies()
    assert built.settings.table_name == "from-env"
    assert thumbnail_handler.dependencies() is built  # once per process


def test_accepts_a_lambda_context(account: Any, upload: dict[str, Any], invoke: Any) -> None:
    context = SimpleNamespace(
        function_name="qip-thumbnail",
        memory_limit_in_mb=1536,
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:qip-thumbnail",
        aws_request_id="req-1",
    )
    assert invoke(upload, context)["thumbnailKey"] == thumbnail_key(upload["imageKey"])


def test_unexpected_failure_is_recorded_and_reraised(
    account: Any, upload: dict[str, Any], invoke: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(data: bytes) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(thumbnail_handler, "make_thumbnail", broken)
    with pytest.raises(RuntimeError):
        invoke(upload)
    stage = account.record(upload["imageKey"]).stages.get(StageName.THUMBNAIL)
    assert stage.status is StageStatus.FAILED
    assert stage.error_message == "a bug"
