"""Archive's handler against moto: copies, record, idempotent re-run, delete-upload setting."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from qip_archive import handler as archive_handler
from qip_archive.adapters import Adapters
from qip_shared.enums import ImageStatus, StageStatus
from qip_shared.errors import PermanentError
from qip_shared.record import ImageRecord
from qip_shared.testing.moto import processing_durations, read_json_lines
from qip_shared.timeutil import parse_timestamp

UPLOAD_BUCKET = "qip-uploads"
ARCHIVE_BUCKET = "qip-archive"
KEY = "uploads/2026/11/26/0b8f2f0e-4a43-4d1c-9a52-6f0e4f7c2d11.jpg"
PREFIX = "archive/2026/11/26/0b8f2f0e-4a43-4d1c-9a52-6f0e4f7c2d11/"


@pytest.fixture
def use_settings(aws: Any) -> Iterator[Callable[..., Adapters]]:
    """Inject adapters built on moto clients with some settings."""

    def inject(**overrides: Any) -> Adapters:
        adapters = Adapters.from_settings(aws.settings(**overrides), session=aws.session)
        archive_handler.set_dependencies(adapters)
        return adapters

    yield inject
    archive_handler.dependencies.cache_clear()


def _upload_exists(aws: Any) -> bool:
    try:
        aws.s3.head_object(Bucket=UPLOAD_BUCKET, Key=KEY)
    except ClientError:
        return False
    return True


def test_archives_all_outputs_and_completes_record(
    aws: Any,
    staged_image: Callable[..., dict[str, Any]],
    use_settings: Callable[..., Adapters],
    capsys: pytest.CaptureFixture[str],
) -> None:
    use_settings()
    state = staged_image()
    before = parse_timestamp(state["uploadTimestamp"])
    capsys.readouterr()

    result = archive_handler.handler(state, None)

    assert aws.archive_keys() == sorted(
        [f"{PREFIX}original.jpg", f"{PREFIX}resized.jpg", f"{PREFIX}thumbnail.jpg"]
    )
    body = aws.s3.get_object(Bucket=ARCHIVE_BUCKET, Key=f"{PREFIX}original.jpg")["Body"].read()
    assert body == b"\xff\xd8\xff original bytes"
    assert aws.s3.get_object(Bucket=ARCHIVE_BUCKET, Key=f"{PREFIX}thumbnail.jpg")[
        "Body"
    ].read() == (b"thumb")

    record = aws.record(KEY)
    # Property 12: Archived location storage — the completed record holds the archive's S3 path.
    assert record.status is ImageStatus.COMPLETED
    assert record.archived_location == f"s3://{ARCHIVE_BUCKET}/{PREFIX}"
    assert record.resized_key == state["processed"][0]["resizedKey"]
    assert record.thumbnail_key == state["processed"][1]["thumbnailKey"]
    stage = record.stages.archive
    assert stage is not None
    assert stage.status is StageStatus.COMPLETED
    assert stage.started_at is not None
    assert stage.completed_at is not None
    assert stage.started_at <= stage.completed_at
    elapsed = (parse_timestamp(stage.completed_at) - before).total_seconds() * 1000
    assert record.processing_duration == round(elapsed)

    assert result["archivedLocation"] == record.archived_location
    assert result["status"] == "COMPLETED"
    assert result["processingDuration"] == record.processing_duration
    assert sorted(result["archivedKeys"]) == aws.archive_keys()
    # The upload stays by default.
    assert _upload_exists(aws)

    (notification,) = aws.notifications()
    assert notification["eventType"] == "STAGE_COMPLETED"
    assert notification["stage"] == "archive"
    assert notification["archivedLocation"] == record.archived_location
    # The image ends here: timed once as COMPLETED, upload to the COMPLETED write.
    durations = processing_durations(read_json_lines(capsys.readouterr().out))
    assert durations == [("COMPLETED", record.processing_duration, ["service", "status"])]


def test_rerun_after_success_returns_same_output(
    aws: Any, staged_image: Callable[..., dict[str, Any]], use_settings: Callable[..., Adapters]
) -> None:
    use_settings()
    state = staged_image()
    first = archive_handler.handler(state, None)
    record_after_first = aws.record(KEY)
    aws.notifications()

    second = archive_handler.handler(state, None)

    assert second == first
    assert aws.record(KEY) == record_after_first
    assert aws.notifications() == []  # no duplicate announcement


def test_only_selected_outputs_are_archived(
    aws: Any, staged_image: Callable[..., dict[str, Any]], use_settings: Callable[..., Adapters]
) -> None:
    use_settings()
    state = staged_image(with_resize=False)
    archive_handler.handler(state, None)
    assert aws.archive_keys() == [f"{PREFIX}original.jpg", f"{PREFIX}thumbnail.jpg"]
    record = aws.record(KEY)
    assert record.resized_key is None
    assert record.thumbnail_key is not None


def test_delete_upload_setting_removes_the_upload_after_completion(
    aws: Any, staged_image: Callable[..., dict[str, Any]], use_settings: Callable[..., Adapters]
) -> None:
    use_settings(delete_upload=True)
    state = staged_image()
    archive_handler.handler(state, None)
    assert not _upload_exists(aws)
    assert f"{PREFIX}original.jpg" in aws.archive_keys()
    # A re-run after the delete still answers (no copy of the vanished upload is attempted).
    again = archive_handler.handler(state, None)
    assert again["status"] == "COMPLETED"


def test_versioned_upload_is_archived_and_that_version_deleted(
    aws: Any, staged_image: Callable[..., dict[str, Any]], use_settings: Callable[..., Adapters]
) -> None:
    aws.s3.put_bucket_versioning(
        Bucket=UPLOAD_BUCKET, VersioningConfiguration={"Status": "Enabled"}
    )
    use_settings(delete_upload=True)
    state = staged_image()
    assert state["versionId"] != "null"
    # A newer version lands after the event; the archived original is the processed version.
    aws.s3.put_object(Bucket=UPLOAD_BUCKET, Key=KEY, Body=b"newer")
    archive_handler.handler(state, None)
    body = aws.s3.get_object(Bucket=ARCHIVE_BUCKET, Key=f"{PREFIX}original.jpg")["Body"].read()
    assert body == b"\xff\xd8\xff original bytes"
    versions = aws.s3.list_object_versions(Bucket=UPLOAD_BUCKET, Prefix=KEY)["Versions"]
    remaining = [v["VersionId"] for v in versions]
    assert remaining  # the newer version stays
    assert state["versionId"] not in remaining


@pytest.mark.parametrize("status", [ImageStatus.FAILED, ImageStatus.REJECTED])
def test_finished_record_is_not_archived(
    aws: Any,
    staged_image: Callable[..., dict[str, Any]],
    use_settings: Callable[..., Adapters],
    status: ImageStatus,
) -> None:
    use_settings()
    state = staged_image(status=status)
    with pytest.raises(PermanentError) as caught:
        archive_handler.handler(state, None)
    assert type(caught.value) is PermanentError
    assert caught.value.code == "RECORD_NOT_ARCHIVABLE"
    assert aws.archive_keys() == []
    assert aws.record(KEY).status is status


def test_missing_output_is_a_permanent_error_and_record_stays_processing(
    aws: Any, staged_image: Callable[..., dict[str, Any]], use_settings: Callable[..., Adapters]
) -> None:
    use_settings()
    state = staged_image()
    aws.s3.delete_object(Bucket=UPLOAD_BUCKET, Key=state["processed"][0]["resizedKey"])
    with pytest.raises(PermanentError) as caught:
        archive_handler.handler(state, None)
    assert type(caught.value) is PermanentError  # the name Step Functions matches
    record = aws.record(KEY)
    assert record.status is ImageStatus.PROCESSING  # HandleError owns the status
    assert record.stages.archive is not None
    assert record.stages.archive.status is StageStatus.FAILED
    assert "NoSuchKey" in (record.stages.archive.error_message or "")


def test_retry_after_a_failed_copy_completes(
    aws: Any, staged_image: Callable[..., dict[str, Any]], use_settings: Callable[..., Adapters]
) -> None:
    use_settings()
    state = staged_image()
    resized = state["processed"][0]["resizedKey"]
    aws.s3.delete_object(Bucket=UPLOAD_BUCKET, Key=resized)
    with pytest.raises(PermanentError):
        archive_handler.handler(state, None)
    aws.s3.put_object(Bucket=UPLOAD_BUCKET, Key=resized, Body=b"resized")
    result = archive_handler.handler(state, None)
    assert result["status"] == "COMPLETED"
    assert aws.record(KEY).status is ImageStatus.COMPLETED


def test_sample_event_parses_and_runs(
    aws: Any, sample_state: dict[str, Any], use_settings: Callable[..., Adapters]
) -> None:
    use_settings()
    aws.s3.put_object(Bucket=UPLOAD_BUCKET, Key=sample_state["imageKey"], Body=b"x")
    for item in sample_state["processed"]:
        key = item.get("resizedKey") or item["thumbnailKey"]
        aws.s3.put_object(Bucket=UPLOAD_BUCKET, Key=key, Body=b"y")
    aws.put_record(
        ImageRecord(
            image_key=sample_state["imageKey"],
            upload_timestamp=sample_state["uploadTimestamp"],
            size=1,
            content_type="image/jpeg",
            status=ImageStatus.PROCESSING,
        )
    )
    result = archive_handler.handler(sample_state, None)
    assert len(result["archivedKeys"]) == 3


def test_malformed_input_is_a_permanent_error(
    aws: Any, use_settings: Callable[..., Adapters]
) -> None:
    use_settings()
    with pytest.raises(PermanentError) as caught:
        archive_handler.handler({"imageKey": KEY}, None)
    assert caught.value.code == "BAD_INPUT"
    assert aws.archive_keys() == []


def _variant(name: str, fmt: str, version: str) -> dict[str, Any]:
    ext = "jpg" if fmt == "jpeg" else fmt
    image_id = KEY.rsplit("/", 1)[1].split(".", maxsplit=1)[0]
    return {
        "name": name,
        "format": fmt,
        "width": 4,
        "height": 3,
        "key": f"processed/{image_id}/{name}.{ext}",
        "bytes": 7,
        "recipeVersion": version,
        "sourceSha256": "cd" * 32,
        "decoder": "Pillow JPEG",
        "encoder": f"Pillow {fmt}",
    }


def _with_variants(aws: Any, state: dict[str, Any], version: str) -> dict[str, Any]:
    """The state as a recipe with JPEG+AVIF display and a WebP thumbnail renders it."""
    resize, thumb = state["processed"]
    resize["variants"] = [
        _variant("resized", "jpeg", version),
        _variant("resized", "avif", version),
    ]
    thumb["variants"] = [_variant("thumbnail", "webp", version)]
    for variant in [*resize["variants"], *thumb["variants"]]:
        aws.s3.put_object(Bucket=UPLOAD_BUCKET, Key=variant["key"], Body=version.encode())
    return state


def test_archives_every_variant_and_records_their_lineage(
    aws: Any, staged_image: Callable[..., dict[str, Any]], use_settings: Callable[..., Adapters]
) -> None:
    use_settings()
    state = _with_variants(aws, staged_image(), "7")

    result = archive_handler.handler(state, None)

    names = ["original.jpg", "resized.jpg", "resized.avif", "thumbnail.webp"]
    assert aws.archive_keys() == sorted(PREFIX + n for n in names)
    assert result["archivedKeys"] == [PREFIX + n for n in names]
    record = aws.record(KEY)
    assert record.recipe_version == "7"
    assert [(v.name, v.format.value) for v in record.variants or []] == [
        ("resized", "jpeg"),
        ("resized", "avif"),
        ("thumbnail", "webp"),
    ]
    assert all(v.source_sha256 == "cd" * 32 for v in record.variants or [])


def test_a_completed_image_rerendered_by_a_new_recipe_is_recorded_once(
    aws: Any, staged_image: Callable[..., dict[str, Any]], use_settings: Callable[..., Adapters]
) -> None:
    use_settings()
    archive_handler.handler(_with_variants(aws, staged_image(), "1"), None)
    first = aws.record(KEY)
    assert first.status is ImageStatus.COMPLETED

    # A backfill runs the stages again on the COMPLETED record with recipe version 2.
    rerendered = _with_variants(aws, staged_image(status=ImageStatus.COMPLETED), "2")
    aws.put_record(first)  # staged_image replaced the record: put the completed one back
    archive_handler.handler(rerendered, None)

    second = aws.record(KEY)
    assert second.status is ImageStatus.COMPLETED
    assert second.recipe_version == "2"
    assert {v.recipe_version for v in second.variants or []} == {"2"}
    assert second.archived_location == first.archived_location
    assert second.stages == first.stages  # the stages of the first run stay as they were
    body = aws.s3.get_object(Bucket=ARCHIVE_BUCKET, Key=f"{PREFIX}resized.avif")["Body"].read()
    assert body == b"2"

    # Once recorded, the same re-render changes nothing more.
    archive_handler.handler(rerendered, None)
    assert aws.record(KEY).updated_at == second.updated_at
