"""images-api core: request parsing, the ownership rule, the shape of an answer."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from qip_images_api import core
from qip_images_api.errors import ImageNotFoundError
from qip_shared.enums import ImageStatus, StageStatus
from qip_shared.errors import BadRequestError
from qip_shared.record import ImageRecord, StageInfo, Stages

KEY = "uploads/2026/11/26/0b8f2f0e-4a43-4d1c-9a52-6f0e4f7c2d11.jpg"
STAMP = "2026-11-26T06:40:00.000Z"


def _record(owner: str | None = "alice", **extra: object) -> ImageRecord:
    return ImageRecord(
        image_key=KEY,
        upload_timestamp=STAMP,
        size=1,
        content_type="image/jpeg",
        status=ImageStatus.COMPLETED,
        owner=owner,
        **extra,
    )


@pytest.mark.parametrize(
    ("path", "key"),
    [(f"/images/{KEY}", KEY), ("/images/uploads%2F2026%2Fa.jpg", "uploads/2026/a.jpg")],
)
def test_image_key_from_path(path: str, key: str) -> None:
    assert core.image_key_from_path(path) == key


@pytest.mark.parametrize(
    "path", ["/images/processed/x.jpg", "/images/", "/images/uploads/../x", "/other/uploads/a"]
)
def test_paths_outside_the_uploads_are_not_found(path: str) -> None:
    with pytest.raises(ImageNotFoundError):
        core.image_key_from_path(path)


def test_parse_list_request() -> None:
    request = core.parse_list_request(
        {"status": "failed", "since": "2026-11-01", "until": "2026-11-02T10:00:00", "limit": "7"}
    )
    assert request.status is ImageStatus.FAILED
    assert request.since == date(2026, 11, 1)
    assert request.until == datetime(2026, 11, 2, 10, tzinfo=UTC)
    assert request.limit == 7
    assert request.token is None
    assert core.parse_list_request({}).limit == core.DEFAULT_LIMIT


@pytest.mark.parametrize(
    "params",
    [
        {"status": "LOST"},
        {"since": "soon"},
        {"limit": "-1"},
        {"limit": "101"},
        {"limit": "x"},
        {"nextToken": "t" * 5000},
    ],
)
def test_bad_list_requests(params: dict[str, str]) -> None:
    with pytest.raises(BadRequestError):
        core.parse_list_request(params)


def test_only_the_owner_sees_a_record() -> None:
    record = _record("alice")
    assert core.owned(record, "alice") is record
    for caller, found in (("bob", record), ("alice", None), ("alice", _record(None))):
        with pytest.raises(ImageNotFoundError):
            core.owned(found, caller)


def test_output_keys_only_for_completed_stages() -> None:
    done = StageInfo(status=StageStatus.COMPLETED, timestamp=STAMP)
    running = StageInfo(status=StageStatus.IN_PROGRESS, timestamp=STAMP)
    record = _record(
        resized_key="processed/a/resized.jpg",
        thumbnail_key="processed/a/thumbnail.jpg",
        stages=Stages(resize=done, thumbnail=running),
    )
    assert core.output_keys(record) == {"resized": "processed/a/resized.jpg"}
    assert core.output_keys(_record()) == {}


def test_image_body_hides_the_bookkeeping() -> None:
    record = _record(
        execution_arn="arn:x",
        claimed_at=STAMP,
        dead_letter_id="arn:x",
        bucket="b",
        resized_key="processed/a/resized.jpg",
        stages=Stages(resize=StageInfo(status=StageStatus.COMPLETED, timestamp=STAMP)),
    )
    body = core.image_body(record, {"resized": "https://signed"}, expires_in=60)
    assert body["imageKey"] == KEY
    assert not set(core.PRIVATE_FIELDS) & set(body)
    assert body["outputs"] == {
        "resized": {"key": "processed/a/resized.jpg", "url": "https://signed", "expiresIn": 60}
    }
    assert core.list_body([body], None) == {"images": [body], "nextToken": None}
