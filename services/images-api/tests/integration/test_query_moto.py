"""`qip_images_api.query` against moto's DynamoDB, with the table's real GSI (Property 9)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from hypothesis import given
from hypothesis import strategies as st
from moto import mock_aws

from qip_images_api.query import ImageQuery, Page
from qip_shared.enums import ImageStatus, StageStatus
from qip_shared.record import (
    STATUS_INDEX_NAME,
    STATUS_INDEX_PARTITION_KEY,
    STATUS_INDEX_SORT_KEY,
    TABLE_PARTITION_KEY,
    ImageRecord,
    StageInfo,
    Stages,
)
from qip_shared.timeutil import format_timestamp, parse_timestamp

TABLE = "qip-query-test"
BASE = datetime(2025, 11, 30, 23, 59, 58, tzinfo=UTC)


@pytest.fixture(scope="module")
def dynamodb() -> Iterator[Any]:
    """moto DynamoDB with the image table and its status-uploadTimestamp GSI, once per module."""
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName=TABLE,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": TABLE_PARTITION_KEY, "AttributeType": "S"},
                {"AttributeName": STATUS_INDEX_PARTITION_KEY, "AttributeType": "S"},
                {"AttributeName": STATUS_INDEX_SORT_KEY, "AttributeType": "S"},
            ],
            KeySchema=[{"AttributeName": TABLE_PARTITION_KEY, "KeyType": "HASH"}],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": STATUS_INDEX_NAME,
                    "KeySchema": [
                        {"AttributeName": STATUS_INDEX_PARTITION_KEY, "KeyType": "HASH"},
                        {"AttributeName": STATUS_INDEX_SORT_KEY, "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
        )
        yield client


def replace_items(client: Any, records: list[ImageRecord]) -> None:
    """Empty the table (a test-side scan) and write `records`."""
    keys = [
        item[TABLE_PARTITION_KEY]
        for page in client.get_paginator("scan").paginate(
            TableName=TABLE, ProjectionExpression=TABLE_PARTITION_KEY
        )
        for item in page["Items"]
    ]
    deletes = [{"DeleteRequest": {"Key": {TABLE_PARTITION_KEY: key}}} for key in keys]
    puts = [{"PutRequest": {"Item": record.to_item()}} for record in records]
    # Deletes first, in their own batches: one batch may not name a key twice.
    for writes in (deletes, puts):
        for start in range(0, len(writes), 25):
            client.batch_write_item(RequestItems={TABLE: writes[start : start + 25]})


@pytest.fixture
def table(dynamodb: Any) -> Any:
    """The module's table, emptied for this test."""
    replace_items(dynamodb, [])
    return dynamodb


def make_record(key: str, status: ImageStatus, moment: datetime, **extra: Any) -> ImageRecord:
    return ImageRecord(
        image_key=key,
        upload_timestamp=format_timestamp(moment),
        size=1234,
        content_type="image/jpeg",
        status=status,
        **extra,
    )


def flatten(pages: Iterator[Page]) -> list[ImageRecord]:
    return [record for page in pages for record in page.records]


# --- examples ------------------------------------------------------------------------------


def test_get_by_key_round_trips_a_full_record(table) -> None:
    stamp = format_timestamp(BASE)
    full = make_record(
        "uploads/2025/11/30/a.jpg",
        ImageStatus.COMPLETED,
        BASE,
        stages=Stages(
            validation=StageInfo(
                status=StageStatus.COMPLETED, timestamp=stamp, completed_at=stamp, duration_ms=5
            )
        ),
        archived_location="s3://archive/archive/2025/11/30/a/",
        processing_duration=1200,
    )
    replace_items(table, [full])
    query = ImageQuery(table, TABLE)
    assert query.get(full.image_key) == full
    assert query.get("uploads/none.jpg") is None


def test_status_and_range_select_exactly(table) -> None:
    records = [
        make_record("early", ImageStatus.FAILED, BASE - timedelta(milliseconds=1)),
        make_record("start", ImageStatus.FAILED, BASE),
        make_record("middle", ImageStatus.FAILED, BASE + timedelta(hours=1)),
        make_record("other-status", ImageStatus.COMPLETED, BASE + timedelta(hours=1)),
        make_record("end", ImageStatus.FAILED, BASE + timedelta(days=1)),
        make_record("late", ImageStatus.FAILED, BASE + timedelta(days=1, milliseconds=1)),
    ]
    replace_items(table, records)
    query = ImageQuery(table, TABLE)
    got = flatten(query.pages_by_status("FAILED", BASE, BASE + timedelta(days=1), page_size=2))
    assert [r.image_key for r in got] == ["start", "middle", "end"]
    everything = flatten(query.pages_in_range(BASE, BASE + timedelta(days=1), page_size=2))
    # Equal upload times: COMPLETED sorts before FAILED (status order).
    assert [r.image_key for r in everything] == ["start", "other-status", "middle", "end"]


def test_upload_date_range_by_day(table) -> None:
    records = [
        make_record("nov30", ImageStatus.UPLOADED, BASE),
        make_record("dec01", ImageStatus.PROCESSING, BASE + timedelta(seconds=2)),
    ]
    replace_items(table, records)
    query = ImageQuery(table, TABLE)
    by_day = flatten(query.pages_in_range(BASE.date(), BASE.date()))
    assert [r.image_key for r in by_day] == ["nov30"]


def test_no_scan_is_used(table) -> None:
    replace_items(table, [make_record("k", ImageStatus.UPLOADED, BASE)])
    operations: list[str] = []

    def record_operation(model, **kwargs) -> None:
        operations.append(model.name)

    table.meta.events.register("before-call.dynamodb", record_operation)
    try:
        query = ImageQuery(table, TABLE)
        query.get("k")
        flatten(query.pages_in_range())
        flatten(query.pages_by_status("UPLOADED"))
    finally:
        table.meta.events.unregister("before-call.dynamodb", record_operation)
    assert set(operations) == {"GetItem", "Query"}


def test_pages_across_many_ties(table) -> None:
    # 30 records sharing 3 timestamps across all statuses: paging must not lose or repeat any.
    statuses = list(ImageStatus)
    records = [
        make_record(f"k{i:02d}", statuses[i % 5], BASE + timedelta(milliseconds=i % 3))
        for i in range(30)
    ]
    replace_items(table, records)
    query = ImageQuery(table, TABLE)
    for page_size in (1, 4, 7, 30, 31):
        pages = list(query.pages_in_range(page_size=page_size))
        got = [r.image_key for page in pages for r in page.records]
        assert sorted(got) == sorted(r.image_key for r in records)
        assert len(got) == len(set(got))
        assert all(len(page.records) == page_size for page in pages[:-1])
        assert pages[-1].next_token is None


# --- Property 9 ----------------------------------------------------------------------------

KEY_NAMES = st.text(alphabet="ab/._-0", min_size=1, max_size=6).map(lambda s: f"uploads/{s}")
# A 30 ms window at a day boundary: small, so equal timestamps (ties) are frequent.
MOMENTS = st.integers(min_value=0, max_value=30).map(lambda n: BASE + timedelta(milliseconds=n))
RECORDS = st.lists(
    st.builds(
        make_record,
        key=KEY_NAMES,
        status=st.sampled_from(ImageStatus),
        moment=MOMENTS,
    ),
    max_size=14,
    unique_by=lambda record: record.image_key,
)
# Bounds at microsecond resolution around the window (exercise the millisecond rounding).
BOUNDS = st.one_of(
    st.none(),
    st.integers(min_value=-2_000, max_value=32_000).map(
        lambda us: BASE + timedelta(microseconds=us)
    ),
)
QUERIES = st.one_of(
    st.tuples(st.just("key"), KEY_NAMES),
    st.tuples(
        st.just("status"),
        st.sampled_from(ImageStatus),
        BOUNDS,
        BOUNDS,
        st.integers(min_value=1, max_value=5),
    ),
    st.tuples(st.just("range"), BOUNDS, BOUNDS, st.integers(min_value=1, max_value=5)),
)


def in_range(record: ImageRecord, start: datetime | None, end: datetime | None) -> bool:
    moment = parse_timestamp(record.upload_timestamp)
    return (start is None or start <= moment) and (end is None or moment <= end)


def check_pages(pages: list[Page], page_size: int) -> list[ImageRecord]:
    """Page invariants: full pages but the last, a token on all but the last, time order."""
    assert all(len(page.records) == page_size for page in pages[:-1])
    assert all(page.next_token is not None for page in pages[:-1])
    assert not pages or pages[-1].next_token is None
    assert all(page.records for page in pages)
    got = [record for page in pages for record in page.records]
    stamps = [record.upload_timestamp for record in got]
    assert stamps == sorted(stamps)
    return got


# Property 9: Query support by multiple fields — for any query to the Metadata Store by
# imageKey, upload date range, or status, the system returns all matching records (and only
# those, each once, across pages; a token resumes the same query from another instance).
@given(records=RECORDS, spec=QUERIES, pick_key=st.booleans())
def test_property_9_query_returns_exactly_the_matching_records(
    dynamodb, records, spec, pick_key
) -> None:
    replace_items(dynamodb, records)
    query = ImageQuery(dynamodb, TABLE)
    if spec[0] == "key":
        key = records[0].image_key if pick_key and records else spec[1]
        expected = [record for record in records if record.image_key == key]
        got = query.get(key)
        assert ([got] if got else []) == expected
        return
    if spec[0] == "status":
        _, status, start, end, page_size = spec
        expected = [r for r in records if r.status is status and in_range(r, start, end)]
        pages = list(query.pages_by_status(status, start, end, page_size=page_size))
        resume = lambda token: query.pages_by_status(  # noqa: E731
            status, start, end, page_size=page_size, token=token
        )
    else:
        _, start, end, page_size = spec
        expected = [r for r in records if in_range(r, start, end)]
        pages = list(query.pages_in_range(start, end, page_size=page_size))
        resume = lambda token: ImageQuery(dynamodb, TABLE).pages_in_range(  # noqa: E731
            start, end, page_size=page_size, token=token
        )
    got = check_pages(pages, page_size)
    assert sorted(got, key=lambda r: r.image_key) == sorted(expected, key=lambda r: r.image_key)
    if len(pages) > 1:
        rest = [record for page in resume(pages[0].next_token) for record in page.records]
        assert rest == got[page_size:]
