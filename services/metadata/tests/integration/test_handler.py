"""The metadata handler on moto: record, notification, event, output, GPS setting, re-runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from qip_metadata import handler as metadata_handler
from qip_metadata.handler import handler
from qip_shared.config import ENV_EVENT_BUS_NAME, ENV_STORE_GPS, ENV_TABLE_NAME, ENV_TOPIC_ARN
from qip_shared.enums import ImageStatus, StageStatus
from qip_shared.errors import PermanentError
from qip_shared.pipeline import ImageMetadata, MetadataOutput, PipelineState

ASCII, SHORT, RATIONAL = 2, 3, 5
GPS = [
    (1, ASCII, "N"),
    (2, RATIONAL, [(48, 1), (51, 1), (24, 1)]),
    (3, ASCII, "E"),
    (4, RATIONAL, [(2, 1), (21, 1), (3, 1)]),
]
IFD0 = [(0x010F, ASCII, "FUJIFILM"), (0x0110, ASCII, "X-T5"), (0x0112, SHORT, [6])]
DETAILS = [(0x829A, RATIONAL, [(1, 125)]), (0x8827, SHORT, [200])]


@pytest.fixture
def camera_jpeg(with_exif: Any, exif_block: Any) -> bytes:
    """A 64x48 JPEG, orientation 6, with camera EXIF and a GPS position."""
    data: bytes = with_exif("JPEG", (64, 48), exif_block(IFD0, DETAILS, GPS))
    return data


def test_metadata_is_recorded_and_returned(aws: Any, upload: Any, camera_jpeg: bytes) -> None:
    event = upload(camera_jpeg)
    output = handler(event, None)

    result = MetadataOutput.model_validate(output)
    assert (result.image_key, result.bucket) == (event["imageKey"], event["bucket"])
    metadata = result.metadata
    assert (metadata.width, metadata.height, metadata.orientation) == (64, 48, 6)
    assert (metadata.display_width, metadata.display_height) == (48, 64)
    assert metadata.exif is not None
    assert (metadata.exif.make, metadata.exif.model, metadata.exif.iso) == ("FUJIFILM", "X-T5", 200)
    assert metadata.exif.gps is None  # privacy by default
    assert "displayWidth" in output["metadata"]  # camelCase on the wire

    record = aws.record(event["imageKey"])
    assert record.status is ImageStatus.PROCESSING
    stage = record.stages.metadata
    assert stage is not None
    assert stage.status is StageStatus.COMPLETED
    assert (stage.width, stage.height, stage.format) == (64, 48, "jpeg")
    assert stage.details == metadata
    assert stage.completed_at is not None
    assert stage.started_at is not None
    assert stage.started_at <= stage.completed_at

    (message,) = aws.notifications()
    assert message["eventType"] == "STAGE_COMPLETED"
    assert message["stage"] == "metadata"
    assert message["imageKey"] == event["imageKey"]
    (bus_event,) = aws.bus_events()
    assert bus_event["detail-type"] == "StageCompleted"
    assert bus_event["detail"]["stage"] == "metadata"
    assert ImageMetadata.model_validate(bus_event["detail"]["metadata"]) == metadata


def test_gps_is_stored_only_when_enabled(
    aws: Any, upload: Any, use_settings: Any, camera_jpeg: bytes
) -> None:
    use_settings(store_gps=True)
    event = upload(camera_jpeg)
    output = handler(event, None)
    gps = output["metadata"]["exif"]["gps"]
    assert gps["latitude"] == pytest.approx(48 + 51 / 60 + 24 / 3600)
    assert gps["longitude"] == pytest.approx(2 + 21 / 60 + 3 / 3600)
    stored = aws.record(event["imageKey"]).stages.metadata.details
    assert stored.exif.gps is not None
    assert stored.exif.gps.latitude == pytest.approx(gps["latitude"])


def test_gps_setting_is_read_from_the_environment(
    aws: Any, upload: Any, camera_jpeg: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = aws.settings()
    monkeypatch.setenv(ENV_TABLE_NAME, settings.table_name)
    monkeypatch.setenv(ENV_TOPIC_ARN, settings.topic_arn)
    monkeypatch.setenv(ENV_EVENT_BUS_NAME, settings.event_bus_name)
    event = upload(camera_jpeg)

    monkeypatch.setenv(ENV_STORE_GPS, "true")
    metadata_handler.dependencies.cache_clear()  # built lazily from the environment
    assert "gps" in handler(event, None)["metadata"]["exif"]
    assert len(aws.bus_events()) == 1  # the bus name came from the environment too

    monkeypatch.setenv(ENV_STORE_GPS, "false")
    metadata_handler.dependencies.cache_clear()
    second = upload(camera_jpeg, key="uploads/2026/11/26/another.jpg")
    assert "gps" not in handler(second, None)["metadata"]["exif"]


def test_every_accepted_corpus_file(
    aws: Any,
    upload: Any,
    corpus_dir: Path,
    manifest: dict[str, dict[str, Any]],
) -> None:
    for name, expected in manifest.items():
        if expected["status"] != "COMPLETED":
            continue
        event = upload((corpus_dir / name).read_bytes(), key=f"uploads/corpus/{name}")
        output = handler(event, None)["metadata"]
        assert [output["displayWidth"], output["displayHeight"]] == expected["displayed_size"]
        stage = aws.record(event["imageKey"]).stages.metadata
        assert stage.status is StageStatus.COMPLETED
        assert [stage.details.display_width, stage.details.display_height] == (
            expected["displayed_size"]
        )


def test_rerun_after_completion_answers_from_the_record(
    aws: Any, upload: Any, camera_jpeg: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = upload(camera_jpeg)
    first = handler(event, None)
    before = aws.raw_item(event["imageKey"])
    aws.notifications()
    aws.bus_events()
    adapters = metadata_handler.dependencies()
    monkeypatch.setattr(adapters, "read_object", lambda *a: pytest.fail("re-read the object"))

    assert handler(event, None) == first
    assert aws.raw_item(event["imageKey"]) == before
    assert aws.notifications() == []
    assert aws.bus_events() == []


def test_rejected_record_is_a_permanent_error(aws: Any, upload: Any, camera_jpeg: bytes) -> None:
    event = upload(camera_jpeg, status=ImageStatus.REJECTED)
    before = aws.raw_item(event["imageKey"])
    with pytest.raises(PermanentError) as caught:
        handler(event, None)
    assert type(caught.value) is PermanentError  # the shared class: never retried
    assert aws.raw_item(event["imageKey"]) == before
    assert aws.notifications() == []


def test_missing_object_fails_the_stage(aws: Any, sample_state: dict[str, Any]) -> None:
    aws.put_record(sample_state, ImageStatus.PROCESSING)
    with pytest.raises(PermanentError):
        handler(sample_state, None)
    stage = aws.record(sample_state["imageKey"]).stages.metadata
    assert stage is not None
    assert stage.status is StageStatus.FAILED
    assert stage.error_message


def test_unreadable_image_fails_the_stage(aws: Any, upload: Any) -> None:
    event = upload(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    with pytest.raises(PermanentError) as caught:
        handler(event, None)
    assert caught.value.code == "UNREADABLE_IMAGE"
    assert aws.record(event["imageKey"]).stages.metadata.status is StageStatus.FAILED


def test_oversized_object_is_not_read(aws: Any, upload: Any, use_settings: Any) -> None:
    use_settings(max_bytes=100)
    event = upload(b"\xff\xd8\xff" + b"\x00" * 500)
    with pytest.raises(PermanentError) as caught:
        handler(event, None)
    assert caught.value.code == "TOO_LARGE"


def test_error_logs_are_structured(
    aws: Any, sample_state: dict[str, Any], lambda_logs: Any
) -> None:
    aws.put_record(sample_state, ImageStatus.PROCESSING)
    event = {**sample_state, "executionArn": "arn:aws:states:us-east-1:1:execution:m:e"}
    lambda_logs()
    with pytest.raises(PermanentError):
        handler(event, None)
    lines = lambda_logs()
    (error,) = [line for line in lines if line.get("level") == "ERROR"]
    assert error["imageKey"] == event["imageKey"]
    assert event["imageKey"] not in error["message"]
    assert error["stage"] == "metadata"
    assert error["errorType"] == "PermanentError"
    assert error["executionArn"] == event["executionArn"]
    assert error["function_name"] == "qip-metadata"
    assert "exception" in error
    documents = {
        frozenset(m["Name"] for m in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]): line
        for line in lines
        if "_aws" in line
    }
    (stage_names,) = [names for names in documents if "StageExecutionTime" in names]
    assert {"StageExecutionTime", "StageAttemptFailures"} <= stage_names
    assert documents[stage_names]["stage"] == "metadata"
    # A permanent error ends the image FAILED: its duration is emitted once, in its own document.
    (duration,) = [doc for names, doc in documents.items() if "ImageProcessingDuration" in names]
    assert duration["status"] == "FAILED"


def test_sample_event_parses(sample_state: dict[str, Any]) -> None:
    state = PipelineState.model_validate(sample_state)
    assert state.validation is not None
    assert state.validation.image_key == state.image_key
