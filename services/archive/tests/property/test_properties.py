"""Property tests of archive's core."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from qip_archive.core import build_output, completion_fields, plan_archive, processing_duration
from qip_shared.keys import ARCHIVE_PREFIX, image_id_from_key, resized_key, thumbnail_key
from qip_shared.pipeline import PipelineState
from qip_shared.timeutil import format_timestamp, parse_timestamp

moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
key_names = st.one_of(
    st.uuids().map(lambda u: f"{u}.jpg"),
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"),
        min_size=1,
        max_size=40,
    ),
)
buckets = st.from_regex(r"[a-z0-9][a-z0-9-]{2,20}[a-z0-9]", fullmatch=True)


def _state(name: str, moment: datetime, resize: bool, thumb: bool) -> PipelineState:
    key = f"uploads/{moment:%Y/%m/%d}/{name}"
    processed: list[dict[str, Any]] = []
    if resize:
        processed.append(
            {"imageKey": key, "resizedKey": resized_key(key), "width": 1, "height": 1, "bytes": 1}
        )
    if thumb:
        processed.append(
            {
                "imageKey": key,
                "thumbnailKey": thumbnail_key(key),
                "width": 1,
                "height": 1,
                "bytes": 1,
            }
        )
    return PipelineState.model_validate(
        {
            "imageKey": key,
            "bucket": "up",
            "uploadTimestamp": format_timestamp(moment),
            "contentType": "image/jpeg",
            "size": 1,
            "processed": processed,
        }
    )


# Property 12: Archived location storage — every completed record carries archivedLocation, the
# S3 path of the image's archive folder, and every archived object lies under it.
@given(key_names, moments, st.booleans(), st.booleans(), buckets, st.integers(0, 10**9))
def test_archived_location_names_the_folder_holding_every_copy(
    name: str, moment: datetime, resize: bool, thumb: bool, bucket: str, duration: int
) -> None:
    state = _state(name, moment, resize, thumb)
    plan = plan_archive(state, bucket)
    fields = completion_fields(plan, duration)
    location = fields["archivedLocation"]
    expected_prefix = f"{ARCHIVE_PREFIX}{moment:%Y/%m/%d}/{image_id_from_key(state.image_key)}/"
    assert location == f"s3://{bucket}/{expected_prefix}"
    assert all(c.target_bucket == bucket for c in plan.copies)
    assert all(f"s3://{bucket}/{c.target_key}".startswith(location) for c in plan.copies)
    # Distinct targets: no copy overwrites another.
    assert len(set(plan.archived_keys)) == len(plan.copies) == 1 + resize + thumb
    assert build_output(plan, duration).to_json_dict()["archivedLocation"] == location


# Issue 3 (archive): "Only the outputs that exist in the state are copied" — the original always,
# each output exactly when its stage ran, and from the key that stage reported.
@given(key_names, moments, st.booleans(), st.booleans())
def test_copies_follow_the_selected_outputs(
    name: str, moment: datetime, resize: bool, thumb: bool
) -> None:
    state = _state(name, moment, resize, thumb)
    plan = plan_archive(state, "arch")
    sources = [c.source_key for c in plan.copies]
    assert sources[0] == state.image_key
    assert (resized_key(state.image_key) in sources) == resize
    assert (thumbnail_key(state.image_key) in sources) == thumb


# Issue 3 (archive): processingDuration is the ms from upload to completion, never negative.
@given(moments, st.integers(-(10**8), 10**10))
def test_processing_duration_is_elapsed_milliseconds(moment: datetime, delta_ms: int) -> None:
    start = format_timestamp(moment)
    end_moment = parse_timestamp(start) + timedelta(milliseconds=delta_ms)
    assert processing_duration(start, format_timestamp(end_moment)) == max(0, delta_ms)


def test_uuid_keys_use_the_uuid_as_folder() -> None:
    image_uuid = uuid.uuid4()
    state = _state(f"{image_uuid}.png", datetime(2026, 1, 2, tzinfo=UTC), False, False)
    plan = plan_archive(state, "arch")
    assert plan.prefix == f"archive/2026/01/02/{image_uuid}/"
    assert plan.archived_keys == [f"archive/2026/01/02/{image_uuid}/original.png"]
