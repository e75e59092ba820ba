"""Unit tests of archive's pure core."""

from __future__ import annotations

from typing import Any

import pytest

from qip_archive.core import (
    ArtifactKind,
    RecordVerdict,
    archived_location,
    build_output,
    completion_fields,
    judge_record,
    near_copy_hash,
    needs_rerender,
    output_from_record,
    plan_archive,
    plan_rerender,
    processing_duration,
    render_record,
    source_version,
)
from qip_shared.enums import ImageStatus
from qip_shared.pipeline import PipelineState
from qip_shared.record import ImageRecord

IMAGE_ID = "0b8f2f0e-4a43-4d1c-9a52-6f0e4f7c2d11"
PREFIX = f"archive/2026/11/26/{IMAGE_ID}/"


def test_plan_copies_original_resized_and_thumbnail(sample_state: dict[str, Any]) -> None:
    plan = plan_archive(PipelineState.model_validate(sample_state), "arch")
    assert [c.kind for c in plan.copies] == [
        ArtifactKind.ORIGINAL,
        ArtifactKind.RESIZED,
        ArtifactKind.THUMBNAIL,
    ]
    assert plan.archived_keys == [
        f"{PREFIX}original.jpg",
        f"{PREFIX}resized.jpg",
        f"{PREFIX}thumbnail.jpg",
    ]
    assert plan.copies[0].source_key == sample_state["imageKey"]
    assert plan.copies[1].source_key == f"processed/{IMAGE_ID}/resized.jpg"
    assert plan.copies[2].source_key == f"processed/{IMAGE_ID}/thumbnail.jpg"
    assert all(c.source_bucket == "qip-uploads" for c in plan.copies)
    assert all(c.target_bucket == "arch" for c in plan.copies)
    assert plan.archived_location == f"s3://arch/{PREFIX}"


@pytest.mark.parametrize(
    ("keep", "expected"),
    [
        ("resizedKey", [ArtifactKind.ORIGINAL, ArtifactKind.RESIZED]),
        ("thumbnailKey", [ArtifactKind.ORIGINAL, ArtifactKind.THUMBNAIL]),
        (None, [ArtifactKind.ORIGINAL]),
    ],
)
def test_plan_copies_only_outputs_present(
    sample_state: dict[str, Any], keep: str | None, expected: list[ArtifactKind]
) -> None:
    sample_state["processed"] = [p for p in sample_state["processed"] if keep and keep in p]
    plan = plan_archive(PipelineState.model_validate(sample_state), "arch")
    assert [c.kind for c in plan.copies] == expected
    fields = completion_fields(plan, 5)
    assert ("resizedKey" in fields) == (ArtifactKind.RESIZED in expected)
    assert ("thumbnailKey" in fields) == (ArtifactKind.THUMBNAIL in expected)


def test_plan_without_processed_key(sample_state: dict[str, Any]) -> None:
    del sample_state["processed"]
    plan = plan_archive(PipelineState.model_validate(sample_state), "arch")
    assert len(plan.copies) == 1


def test_null_version_copies_current_object(sample_state: dict[str, Any]) -> None:
    plan = plan_archive(PipelineState.model_validate(sample_state), "arch")
    assert "VersionId" not in plan.copies[0].copy_request()["CopySource"]
    assert plan.upload_version_id is None


def test_real_version_pins_the_original(sample_state: dict[str, Any]) -> None:
    sample_state["versionId"] = "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"
    plan = plan_archive(PipelineState.model_validate(sample_state), "arch")
    request = plan.copies[0].copy_request()
    assert request["CopySource"]["VersionId"] == "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"
    assert "VersionId" not in plan.copies[1].copy_request()["CopySource"]
    assert request["Bucket"] == "arch"
    assert request["Key"] == f"{PREFIX}original.jpg"


@pytest.mark.parametrize(("given", "expected"), [(None, None), ("", None), ("null", None)])
def test_source_version_absent(given: str | None, expected: str | None) -> None:
    assert source_version(given) == expected


def test_missing_archive_bucket_is_refused(sample_state: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="archive bucket"):
        plan_archive(PipelineState.model_validate(sample_state), "")


def test_archive_folder_is_dated_by_upload_in_utc(sample_state: dict[str, Any]) -> None:
    sample_state["uploadTimestamp"] = "2026-12-31T23:59:59.999Z"
    plan = plan_archive(PipelineState.model_validate(sample_state), "arch")
    assert plan.prefix == f"archive/2026/12/31/{IMAGE_ID}/"


def test_processing_duration_counts_from_upload() -> None:
    assert processing_duration("2026-11-26T06:40:00.000Z", "2026-11-26T06:40:02.345Z") == 2345
    assert processing_duration("2026-11-26T06:40:02.000Z", "2026-11-26T06:40:00.000Z") == 0


def test_completion_fields_and_output(sample_state: dict[str, Any]) -> None:
    plan = plan_archive(PipelineState.model_validate(sample_state), "arch")
    fields = completion_fields(plan, 1234)
    assert fields == {
        "archivedLocation": f"s3://arch/{PREFIX}",
        "processingDuration": 1234,
        "resizedKey": f"processed/{IMAGE_ID}/resized.jpg",
        "thumbnailKey": f"processed/{IMAGE_ID}/thumbnail.jpg",
    }
    wire = build_output(plan, 1234).to_json_dict()
    assert wire == {
        "imageKey": sample_state["imageKey"],
        "archivedLocation": f"s3://arch/{PREFIX}",
        "status": "COMPLETED",
        "archivedKeys": plan.archived_keys,
        "processingDuration": 1234,
        # Always present, so the completion messages can read it (empty: nothing known).
        "render": {},
    }


def _record(status: ImageStatus, **extra: Any) -> ImageRecord:
    return ImageRecord(
        image_key="uploads/a.jpg",
        upload_timestamp="2026-11-26T06:40:00.000Z",
        size=1,
        content_type="image/jpeg",
        status=status,
        **extra,
    )


def test_output_from_completed_record_repeats_first_result(sample_state: dict[str, Any]) -> None:
    plan = plan_archive(PipelineState.model_validate(sample_state), "arch")
    record = _record(
        ImageStatus.COMPLETED, archived_location="s3://arch/elsewhere/", processing_duration=77
    )
    out = output_from_record(plan, record)
    assert out.archived_location == "s3://arch/elsewhere/"
    assert out.processing_duration == 77
    assert out.status == "COMPLETED"
    assert out.archived_keys == plan.archived_keys


@pytest.mark.parametrize(
    ("record", "verdict"),
    [
        (None, RecordVerdict.MISSING),
        (_record(ImageStatus.COMPLETED), RecordVerdict.ALREADY_COMPLETED),
        (_record(ImageStatus.FAILED), RecordVerdict.CANNOT_ARCHIVE),
        (_record(ImageStatus.REJECTED), RecordVerdict.CANNOT_ARCHIVE),
        (_record(ImageStatus.UPLOADED), RecordVerdict.CANNOT_ARCHIVE),
    ],
)
def test_judge_record(record: ImageRecord | None, verdict: RecordVerdict) -> None:
    assert judge_record(record) is verdict


def test_archived_location_format() -> None:
    assert archived_location("b", "archive/2026/01/02/x/") == "s3://b/archive/2026/01/02/x/"


def test_a_state_with_variants_archives_each_and_names_its_recipe(
    sample_state: dict[str, Any],
) -> None:
    def variant(name: str, fmt: str, version: str) -> dict[str, Any]:
        ext = "jpg" if fmt == "jpeg" else fmt
        return {
            "name": name,
            "format": fmt,
            "width": 1,
            "height": 1,
            "key": f"processed/{IMAGE_ID}/{name}.{ext}",
            "bytes": 1,
            "recipeVersion": version,
            "sourceSha256": "ab" * 32,
            "decoder": "d",
            "encoder": "e",
        }

    resize, thumb = sample_state["processed"]
    resize["variants"] = [variant("resized", "jpeg", "2"), variant("resized", "webp", "2")]
    thumb["variants"] = [variant("thumbnail", "avif", "2")]
    plan = plan_archive(PipelineState.model_validate(sample_state), "arch")
    assert plan.archived_keys == [
        f"{PREFIX}original.jpg",
        f"{PREFIX}resized.jpg",
        f"{PREFIX}resized.webp",
        f"{PREFIX}thumbnail.avif",
    ]
    assert plan.recipe_version == "2"
    fields = completion_fields(plan, 5)
    assert fields["recipeVersion"] == "2"
    assert [v["format"] for v in fields["variants"]] == ["jpeg", "webp", "avif"]
    record = ImageRecord.model_validate(
        {
            "imageKey": sample_state["imageKey"],
            "uploadTimestamp": "2026-11-26T06:40:00.000Z",
            "size": 1,
            "contentType": "image/jpeg",
            "status": "COMPLETED",
            "recipeVersion": "1",
        }
    )
    assert needs_rerender(plan, record)
    assert not needs_rerender(plan, record.model_copy(update={"recipe_version": "2"}))
    assert [c.kind for c in plan_rerender(plan).copies] == [
        ArtifactKind.RESIZED,
        ArtifactKind.RESIZED,
        ArtifactKind.THUMBNAIL,
    ]
    # Variants of two recipe versions are "mixed": never equal to a version, so still stale.
    thumb["variants"] = [variant("thumbnail", "avif", "3")]
    mixed = plan_archive(PipelineState.model_validate(sample_state), "arch")
    assert needs_rerender(mixed, record.model_copy(update={"recipe_version": "2"}))


def test_render_record_gathers_the_six_fields(sample_state: dict[str, Any]) -> None:
    sha256 = "0f" * 32
    state = PipelineState.model_validate(
        sample_state
        | {
            "validation": {
                "imageKey": sample_state["imageKey"],
                "bucket": sample_state["bucket"],
                "valid": True,
                "format": "png",
                "width": 9,
                "height": 9,
                "contentSha256": sha256,
            },
            "processed": [
                {
                    "imageKey": sample_state["imageKey"],
                    "thumbnailKey": "processed/x/thumbnail.jpg",
                    "width": 200,
                    "height": 200,
                    "bytes": 9,
                    "render": {
                        "thumbhash": "AAgCBw",
                        "dominantColor": "#ff0000",
                        "focalPoint": {"x": 0.1, "y": 0.9},
                        "perceptualHash": "0123456789abcdef",
                        "nearMatchable": False,
                    },
                }
            ],
        }
    )
    render = render_record(state, "uploads/original.png")
    assert render.to_public_dict() == {
        "thumbhash": "AAgCBw",
        "dominantColor": "#ff0000",
        "focalPoint": {"x": 0.1, "y": 0.9},
        "perceptualHash": "0123456789abcdef",
        "contentSha256": sha256,
        "duplicateOf": "uploads/original.png",
    }
    assert near_copy_hash(state) is None  # no detail: exact copies only
    plan = plan_archive(state, "arch")
    assert completion_fields(plan, 5, render)["duplicateOf"] == "uploads/original.png"
    assert "duplicateOf" not in completion_fields(plan, 5, render_record(state, None))
