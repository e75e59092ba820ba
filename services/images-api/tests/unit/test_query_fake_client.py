"""`qip_images_api.query` against a fake DynamoDB client: bounds, requests, tokens, paging.

The fake answers GetItem and GSI Query the way DynamoDB does for this key schema (order by
status, uploadTimestamp, then table key; Limit; ExclusiveStartKey); the moto tests in
`tests/integration/test_query_moto.py` check the same module against moto's DynamoDB.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from qip_images_api.query import (
    EARLIEST,
    LATEST,
    ImageQuery,
    lower_bound,
    upper_bound,
)
from qip_images_api.tokens import InvalidTokenError
from qip_shared.enums import ImageStatus
from qip_shared.record import STATUS_INDEX_NAME, ImageRecord
from qip_shared.timeutil import format_timestamp

BASE = datetime(2025, 11, 30, 12, 0, 0, tzinfo=UTC)


class FakeDynamo:
    """An in-memory table with the status-uploadTimestamp GSI; records every request."""

    def __init__(self, records: list[ImageRecord] = ()) -> None:
        self.items = {record.image_key: record.to_item() for record in records}
        self.requests: list[tuple[str, dict[str, Any]]] = []

    def get_item(self, **request: Any) -> dict[str, Any]:
        self.requests.append(("get_item", request))
        item = self.items.get(request["Key"]["imageKey"]["S"])
        return {"Item": item} if item else {}

    def query(self, **request: Any) -> dict[str, Any]:
        self.requests.append(("query", request))
        assert request["IndexName"] == STATUS_INDEX_NAME
        assert request["KeyConditionExpression"] == (
            "#status = :status AND #uploaded BETWEEN :low AND :high"
        )
        values = request["ExpressionAttributeValues"]
        status, low, high = (values[name]["S"] for name in (":status", ":low", ":high"))
        assert low <= high, "DynamoDB rejects BETWEEN with low > high"

        def sort_key(item: dict[str, Any]) -> tuple[str, str]:
            return item["uploadTimestamp"]["S"], item["imageKey"]["S"]

        matching = sorted(
            (
                item
                for item in self.items.values()
                if item["status"]["S"] == status and low <= item["uploadTimestamp"]["S"] <= high
            ),
            key=sort_key,
        )
        start = request.get("ExclusiveStartKey")
        if start:
            after = (start["uploadTimestamp"]["S"], start["imageKey"]["S"])
            matching = [item for item in matching if sort_key(item) > after]
        limit = request["Limit"]
        page = matching[:limit]
        response: dict[str, Any] = {"Items": page}
        if len(matching) > limit:
            last = page[-1]
            response["LastEvaluatedKey"] = {
                name: last[name] for name in ("imageKey", "status", "uploadTimestamp")
            }
        return response

    def queries(self) -> list[dict[str, Any]]:
        return [request for kind, request in self.requests if kind == "query"]


def record(key: str, status: ImageStatus, moment: datetime) -> ImageRecord:
    return ImageRecord(
        image_key=key,
        upload_timestamp=format_timestamp(moment),
        size=100,
        content_type="image/png",
        status=status,
    )


# --- bounds -------------------------------------------------------------------------------


def test_bounds_round_inward_to_the_millisecond() -> None:
    moment = datetime(2025, 1, 2, 3, 4, 5, 123_400, tzinfo=UTC)
    assert lower_bound(moment) == "2025-01-02T03:04:05.124Z"
    assert upper_bound(moment) == "2025-01-02T03:04:05.123Z"
    exact = moment.replace(microsecond=123_000)
    assert lower_bound(exact) == upper_bound(exact) == "2025-01-02T03:04:05.123Z"


def test_bounds_carry_across_a_second() -> None:
    moment = datetime(2025, 12, 31, 23, 59, 59, 999_001, tzinfo=UTC)
    assert lower_bound(moment) == "2026-01-01T00:00:00.000Z"


def test_bounds_convert_to_utc() -> None:
    moment = datetime(2025, 1, 1, 20, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert lower_bound(moment) == "2025-01-02T01:00:00.000Z"


def test_a_date_means_the_whole_utc_day() -> None:
    assert lower_bound(date(2025, 2, 3)) == "2025-02-03T00:00:00.000Z"
    assert upper_bound(date(2025, 2, 3)) == "2025-02-03T23:59:59.999Z"


def test_open_bounds() -> None:
    assert (lower_bound(None), upper_bound(None)) == (EARLIEST, LATEST)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        lower_bound(datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        upper_bound(datetime(2025, 1, 1))


# --- get ----------------------------------------------------------------------------------


def test_get_returns_the_record_or_none() -> None:
    stored = record("uploads/a.png", ImageStatus.COMPLETED, BASE)
    fake = FakeDynamo([stored])
    query = ImageQuery(fake, "images")
    assert query.get("uploads/a.png") == stored
    assert query.get("uploads/missing.png") is None
    kind, request = fake.requests[0]
    assert kind == "get_item"
    assert request == {
        "TableName": "images",
        "Key": {"imageKey": {"S": "uploads/a.png"}},
        "ConsistentRead": True,
    }


# --- queries ------------------------------------------------------------------------------


def test_status_query_uses_the_gsi_with_between() -> None:
    fake = FakeDynamo()
    page = ImageQuery(fake, "images").page_by_status(
        ImageStatus.FAILED, BASE, BASE + timedelta(days=1), page_size=7
    )
    assert page.records == ()
    assert page.next_token is None
    (request,) = fake.queries()
    assert request["TableName"] == "images"
    assert request["IndexName"] == STATUS_INDEX_NAME
    assert request["ExpressionAttributeNames"] == {
        "#status": "status",
        "#uploaded": "uploadTimestamp",
    }
    assert request["ExpressionAttributeValues"] == {
        ":status": {"S": "FAILED"},
        ":low": {"S": "2025-11-30T12:00:00.000Z"},
        ":high": {"S": "2025-12-01T12:00:00.000Z"},
    }
    assert request["Limit"] == 8
    assert "ExclusiveStartKey" not in request


def test_status_accepts_its_string_value() -> None:
    fake = FakeDynamo([record("k", ImageStatus.REJECTED, BASE)])
    assert [r.image_key for r in ImageQuery(fake, "t").page_by_status("REJECTED").records] == ["k"]
    with pytest.raises(ValueError):
        ImageQuery(fake, "t").page_by_status("LOST")


def test_range_query_asks_every_status_and_never_scans() -> None:
    fake = FakeDynamo()
    ImageQuery(fake, "images").page_in_range(BASE, BASE)
    asked = [request["ExpressionAttributeValues"][":status"]["S"] for request in fake.queries()]
    assert sorted(asked) == sorted(status.value for status in ImageStatus)
    assert all(kind != "scan" for kind, _ in fake.requests)


def test_an_empty_range_asks_nothing() -> None:
    fake = FakeDynamo([record("k", ImageStatus.UPLOADED, BASE)])
    query = ImageQuery(fake, "images")
    # Between two milliseconds: no record timestamp can be in it.
    start = BASE + timedelta(microseconds=100)
    page = query.page_in_range(start, start + timedelta(microseconds=500))
    assert (page.records, page.next_token) == ((), None)
    assert query.page_by_status("UPLOADED", BASE, BASE - timedelta(seconds=1)).records == ()
    assert fake.requests == []


def test_range_results_are_merged_by_upload_time() -> None:
    records = [
        record("a", ImageStatus.COMPLETED, BASE + timedelta(seconds=3)),
        record("b", ImageStatus.UPLOADED, BASE + timedelta(seconds=1)),
        record("c", ImageStatus.FAILED, BASE + timedelta(seconds=2)),
        record("d", ImageStatus.COMPLETED, BASE),
        record("e", ImageStatus.REJECTED, BASE + timedelta(seconds=9)),
    ]
    query = ImageQuery(FakeDynamo(records), "images")
    page = query.page_in_range(BASE, BASE + timedelta(seconds=5))
    assert [r.image_key for r in page.records] == ["d", "b", "c", "a"]
    assert page.next_token is None


def test_equal_timestamps_order_by_status_then_index_order() -> None:
    records = [
        record("z", ImageStatus.UPLOADED, BASE),
        record("y", ImageStatus.PROCESSING, BASE),
        record("x", ImageStatus.UPLOADED, BASE),
    ]
    page = ImageQuery(FakeDynamo(records), "t").page_in_range(page_size=10)
    assert [r.image_key for r in page.records] == ["x", "z", "y"]


def test_pages_cover_everything_once_with_no_empty_trailing_page() -> None:
    records = [
        record(f"k{i:02d}", list(ImageStatus)[i % 5], BASE + timedelta(seconds=i // 3))
        for i in range(12)
    ]
    query = ImageQuery(FakeDynamo(records), "t")
    pages = list(query.pages_in_range(page_size=4))
    assert [len(page.records) for page in pages] == [4, 4, 4]
    assert [page.next_token is None for page in pages] == [False, False, True]
    keys = [r.image_key for page in pages for r in page.records]
    assert sorted(keys) == sorted(r.image_key for r in records)
    stamps = [r.upload_timestamp for page in pages for r in page.records]
    assert stamps == sorted(stamps)


def test_a_token_resumes_from_another_instance() -> None:
    records = [
        record(f"k{i}", ImageStatus.COMPLETED, BASE + timedelta(seconds=i)) for i in range(5)
    ]
    fake = FakeDynamo(records)
    first = ImageQuery(fake, "t").page_by_status("COMPLETED", page_size=2)
    assert [r.image_key for r in first.records] == ["k0", "k1"]
    asked_before = len(fake.queries())
    rest = list(
        ImageQuery(fake, "t").pages_by_status("COMPLETED", page_size=2, token=first.next_token)
    )
    assert [[r.image_key for r in page.records] for page in rest] == [["k2", "k3"], ["k4"]]
    # The resumed query starts after the last record the first page returned.
    resumed = fake.queries()[asked_before]
    assert resumed["ExclusiveStartKey"] == {
        "imageKey": {"S": "k1"},
        "status": {"S": "COMPLETED"},
        "uploadTimestamp": {"S": format_timestamp(BASE + timedelta(seconds=1))},
    }


def test_iterating_pages_does_not_fetch_items_twice() -> None:
    records = [
        record(f"k{i:02d}", list(ImageStatus)[i % 5], BASE + timedelta(seconds=i))
        for i in range(40)
    ]
    fake = FakeDynamo(records)
    pages = list(ImageQuery(fake, "t").pages_in_range(page_size=3))
    assert sum(len(page.records) for page in pages) == 40
    fetched = sum(
        len(FakeDynamo.query(FakeDynamo(records), **request)["Items"]) for request in fake.queries()
    )
    assert fetched == 40


def test_finished_statuses_are_not_asked_again() -> None:
    records = [record("only", ImageStatus.FAILED, BASE - timedelta(seconds=1))] + [
        record(f"c{i}", ImageStatus.COMPLETED, BASE + timedelta(seconds=i)) for i in range(4)
    ]
    fake = FakeDynamo(records)
    query = ImageQuery(fake, "t")
    first = query.page_in_range(page_size=2)
    fake.requests.clear()
    second = query.page_in_range(page_size=2, token=first.next_token)
    asked = {request["ExpressionAttributeValues"][":status"]["S"] for request in fake.queries()}
    assert asked == {"COMPLETED"}
    assert [r.image_key for r in first.records + second.records] == ["only", "c0", "c1", "c2"]


@pytest.mark.parametrize("page_size", [0, -1, 1001])
def test_page_size_is_bounded(page_size: int) -> None:
    query = ImageQuery(FakeDynamo(), "t")
    with pytest.raises(ValueError, match="page_size"):
        query.page_in_range(page_size=page_size)
    with pytest.raises(ValueError, match="page_size"):
        query.pages_by_status("FAILED", page_size=page_size)


@pytest.mark.parametrize("token", ["", "!!!", "bm90IGpzb24", "e30", "W10", "eyJ2IjoyfQ"])
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(InvalidTokenError):
        ImageQuery(FakeDynamo(), "t").page_in_range(token=token)


def test_a_token_only_continues_its_own_query() -> None:
    records = [record(f"k{i}", ImageStatus.FAILED, BASE + timedelta(seconds=i)) for i in range(4)]
    query = ImageQuery(FakeDynamo(records), "t")
    token = query.page_by_status("FAILED", BASE, page_size=1).next_token
    assert token is not None
    with pytest.raises(InvalidTokenError, match="different query"):
        query.page_by_status("COMPLETED", BASE, token=token)
    with pytest.raises(InvalidTokenError, match="different query"):
        query.page_by_status("FAILED", BASE + timedelta(seconds=1), token=token)
    with pytest.raises(InvalidTokenError, match="different query"):
        query.page_in_range(BASE, token=token)
    # Same query, another page size: allowed.
    assert len(query.page_by_status("FAILED", BASE, page_size=3, token=token).records) == 3


def test_a_tampered_cursor_is_refused() -> None:
    records = [record(f"k{i}", ImageStatus.FAILED, BASE + timedelta(seconds=i)) for i in range(3)]
    query = ImageQuery(FakeDynamo(records), "t")
    token = query.page_by_status(
        "FAILED", BASE, BASE + timedelta(seconds=5), page_size=1
    ).next_token
    payload = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    payload["c"]["FAILED"][0] = "2099-01-01T00:00:00.000Z"
    forged = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()
    with pytest.raises(InvalidTokenError):
        query.page_by_status("FAILED", BASE, BASE + timedelta(seconds=5), token=forged)
