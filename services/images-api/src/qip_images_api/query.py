"""Read side of the image table (Requirement 5.3, design Property 9): one implementation for the
images API, the `qip` CLI and the dashboard.

`ImageQuery` answers four questions without a table Scan:

- one image by key (`get`, a GetItem),
- images with one status uploaded within a date range (a Query on the
  `status-uploadTimestamp-index` GSI: `status = :s AND uploadTimestamp BETWEEN :lo AND :hi`),
- all images uploaded within a date range (one such Query per status, merged by
  uploadTimestamp),
- one owner's images uploaded within a date range, optionally of one status (a Query on the
  sparse `owner-uploadTimestamp-index` GSI; the status is a filter on that owner's items).

Range results come in pages (`page_*` returns one `Page`, `pages_*` iterates until the end);
a page's `next_token` is an opaque string that continues the same query, and is None on the
last page. Ranges are inclusive; datetimes must be timezone-aware (a `date` means that whole
UTC day); `None` leaves that end open. Results are ordered by uploadTimestamp (ties: by status,
then in index order).

Lives in the images-api service (not `qip_shared`) because it performs I/O through a boto3 client
the caller passes in; it imports no boto3 itself. `qip_local` uses it from here.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from qip_images_api.tokens import decode_token, encode_token, scope_of
from qip_shared.enums import ImageStatus
from qip_shared.record import (
    OWNER_INDEX_NAME,
    OWNER_INDEX_PARTITION_KEY,
    STATUS_INDEX_NAME,
    STATUS_INDEX_PARTITION_KEY,
    STATUS_INDEX_SORT_KEY,
    TABLE_PARTITION_KEY,
    ImageRecord,
)
from qip_shared.timeutil import format_timestamp

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
# Lexical extremes of the fixed-width timestamp format, for open-ended ranges.
EARLIEST = "0000-01-01T00:00:00.000Z"
LATEST = "9999-12-31T23:59:59.999Z"
_STATUS_ORDER = {status: position for position, status in enumerate(ImageStatus)}

Moment = datetime | date | None
Item = dict[str, Any]


@dataclass(frozen=True)
class Page:
    """One page of records and the token continuing the query (None when it is done)."""

    records: tuple[ImageRecord, ...]
    next_token: str | None


def lower_bound(start: Moment) -> str:
    """The smallest record timestamp at or after `start` (rounded up to the millisecond)."""
    if start is None:
        return EARLIEST
    if not isinstance(start, datetime):
        return format_timestamp(datetime.combine(start, time.min, tzinfo=UTC))
    if start.tzinfo is None:
        raise ValueError("range bounds must be timezone-aware")
    # Record timestamps have millisecond precision: a bound between two ms is the next one.
    spare = start.microsecond % 1000
    return format_timestamp(start + timedelta(microseconds=1000 - spare) if spare else start)


def upper_bound(end: Moment) -> str:
    """The largest record timestamp at or before `end` (rounded down to the millisecond)."""
    if end is None:
        return LATEST
    if not isinstance(end, datetime):
        return format_timestamp(datetime.combine(end, time.max, tzinfo=UTC))
    if end.tzinfo is None:
        raise ValueError("range bounds must be timezone-aware")
    return format_timestamp(end)


# The stream of one owner's records (its cursor is kept under this name in a token).
_OWNER_STREAM = "owner"


@dataclass(frozen=True)
class _Partition:
    """One GSI partition to walk: its index, key attribute and value, and an optional filter."""

    name: str  # the stream's name in a token: a status value, or `_OWNER_STREAM`
    index_name: str
    attribute: str
    value: str
    order: int = 0
    status_filter: ImageStatus | None = None


class _IndexStream:
    """One GSI partition's records within a range, in index order, fetched a chunk at a time."""

    def __init__(
        self,
        query: ImageQuery,
        partition: _Partition,
        low: str,
        high: str,
        *,
        cursor: tuple[str, str] | None,
        chunk: int,
    ) -> None:
        self._query = query
        self.partition = partition
        self._low = low
        self._high = high
        self._chunk = chunk
        self._start_key = _start_key(partition, cursor) if cursor else None
        self._buffer: deque[Item] = deque()
        self._exhausted = False
        self.cursor = cursor

    @property
    def name(self) -> str:
        """The stream's name in a token."""
        return self.partition.name

    def head(self) -> Item | None:
        """The next record's item without taking it (fetches when the buffer is empty)."""
        while not self._buffer and not self._exhausted:
            self._fetch()
        return self._buffer[0] if self._buffer else None

    def take(self) -> Item:
        """Take the next item; the cursor moves past it."""
        item = self._buffer.popleft()
        self.cursor = (item[STATUS_INDEX_SORT_KEY]["S"], item[TABLE_PARTITION_KEY]["S"])
        return item

    def _fetch(self) -> None:
        partition = self.partition
        placeholder = "#status" if partition.attribute == STATUS_INDEX_PARTITION_KEY else "#owner"
        value = ":status" if placeholder == "#status" else ":owner"
        request: dict[str, Any] = {
            "TableName": self._query.table_name,
            "IndexName": partition.index_name,
            "KeyConditionExpression": (
                f"{placeholder} = {value} AND #uploaded BETWEEN :low AND :high"
            ),
            "ExpressionAttributeNames": {
                placeholder: partition.attribute,
                "#uploaded": STATUS_INDEX_SORT_KEY,
            },
            "ExpressionAttributeValues": {
                value: {"S": partition.value},
                ":low": {"S": self._low},
                ":high": {"S": self._high},
            },
            "Limit": self._chunk,
        }
        if partition.status_filter is not None:
            request["FilterExpression"] = "#fstatus = :fstatus"
            request["ExpressionAttributeNames"]["#fstatus"] = STATUS_INDEX_PARTITION_KEY
            request["ExpressionAttributeValues"][":fstatus"] = {"S": partition.status_filter.value}
        if self._start_key:
            request["ExclusiveStartKey"] = self._start_key
        response = self._query.client.query(**request)
        self._buffer.extend(response.get("Items", []))
        last_key = response.get("LastEvaluatedKey")
        self._start_key = last_key
        self._exhausted = not last_key


def _start_key(partition: _Partition, cursor: tuple[str, str]) -> Item:
    uploaded, image_key = cursor
    return {
        TABLE_PARTITION_KEY: {"S": image_key},
        partition.attribute: {"S": partition.value},
        STATUS_INDEX_SORT_KEY: {"S": uploaded},
    }


@dataclass(frozen=True)
class _Selection:
    """The GSI partitions a range query walks, and the names its tokens' scope gives them."""

    partitions: tuple[_Partition, ...]
    scope_names: tuple[str, ...]


def _by_statuses(statuses: tuple[ImageStatus, ...], index_name: str) -> _Selection:
    """One partition of the status index per status, each named by its status."""
    partitions = tuple(
        _Partition(
            name=status.value,
            index_name=index_name,
            attribute=STATUS_INDEX_PARTITION_KEY,
            value=status.value,
            order=_STATUS_ORDER[status],
        )
        for status in statuses
    )
    return _Selection(partitions, tuple(status.value for status in statuses))


def _by_owner(owner: str, status: ImageStatus | str | None) -> _Selection:
    """The owner's partition of the owner index, filtered by `status` when given."""
    if not owner:
        raise ValueError("owner must not be empty")
    chosen = ImageStatus(status) if status is not None else None
    # The scope names the owner by a digest: a token is opaque, not a place to read identities.
    digest = hashlib.sha256(owner.encode("utf-8")).hexdigest()[:16]
    scope_name = f"{_OWNER_STREAM}:{digest}:{chosen.value if chosen else '*'}"
    partition = _Partition(
        name=_OWNER_STREAM,
        index_name=OWNER_INDEX_NAME,
        attribute=OWNER_INDEX_PARTITION_KEY,
        value=owner,
        status_filter=chosen,
    )
    return _Selection((partition,), (scope_name,))


class ImageQuery:
    """Queries over the image table: by key, by status and date range, by date range, by owner."""

    def __init__(
        self, dynamodb_client: Any, table_name: str, *, index_name: str = STATUS_INDEX_NAME
    ) -> None:
        self.client = dynamodb_client
        self.table_name = table_name
        self.index_name = index_name

    def get(self, image_key: str, *, consistent: bool = True) -> ImageRecord | None:
        """The record of one image, or None."""
        response = self.client.get_item(
            TableName=self.table_name,
            Key={TABLE_PARTITION_KEY: {"S": image_key}},
            ConsistentRead=consistent,
        )
        item = response.get("Item")
        return ImageRecord.from_item(item) if item else None

    def page_by_status(
        self,
        status: ImageStatus | str,
        start: Moment = None,
        end: Moment = None,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        token: str | None = None,
    ) -> Page:
        """One page of the images with `status` uploaded in [start, end]."""
        selection = _by_statuses((ImageStatus(status),), self.index_name)
        return self._open(selection, start, end, page_size, token).next_page()

    def pages_by_status(
        self,
        status: ImageStatus | str,
        start: Moment = None,
        end: Moment = None,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        token: str | None = None,
    ) -> Iterator[Page]:
        """Every page of `page_by_status`, from `token` (or the start) to the end."""
        selection = _by_statuses((ImageStatus(status),), self.index_name)
        return _walk(self._open(selection, start, end, page_size, token))

    def page_in_range(
        self,
        start: Moment = None,
        end: Moment = None,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        token: str | None = None,
    ) -> Page:
        """One page of all images uploaded in [start, end], whatever their status."""
        selection = _by_statuses(tuple(ImageStatus), self.index_name)
        return self._open(selection, start, end, page_size, token).next_page()

    def pages_in_range(
        self,
        start: Moment = None,
        end: Moment = None,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        token: str | None = None,
    ) -> Iterator[Page]:
        """Every page of `page_in_range`, from `token` (or the start) to the end."""
        selection = _by_statuses(tuple(ImageStatus), self.index_name)
        return _walk(self._open(selection, start, end, page_size, token))

    def page_by_owner(
        self,
        owner: str,
        start: Moment = None,
        end: Moment = None,
        *,
        status: ImageStatus | str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        token: str | None = None,
    ) -> Page:
        """One page of `owner`'s images uploaded in [start, end] (of `status`, when given).

        A status-filtered page may hold fewer than `page_size` records before the end: the
        index is by owner, so the status is filtered on that owner's items only.
        """
        selection = _by_owner(owner, status)
        return self._open(selection, start, end, page_size, token).next_page()

    def pages_by_owner(
        self,
        owner: str,
        start: Moment = None,
        end: Moment = None,
        *,
        status: ImageStatus | str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        token: str | None = None,
    ) -> Iterator[Page]:
        """Every page of `page_by_owner`, from `token` (or the start) to the end."""
        selection = _by_owner(owner, status)
        return _walk(self._open(selection, start, end, page_size, token))

    def _open(
        self,
        selection: _Selection,
        start: Moment,
        end: Moment,
        page_size: int,
        token: str | None,
    ) -> _MergedCursor:
        """The merged cursor of a selection's partitions over [start, end], from `token`."""
        # Opened eagerly by pages_*, so a bad argument fails at the call, not at the first next().
        low, high = lower_bound(start), upper_bound(end)
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        names = tuple(partition.name for partition in selection.partitions)
        scope = scope_of(selection.scope_names, low, high)
        cursors, done = decode_token(token, scope, names, low, high)
        if low > high:
            done = frozenset(names)
        # One more than a page, so the peek that decides `next_token` rarely needs a query.
        streams = [
            _IndexStream(
                self, partition, low, high, cursor=cursors.get(partition.name), chunk=page_size + 1
            )
            for partition in selection.partitions
            if partition.name not in done
        ]
        return _MergedCursor(streams, done, scope, page_size)


def _walk(cursor: _MergedCursor) -> Iterator[Page]:
    # The same streams serve every page: buffered items are not fetched again.
    while True:
        page = cursor.next_page()
        if page.records:
            yield page
        if page.next_token is None:
            return


class _MergedCursor:
    """Pages of the union of status streams, in (uploadTimestamp, status) order."""

    def __init__(
        self,
        streams: list[_IndexStream],
        done: frozenset[str],
        scope: list[str],
        page_size: int,
    ) -> None:
        self._streams = streams
        self._done = set(done)
        self._scope = scope
        self._page_size = page_size

    def next_page(self) -> Page:
        """Take up to a page of records; the token continues after the last one taken."""
        items: list[Item] = []
        while len(items) < self._page_size:
            candidates = [
                (head[STATUS_INDEX_SORT_KEY]["S"], stream.partition.order, stream)
                for stream in self._streams
                if (head := stream.head()) is not None
            ]
            if not candidates:
                break
            _, _, stream = min(candidates, key=lambda entry: entry[:2])
            items.append(stream.take())
        remaining = [stream for stream in self._streams if stream.head() is not None]
        self._done |= {stream.name for stream in self._streams if stream not in remaining}
        self._streams = remaining
        next_token = None
        if remaining:
            next_token = encode_token(
                self._scope, {stream.name: stream.cursor for stream in remaining}, self._done
            )
        return Page(
            records=tuple(ImageRecord.from_item(item) for item in items), next_token=next_token
        )
