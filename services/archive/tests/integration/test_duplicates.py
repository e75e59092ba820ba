"""Archive's duplicate lookup against moto's indexes: exact and near copies, never a Scan."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from qip_archive import handler as archive_handler
from qip_shared.duplicates import band_fields
from qip_shared.dynamo import to_attribute_value
from qip_shared.enums import ImageStatus
from qip_shared.record import ImageRecord

SHA = "ab" * 32
OTHER_SHA = "cd" * 32
PHASH = "f0f0f0f0a5a5a5a5"
NEAR_PHASH = "f0f0f0f0a5a5a5ba"  # 5 bits apart, all in the last band
FAR_PHASH = "0f0f0f0f5a5a5a5a"


def completed(
    aws: Any,
    key: str,
    uploaded: str,
    *,
    sha256: str,
    phash: str,
    status: ImageStatus = ImageStatus.COMPLETED,
    bands: bool = True,
) -> None:
    """An earlier image's record as the pipeline leaves it (hash, bands, status)."""
    item = ImageRecord(
        image_key=key,
        upload_timestamp=uploaded,
        size=1,
        content_type="image/jpeg",
        status=status,
        content_sha256=sha256,
        perceptual_hash=phash,
    ).to_item()
    if bands:
        item |= {name: to_attribute_value(value) for name, value in band_fields(phash).items()}
    aws.dynamodb.put_item(TableName=aws.settings().table_name, Item=item)


def with_render(
    state: dict[str, Any], sha256: str, phash: str, *, near_matchable: bool = True
) -> dict[str, Any]:
    """The archive input once validate hashed the upload and thumbnail analysed it."""
    state["validation"] = {
        "imageKey": state["imageKey"],
        "bucket": state["bucket"],
        "valid": True,
        "format": "jpeg",
        "width": 4,
        "height": 3,
        "contentSha256": sha256,
    }
    thumbnail = next(p for p in state["processed"] if "thumbnailKey" in p)
    thumbnail["render"] = {
        "thumbhash": "HBkSHYSIeHiPiHh8eJd4eTN0EEQG",
        "dominantColor": "#c81e1e",
        "focalPoint": {"x": 0.25, "y": 0.75},
        "perceptualHash": phash,
        "nearMatchable": near_matchable,
    }
    return state


@pytest.fixture
def archive(aws: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def run(state: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = archive_handler.handler(state, None)
        return result

    return run


def test_exact_copy_names_the_earliest_completed_original(
    aws: Any, staged_image: Callable[..., dict[str, Any]], archive: Callable[..., Any]
) -> None:
    completed(aws, "uploads/a-first.jpg", "2026-11-20T00:00:00.000Z", sha256=SHA, phash=FAR_PHASH)
    completed(aws, "uploads/b-later.jpg", "2026-11-21T00:00:00.000Z", sha256=SHA, phash=FAR_PHASH)
    # Earlier still, but not finished: not an original to point at.
    completed(
        aws,
        "uploads/c-open.jpg",
        "2026-11-19T00:00:00.000Z",
        sha256=SHA,
        phash=FAR_PHASH,
        status=ImageStatus.PROCESSING,
    )
    state = with_render(staged_image(), SHA, PHASH)

    result = archive(state)

    record = aws.record(state["imageKey"])
    assert record.status is ImageStatus.COMPLETED
    assert record.duplicate_of == "uploads/a-first.jpg"
    assert result["render"] == {
        "thumbhash": "HBkSHYSIeHiPiHh8eJd4eTN0EEQG",
        "dominantColor": "#c81e1e",
        "focalPoint": {"x": 0.25, "y": 0.75},
        "perceptualHash": PHASH,
        "contentSha256": SHA,
        "duplicateOf": "uploads/a-first.jpg",
    }


def test_near_copy_within_the_threshold_names_the_original(
    aws: Any, staged_image: Callable[..., dict[str, Any]], archive: Callable[..., Any]
) -> None:
    completed(
        aws, "uploads/original.jpg", "2026-11-20T00:00:00.000Z", sha256=OTHER_SHA, phash=PHASH
    )
    state = with_render(staged_image(), SHA, NEAR_PHASH)

    result = archive(state)

    assert aws.record(state["imageKey"]).duplicate_of == "uploads/original.jpg"
    assert result["render"]["duplicateOf"] == "uploads/original.jpg"


def test_unrelated_image_names_nothing(
    aws: Any, staged_image: Callable[..., dict[str, Any]], archive: Callable[..., Any]
) -> None:
    # Shares a band with the new image but is 32 bits away: a candidate, not a copy.
    completed(
        aws,
        "uploads/other.jpg",
        "2026-11-20T00:00:00.000Z",
        sha256=OTHER_SHA,
        phash="f0f0f0f05a5a5a5a",
    )
    state = with_render(staged_image(), SHA, PHASH)

    result = archive(state)

    record = aws.record(state["imageKey"])
    assert record.status is ImageStatus.COMPLETED
    assert record.duplicate_of is None
    assert "duplicateOf" not in result["render"]
    assert result["render"]["contentSha256"] == SHA


def test_image_without_detail_is_matched_only_exactly(
    aws: Any, staged_image: Callable[..., dict[str, Any]], archive: Callable[..., Any]
) -> None:
    # Every flat picture has the same pHash: only the content hash may call it a copy.
    completed(
        aws, "uploads/flat-blue.jpg", "2026-11-20T00:00:00.000Z", sha256=OTHER_SHA, phash=PHASH
    )
    state = with_render(staged_image(), SHA, PHASH, near_matchable=False)

    archive(state)

    assert aws.record(state["imageKey"]).duplicate_of is None


def test_a_rerun_answers_with_the_recorded_render(
    aws: Any, staged_image: Callable[..., dict[str, Any]], archive: Callable[..., Any]
) -> None:
    completed(aws, "uploads/original.jpg", "2026-11-20T00:00:00.000Z", sha256=SHA, phash=PHASH)
    state = with_render(staged_image(), SHA, PHASH)
    first = archive(state)

    again = archive(state)

    assert (
        again["render"]["duplicateOf"] == first["render"]["duplicateOf"] == "uploads/original.jpg"
    )
