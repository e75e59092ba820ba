"""Property tests of the shared contracts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from qip_shared.dynamo import from_attribute_value, to_attribute_value
from qip_shared.enums import TERMINAL_STATUSES, ImageStatus, StageStatus
from qip_shared.keys import execution_name, image_id_from_key, resized_key
from qip_shared.record import ImageRecord, StageInfo, Stages
from qip_shared.timeutil import format_timestamp
from qip_shared.transitions import STATUS_TRANSITIONS, can_transition

moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)
)
timestamps = moments.map(format_timestamp)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


def _model(model: type) -> object:
    # Pydantic's signature uses the camelCase aliases; build from field names instead.
    return lambda **fields: model.model_validate(fields)  # type: ignore[attr-defined]


stage_infos = st.builds(
    _model(StageInfo),
    status=st.sampled_from(StageStatus),
    timestamp=timestamps,
    duration_ms=st.none() | st.integers(min_value=0, max_value=10**9),
    error_message=st.none() | st.text(max_size=50),
    width=st.none() | st.integers(min_value=1, max_value=70000),
)
records = st.builds(
    _model(ImageRecord),
    image_key=st.text(min_size=1, max_size=60),
    upload_timestamp=timestamps,
    size=st.integers(min_value=0, max_value=10**12),
    content_type=st.sampled_from(["image/jpeg", "image/png", "text/plain"]),
    status=st.sampled_from(ImageStatus),
    stages=st.builds(
        _model(Stages),
        validation=st.none() | stage_infos,
        metadata=st.none() | stage_infos,
        resize=st.none() | stage_infos,
    ),
    archived_location=st.none() | st.text(max_size=40),
    processing_duration=st.none() | st.integers(min_value=0, max_value=10**9),
    ttl=st.none() | st.integers(min_value=0, max_value=2**40),
)


# Design data model (ImageMetadata item): conversion to and from a DynamoDB item is lossless.
@given(records)
def test_record_item_round_trip_is_lossless(record: ImageRecord) -> None:
    assert ImageRecord.from_item(record.to_item()) == record


# Design data model: any JSON-like value survives the attribute-value encoding unchanged.
@given(json_values)
def test_attribute_value_round_trip(value: object) -> None:
    assert from_attribute_value(to_attribute_value(value)) == value


# Property 9 (query by upload date) depends on it: timestamp text order equals time order.
@given(moments, moments)
def test_timestamp_text_sorts_like_time(a: datetime, b: datetime) -> None:
    a, b = (
        a.replace(microsecond=a.microsecond // 1000 * 1000),
        b.replace(microsecond=b.microsecond // 1000 * 1000),
    )
    assert (format_timestamp(a) < format_timestamp(b)) == (a < b)


# Property 4: status never skips or moves backwards; terminal statuses have no way out
# (but for the explicit reprocess of FAILED).
@given(st.lists(st.sampled_from(ImageStatus), min_size=1, max_size=8))
def test_no_path_moves_backwards(path: list[ImageStatus]) -> None:
    order = {
        ImageStatus.UPLOADED: 0,
        ImageStatus.PROCESSING: 1,
        ImageStatus.COMPLETED: 2,
        ImageStatus.FAILED: 2,
        ImageStatus.REJECTED: 2,
    }
    current: ImageStatus | None = None
    for target in path:
        if can_transition(current, target):
            if current is not None:
                assert order[target] == order[current] + 1 or (
                    current is ImageStatus.UPLOADED and target is ImageStatus.REJECTED
                )
                assert current not in TERMINAL_STATUSES
            current = target
    for terminal in TERMINAL_STATUSES:
        assert all(terminal not in sources for sources in STATUS_TRANSITIONS.values())


# Upload keys (issue 8): whatever the key, derived ids and output keys cannot escape processed/.
@given(st.text(min_size=1, max_size=300))
def test_derived_keys_stay_in_their_prefix(image_key: str) -> None:
    image_id = image_id_from_key(image_key)
    assert "/" not in image_id
    assert ".." not in image_id
    assert resized_key(image_key).startswith("processed/")
    assert resized_key(image_key).count("/") == 2


# Issue 4 (exactly one execution per object version): names are legal, stable and distinct.
@given(st.text(min_size=1, max_size=300), st.text(max_size=40), st.text(max_size=40))
def test_execution_names(image_key: str, v1: str, v2: str) -> None:
    name = execution_name(image_key, v1)
    assert 1 <= len(name) <= 80
    assert all(c.isascii() and (c.isalnum() or c in "-_") for c in name)
    assert name == execution_name(image_key, v1)
    if v1 != v2:
        assert name != execution_name(image_key, v2)


def test_moments_strategy_has_timezone() -> None:
    assert format_timestamp(datetime(2020, 1, 1, tzinfo=UTC) + timedelta(0)).endswith("Z")
