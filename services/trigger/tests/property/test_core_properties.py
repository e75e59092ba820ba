"""Property tests of trigger's pure core."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, quote_plus

from hypothesis import given
from hypothesis import strategies as st

from qip_shared.enums import ImageStatus, RejectionReason, StageStatus
from qip_shared.keys import execution_name
from qip_shared.record import ImageRecord, StageInfo, Stages
from qip_shared.timeutil import TIMESTAMP_PATTERN, format_timestamp
from qip_trigger.core import (
    Action,
    candidate_keys,
    new_record,
    next_action,
    parse_event,
    pipeline_input,
    screen,
    sniff_format,
)

MAGIC = {
    "jpeg": b"\xff\xd8\xff",
    "png": b"\x89PNG\r\n\x1a\n",
    "gif87": b"GIF87a",
    "gif89": b"GIF89a",
}
IMAGE_TYPES = ["image/jpeg", "image/png", "image/gif", "image/webp"]

moments = st.datetimes(
    min_value=datetime(2001, 1, 1), max_value=datetime(2099, 1, 1), timezones=st.just(UTC)
)
key_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=60
)
etags = st.from_regex(r"[0-9a-f]{32}(-[0-9]{1,3})?", fullmatch=True)
versions = st.one_of(st.just("null"), st.from_regex(r"[A-Za-z0-9._]{8,32}", fullmatch=True))


def _event(key: str, size: int, etag: str, version: str, moment: datetime) -> dict[str, Any]:
    return {
        "source": "aws.s3",
        "detail-type": "Object Created",
        "time": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "detail": {
            "bucket": {"name": "qip-uploads"},
            "object": {"key": key, "size": size, "etag": etag, "version-id": version},
        },
    }


# Property 1: Metadata record creation with required fields — for any valid upload, the record
# carries imageKey, uploadTimestamp, size, contentType and the initial status UPLOADED, and
# survives the round trip through a DynamoDB item.
@given(
    key_text,
    st.integers(1, 10 * 1024 * 1024),
    etags,
    versions,
    moments,
    moments,
    st.sampled_from(IMAGE_TYPES),
)
def test_record_created_uploaded_with_required_fields(
    name: str,
    size: int,
    etag: str,
    version: str,
    uploaded: datetime,
    now: datetime,
    content_type: str,
) -> None:
    key = f"uploads/{name}"
    upload = parse_event(_event(key, size, etag, version, uploaded))
    record = new_record(upload, image_key=key, size=size, content_type=content_type, now=now)
    assert record.status is ImageStatus.UPLOADED
    assert record.image_key == key
    assert record.size == size
    assert record.content_type == content_type
    assert record.upload_timestamp == format_timestamp(uploaded.replace(microsecond=0))
    assert re.fullmatch(TIMESTAMP_PATTERN, record.upload_timestamp)
    assert record.execution_name == execution_name(key, version if version != "null" else etag)
    assert ImageRecord.from_item(record.to_item()) == record
    item = record.to_item()
    assert {"imageKey", "uploadTimestamp", "size", "contentType", "status"} <= item.keys()
    assert item["status"] == {"S": "UPLOADED"}
    # The execution input carries the same facts (design "StepFunctionsInput").
    started = pipeline_input(record)
    assert (started.image_key, started.size, started.content_type) == (key, size, content_type)
    assert started.upload_timestamp == record.upload_timestamp


# Property 3: Invalid file rejection — anything that does not start with a JPEG, PNG, GIF or
# WebP signature, is over the byte limit, or declares a non-image type is rejected (and a
# rejected upload is never claimed, so no execution starts: see the integration tests).
@given(
    st.binary(max_size=32),
    st.integers(1, 20 * 1024 * 1024),
    st.one_of(st.sampled_from(IMAGE_TYPES), st.text(max_size=30)),
    st.integers(1, 10 * 1024 * 1024),
)
def test_non_images_are_rejected_with_the_right_reason(
    head: bytes, size: int, content_type: str, max_bytes: int
) -> None:
    verdict = screen(size, content_type, head, max_bytes)
    is_image_type = content_type.split(";", maxsplit=1)[0].strip().lower() in IMAGE_TYPES
    if size > max_bytes:
        assert verdict is not None
        assert verdict.reason is RejectionReason.TOO_LARGE
    elif not is_image_type or sniff_format(head) is None:
        assert verdict is not None
        assert verdict.reason is RejectionReason.UNSUPPORTED_FORMAT
        assert verdict.message
    else:
        assert verdict is None


# Property 3 (converse): a real image signature with an image type within the limit is accepted.
@given(
    st.sampled_from(sorted(MAGIC)),
    st.binary(max_size=24),
    st.sampled_from(IMAGE_TYPES),
    st.integers(1, 1024),
)
def test_image_signatures_are_accepted(
    kind: str, rest: bytes, content_type: str, size: int
) -> None:
    assert screen(size, content_type, MAGIC[kind] + rest, 1024) is None
    webp = b"RIFF" + rest[:4].ljust(4, b"\x00") + b"WEBP" + rest[4:]
    assert screen(size, content_type, webp, 1024) is None


# Issue 4: event keys may arrive URL-encoded; the real key is always among the candidates,
# and the literal key is tried first.
@given(key_text)
def test_candidate_keys_recover_the_key(key: str) -> None:
    assert candidate_keys(key)[0] == key
    assert key in candidate_keys(quote_plus(key, safe="/"))
    assert key in candidate_keys(quote(key, safe="/"))


def _processing(
    arn: bool, stage: bool, claimed_offset_ms: int | None, now: datetime
) -> ImageRecord:
    claimed = (
        None
        if claimed_offset_ms is None
        else format_timestamp(now - timedelta(milliseconds=claimed_offset_ms))
    )
    stages = (
        Stages(
            validation=StageInfo(status=StageStatus.IN_PROGRESS, timestamp=format_timestamp(now))
        )
        if stage
        else Stages()
    )
    return ImageRecord(
        image_key="uploads/k.jpg",
        upload_timestamp="2026-11-26T06:40:00.000Z",
        size=1,
        content_type="image/jpeg",
        status=ImageStatus.PROCESSING,
        execution_arn="arn:aws:states:us-east-1:1:execution:m:n" if arn else None,
        stages=stages,
        claimed_at=claimed,
    )


leases = st.integers(1, 3_600_000).map(lambda ms: timedelta(milliseconds=ms))
offsets = st.one_of(st.none(), st.integers(-3_600_000, 7_200_000))


# Issue 4 (exactly once): next_action over every record a delivery can find. A delivery may
# start (claim or take over) only when no execution is recorded or running and no claim younger
# than the lease exists; it waits exactly while such a claim is in flight.
# Issue 15 (reprocess): a FAILED record whose pipeline never started (no execution recorded, no
# stage) is REPROCESSed by any delivery; a dead-letter marker changes the answer only for a FAILED
# record holding that same marker (REDRIVE); everything else is decided exactly as without it.
@given(
    st.sampled_from(list(ImageStatus)),
    st.booleans(),
    st.booleans(),
    offsets,
    leases,
    moments,
    st.booleans(),
)
def test_next_action_is_total_and_safe(
    status: ImageStatus,
    arn: bool,
    stage: bool,
    claimed_offset_ms: int | None,
    lease: timedelta,
    now: datetime,
    marked: bool,
) -> None:
    record = _processing(arn, stage, claimed_offset_ms, now).model_copy(
        update={"status": status, "dead_letter_id": "arn:dead" if marked else None}
    )
    action = next_action(record, now, lease, dead_letter="arn:dead")
    assert action is not Action.CREATE
    if status is ImageStatus.FAILED and not arn and not stage:
        assert action is Action.REPROCESS
    elif status is ImageStatus.FAILED and marked:
        assert action is Action.REDRIVE
    else:
        assert action is next_action(record, now, lease)
        assert action not in (Action.REPROCESS, Action.REDRIVE)
    if action in (Action.REPROCESS, Action.REDRIVE):
        assert status is ImageStatus.FAILED
    elif status is ImageStatus.UPLOADED:
        assert action is Action.SCREEN_AND_CLAIM
    elif status.is_terminal:
        assert action is Action.STOP_FINISHED
    elif arn or stage:
        assert action is Action.STOP_STARTED
    elif claimed_offset_ms is not None and timedelta(milliseconds=claimed_offset_ms) < lease:
        assert action is Action.WAIT
    else:
        assert action is Action.TAKE_OVER
    starts = action in (Action.SCREEN_AND_CLAIM, Action.TAKE_OVER, Action.REPROCESS)
    if starts:
        assert not arn or status is ImageStatus.UPLOADED
    assert next_action(None, now, lease, dead_letter="arn:dead") is Action.CREATE


# Issue 4: a claim that waits now is taken over once the lease has passed (no image is
# stranded in PROCESSING by a claim whose start never happened).
@given(st.integers(0, 3_600_000), leases, moments)
def test_waiting_claims_expire(claimed_offset_ms: int, lease: timedelta, now: datetime) -> None:
    record = _processing(False, False, claimed_offset_ms, now)
    if next_action(record, now, lease) is Action.WAIT:
        assert next_action(record, now + lease, lease) is Action.TAKE_OVER
