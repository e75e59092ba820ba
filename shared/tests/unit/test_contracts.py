"""Unit tests of the shared contracts: record conversion, keys, transitions, events."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import ValidationError

from qip_shared import config, keys
from qip_shared.config import QipSettings
from qip_shared.enums import (
    EventDetailType,
    ImageFormat,
    ImageStatus,
    NotificationType,
    RejectionReason,
    StageName,
    StageStatus,
)
from qip_shared.errors import InvalidImageError, PermanentError
from qip_shared.events import Notification, ProcessingEvent, ProcessingEventDetail
from qip_shared.pipeline import PipelineState
from qip_shared.record import ImageRecord, StageInfo, Stages
from qip_shared.requests import create_record_request, stage_update_request, status_update_request
from qip_shared.timeutil import (
    duration_ms,
    format_timestamp,
    parse_range_bound,
    parse_timestamp,
)
from qip_shared.transitions import can_transition, can_transition_stage, status_condition

TS = "2025-11-30T12:00:00.000Z"


def make_record(**overrides: object) -> ImageRecord:
    values: dict[str, object] = {
        "image_key": "uploads/2025/11/30/a.jpg",
        "upload_timestamp": TS,
        "size": 1024,
        "content_type": "image/jpeg",
        "status": ImageStatus.UPLOADED,
    }
    values.update(overrides)
    return ImageRecord.model_validate(values)


def test_record_item_uses_design_attribute_names() -> None:
    record = make_record(
        stages=Stages(validation=StageInfo(status=StageStatus.COMPLETED, timestamp=TS)),
        archived_location="archive/2025/11/30/a/",
        processing_duration=1500,
    )
    item = record.to_item()
    assert item["imageKey"] == {"S": "uploads/2025/11/30/a.jpg"}
    assert item["uploadTimestamp"] == {"S": TS}
    assert item["size"] == {"N": "1024"}
    assert item["contentType"] == {"S": "image/jpeg"}
    assert item["status"] == {"S": "UPLOADED"}
    assert item["archivedLocation"] == {"S": "archive/2025/11/30/a/"}
    assert item["processingDuration"] == {"N": "1500"}
    assert item["stages"]["M"]["validation"]["M"]["status"] == {"S": "COMPLETED"}
    assert "errorMessage" not in item  # None values are omitted, not stored as NULL
    assert ImageRecord.from_item(item) == record


def test_new_record_has_an_empty_stage_map_for_stage_updates_to_land_in() -> None:
    assert make_record().to_item()["stages"] == {"M": {}}


def test_record_rejects_bad_timestamps_and_sizes() -> None:
    with pytest.raises(ValidationError):
        make_record(upload_timestamp="yesterday")
    with pytest.raises(ValidationError):
        make_record(size=-1)


def test_records_are_frozen() -> None:
    record = make_record()
    with pytest.raises(ValidationError):
        record.status = ImageStatus.COMPLETED  # type: ignore[misc]


def test_key_layout() -> None:
    image_uuid = uuid.UUID("0b8e2f5e-6a43-4a7b-9d0c-0e8e8a1f4c11")
    moment = datetime(2025, 11, 30, 12, tzinfo=UTC)
    key = keys.upload_key(ImageFormat.JPEG, moment, image_uuid)
    assert key == f"uploads/2025/11/30/{image_uuid}.jpg"
    assert keys.image_id_from_key(key) == str(image_uuid)
    assert keys.resized_key(key) == f"processed/{image_uuid}/resized.jpg"
    assert keys.thumbnail_key(key) == f"processed/{image_uuid}/thumbnail.jpg"
    assert keys.archive_prefix(key, TS) == f"archive/2025/11/30/{image_uuid}/"
    assert keys.archive_original_key(key, TS) == f"archive/2025/11/30/{image_uuid}/original.jpg"


def test_foreign_keys_get_distinct_safe_ids() -> None:
    first = keys.image_id_from_key("uploads/a/../photo.jpg")
    second = keys.image_id_from_key("uploads/b/photo.jpg")
    assert first != second
    assert "/" not in first
    assert ".." not in first


def test_execution_name_is_deterministic_legal_and_version_specific() -> None:
    key = "uploads/2025/11/30/some very long name " + "x" * 200 + ".jpg"
    name = keys.execution_name(key, "v1")
    assert name == keys.execution_name(key, "v1")
    assert name != keys.execution_name(key, "v2")
    assert len(name) <= 80
    assert all(c.isalnum() or c in "-_" for c in name)


def test_status_transitions_follow_the_lifecycle() -> None:
    assert can_transition(None, ImageStatus.UPLOADED)
    assert not can_transition(None, ImageStatus.PROCESSING)
    assert can_transition(ImageStatus.UPLOADED, ImageStatus.PROCESSING)
    assert can_transition(ImageStatus.UPLOADED, ImageStatus.REJECTED)
    assert can_transition(ImageStatus.PROCESSING, ImageStatus.COMPLETED)
    assert can_transition(ImageStatus.PROCESSING, ImageStatus.FAILED)
    assert can_transition(ImageStatus.PROCESSING, ImageStatus.REJECTED)
    assert not can_transition(ImageStatus.COMPLETED, ImageStatus.PROCESSING)
    assert not can_transition(ImageStatus.FAILED, ImageStatus.PROCESSING)
    assert can_transition(ImageStatus.FAILED, ImageStatus.PROCESSING, reprocess=True)
    assert not can_transition(ImageStatus.UPLOADED, ImageStatus.COMPLETED)


def test_completed_stage_is_never_reopened() -> None:
    assert can_transition_stage(None, StageStatus.IN_PROGRESS)
    assert can_transition_stage(StageStatus.FAILED, StageStatus.IN_PROGRESS)
    assert not can_transition_stage(StageStatus.COMPLETED, StageStatus.IN_PROGRESS)
    assert not can_transition_stage(StageStatus.COMPLETED, StageStatus.FAILED)


def test_status_condition_lists_exactly_the_legal_sources() -> None:
    condition = status_condition(ImageStatus.REJECTED)
    assert condition.names == {"#status": "status"}
    assert sorted(v["S"] for v in condition.values.values()) == ["PROCESSING", "UPLOADED"]
    assert status_condition(ImageStatus.UPLOADED).expression == "attribute_not_exists(#pk)"


def test_request_builders_carry_their_conditions() -> None:
    create = create_record_request("t", make_record())
    assert create["ConditionExpression"] == "attribute_not_exists(#pk)"
    info = StageInfo(status=StageStatus.COMPLETED, timestamp=TS, duration_ms=12)
    stage = stage_update_request("t", "k", StageName.RESIZE, info, updated_at=TS)
    assert "#status = :processing" in stage["ConditionExpression"]
    assert stage["ExpressionAttributeNames"]["#stage"] == "resize"
    final = status_update_request(
        "t",
        "k",
        ImageStatus.COMPLETED,
        updated_at=TS,
        fields={"archivedLocation": "archive/x/"},
        stage=(StageName.ARCHIVE, info),
    )
    values = final["ExpressionAttributeValues"]
    assert {"S": "COMPLETED"} in values.values()
    assert {"S": "archive/x/"} in values.values()
    assert final["ConditionExpression"] == "#status IN (:from0)"


def test_pipeline_state_picks_branch_outputs_by_shape() -> None:
    state = PipelineState.model_validate(
        {
            "imageKey": "k",
            "bucket": "b",
            "uploadTimestamp": TS,
            "contentType": "image/png",
            "size": 10,
            "processed": [
                {"imageKey": "k", "thumbnailKey": "t", "width": 200, "height": 200, "bytes": 9},
                {"imageKey": "k", "resizedKey": "r", "width": 10, "height": 5, "bytes": 9},
            ],
            "error": {"Error": "X", "Cause": "{}"},
        }
    )
    assert state.resize is not None
    assert state.resize.resized_key == "r"
    assert state.thumbnail is not None
    assert state.thumbnail.thumbnail_key == "t"
    assert state.error is not None
    assert state.error.error == "X"


def test_event_and_notification_wire_shapes() -> None:
    event = ProcessingEvent(
        detail_type=EventDetailType.STAGE_COMPLETED,
        detail=ProcessingEventDetail(
            image_key="k", bucket="b", timestamp=TS, status="COMPLETED", stage=StageName.RESIZE
        ),
    )
    entry = event.to_put_events_entry("default")
    assert entry["Source"] == "image-processor"
    assert entry["DetailType"] == "StageCompleted"
    assert json.loads(entry["Detail"]) == {
        "imageKey": "k",
        "bucket": "b",
        "timestamp": TS,
        "status": "COMPLETED",
        "stage": "resize",
    }
    note = Notification(
        event_type=NotificationType.PROCESSING_REJECTED,
        image_key="k",
        timestamp=TS,
        reason=RejectionReason.CORRUPT,
    )
    request = note.to_publish_request("arn:topic")
    assert json.loads(request["Message"])["reason"] == "CORRUPT"
    assert request["MessageAttributes"]["eventType"]["StringValue"] == "PROCESSING_REJECTED"


def test_content_types_round_trip() -> None:
    for fmt in ImageFormat:
        assert ImageFormat.from_content_type(fmt.content_type.upper() + "; x=1") is fmt
    assert ImageFormat.from_content_type("image/tiff") is None


def test_invalid_image_error_carries_its_reason_code() -> None:
    error = InvalidImageError(RejectionReason.TOO_LARGE, "11 MB is over the 10 MB limit")
    assert isinstance(error, PermanentError)
    assert error.code == "TOO_LARGE"
    assert str(error) == "TOO_LARGE: 11 MB is over the 10 MB limit"
    assert type(error).__name__ == "InvalidImageError"


def test_settings_from_env() -> None:
    settings = QipSettings.from_env(
        {"QIP_TABLE_NAME": "t", "QIP_MAX_BYTES": "5", "QIP_STORE_GPS": "TRUE"}
    )
    assert settings.table_name == "t"
    assert settings.max_bytes == 5
    assert settings.store_gps is True
    assert settings.delete_upload is False
    assert QipSettings.from_env({}).max_pixels == 100_000_000


def test_timestamps_are_fixed_width_utc() -> None:
    moment = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    text = format_timestamp(moment)
    assert text == "2025-01-02T03:04:05.678Z"
    assert parse_timestamp(text) == moment.replace(microsecond=678000)
    assert duration_ms(text, "2025-01-02T03:04:06.000Z") == 322
    with pytest.raises(ValueError, match="timezone-aware"):
        format_timestamp(datetime(2025, 1, 1))


def test_range_bounds_are_a_day_or_an_aware_timestamp() -> None:
    assert parse_range_bound("2026-11-01") == date(2026, 11, 1)
    assert parse_range_bound("2026-11-01T10:00:00Z") == datetime(2026, 11, 1, 10, tzinfo=UTC)
    # No offset: UTC; an offset is kept.
    assert parse_range_bound("2026-11-01T10:00:00").tzinfo is UTC
    later = parse_range_bound("2026-11-01T10:00:00+02:00")
    assert isinstance(later, datetime)
    assert later.utcoffset() == timedelta(hours=2)
    for text in ("2026-13-01", "yesterday", "", "2026-11-01T25:00"):
        with pytest.raises(ValueError):
            parse_range_bound(text)


def test_metrics_namespace_is_the_platforms_else_the_shared_default() -> None:
    assert config.metrics_namespace({}) == config.METRICS_NAMESPACE == "QIP"
    assert config.metrics_namespace({config.ENV_METRICS_NAMESPACE: "QIP-staging"}) == "QIP-staging"
    assert config.LAMBDA_RUNTIME.removeprefix("python") == config.LAMBDA_PYTHON_VERSION


# Issue 15: the dead-letter marker, read from Lambda's and from the SQS API's casing.
def test_dead_letter_marker_round_trips() -> None:
    from qip_shared.messages import (  # noqa: PLC0415
        DEAD_LETTER_ATTRIBUTE,
        dead_letter_attributes,
        dead_letter_marker,
        upload_event_body,
    )

    sent = dead_letter_attributes("arn:aws:states:x")
    assert dead_letter_marker(sent) == "arn:aws:states:x"
    lambda_shape = {DEAD_LETTER_ATTRIBUTE: {"stringValue": "arn:y", "dataType": "String"}}
    assert dead_letter_marker(lambda_shape) == "arn:y"
    for absent in (None, {}, {DEAD_LETTER_ATTRIBUTE: "flat"}, {DEAD_LETTER_ATTRIBUTE: {}}):
        assert dead_letter_marker(absent) is None
    body = upload_event_body(bucket="b", key="uploads/k.jpg", size=3, version_id="v", etag="e")
    assert (body["source"], body["detail-type"]) == ("aws.s3", "Object Created")
    assert body["detail"]["object"] == {
        "key": "uploads/k.jpg",
        "size": 3,
        "version-id": "v",
        "etag": "e",
    }
