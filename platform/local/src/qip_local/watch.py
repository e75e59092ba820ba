"""Reading records and watching them settle: batched status polls, then whole records."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from botocore.exceptions import ClientError

from qip_local.endpoint import ClientBase
from qip_shared.enums import ImageStatus
from qip_shared.record import TABLE_PARTITION_KEY, ImageRecord

# Seconds between status polls of one pending record (more keys: longer, see RecordWatch).
POLL_INTERVAL = 0.02


class RecordReads(ClientBase):
    """`LocalClient`'s reads: records, their executions, the tap queues; waiting for outcomes."""

    def record_item(self, image_key: str) -> dict[str, Any] | None:
        """The raw DynamoDB item of an image, or None."""
        item = self.client("dynamodb").get_item(
            TableName=self.resources.table,
            Key={"imageKey": {"S": image_key}},
            ConsistentRead=True,
        )
        found: dict[str, Any] | None = item.get("Item")
        return found

    def record(self, image_key: str) -> ImageRecord | None:
        """The image's record, or None when there is none (yet)."""
        item = self.record_item(image_key)
        return ImageRecord.from_item(item) if item is not None else None

    def records(self, image_keys: Sequence[str]) -> dict[str, ImageRecord | None]:
        """Several records at once (BatchGetItem, 100 keys a call, consistent reads)."""
        found: dict[str, ImageRecord | None] = dict.fromkeys(image_keys)
        for item in self._batch_items(image_keys):
            record = ImageRecord.from_item(item)
            found[record.image_key] = record
        return found

    def statuses(self, image_keys: Sequence[str]) -> dict[str, str | None]:
        """Only the status of several records (a small projection: cheap to poll often)."""
        found: dict[str, str | None] = dict.fromkeys(image_keys)
        projection = {
            "ProjectionExpression": "#k, #s",
            "ExpressionAttributeNames": {"#k": TABLE_PARTITION_KEY, "#s": "status"},
        }
        for item in self._batch_items(image_keys, projection):
            status = item.get("status", {}).get("S")
            found[item[TABLE_PARTITION_KEY]["S"]] = status
        return found

    def _batch_items(
        self, image_keys: Sequence[str], options: dict[str, Any] | None = None
    ) -> Iterator[dict[str, Any]]:
        ddb = self.client("dynamodb")
        table = self.resources.table
        keys = list(dict.fromkeys(image_keys))
        for start in range(0, len(keys), 100):
            request: dict[str, Any] = {
                table: {
                    "Keys": [{TABLE_PARTITION_KEY: {"S": k}} for k in keys[start : start + 100]],
                    "ConsistentRead": True,
                    **(options or {}),
                }
            }
            while request:
                answer = ddb.batch_get_item(RequestItems=request)
                yield from answer.get("Responses", {}).get(table, [])
                request = answer.get("UnprocessedKeys") or {}

    def execution_status(self, record: ImageRecord) -> str | None:
        """Status of the record's execution (RUNNING, SUCCEEDED, ...), or None."""
        arn = record.execution_arn
        if not arn:
            return None
        try:
            status: str = self.client("stepfunctions").describe_execution(executionArn=arn)[
                "status"
            ]
        except ClientError:
            # Gone, or an Express execution (DescribeExecution knows only Standard ones).
            return None
        return status

    def is_settled(self, record: ImageRecord | None) -> bool:
        """Terminal record and, if it has an execution, that execution has finished too."""
        if record is None or not record.status.is_terminal:
            return False
        return self.execution_status(record) != "RUNNING"

    def wait_for(
        self,
        image_keys: Sequence[str],
        *,
        timeout: float = 120.0,
        interval: float = POLL_INTERVAL,
        on_update: Callable[[str, ImageRecord | None], None] | None = None,
    ) -> dict[str, ImageRecord | None]:
        """Poll the records until every image is settled or the timeout passes."""
        watch = RecordWatch(self, on_update=on_update)
        watch.add(image_keys)
        watch.close()
        return watch.run(timeout=timeout, interval=interval)

    def read_queue(self, queue_url: str, *, max_messages: int = 1000) -> list[dict[str, Any]]:
        """Drain a tap queue (notifications or events); returns the parsed bodies."""
        sqs = self.client("sqs")
        bodies: list[dict[str, Any]] = []
        while len(bodies) < max_messages:
            got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
            messages = got.get("Messages", [])
            if not messages:
                break
            for message in messages:
                bodies.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        return bodies

    def notifications(self) -> list[dict[str, Any]]:
        """SNS notifications published since the last call (from the local tap queue)."""
        return self.read_queue(self.resources.notifications_queue_url)

    def processing_events(self) -> list[dict[str, Any]]:
        """EventBridge ProcessingEvents put since the last call (from the local tap queue)."""
        return self.read_queue(self.resources.events_queue_url)

    def wait_for_change(
        self, before: ImageRecord, *, timeout: float = 120.0, interval: float = 0.1
    ) -> ImageRecord | None:
        """Wait until the record moves on from `before`, then until it settles again."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            current = self.record(before.image_key)
            if current != before:
                break
            time.sleep(interval)
        remaining = max(0.0, deadline - time.monotonic())
        return self.wait_for([before.image_key], timeout=remaining)[before.image_key]


class RecordWatch:
    """Watches records until each is settled; keys may be added while it runs.

    Each round reads only the status of every pending record (one small BatchGetItem), and
    the whole record only of those that reached a terminal status (or, for a live display,
    every few rounds). A record counts as settled once a whole read shows a terminal status
    and its execution, if any, has finished: one read is enough, since DynamoDB applies an
    update to an item atomically (and the local runtime serialises moto's DynamoDB requests).
    `on_settled` hears of each key once, when it settles (from the thread that runs `run`).
    """

    DISPLAY_EVERY = 2  # rounds between whole reads of running records, for `on_update`
    KEYS_PER_INTERVAL = 1  # pending keys beyond the first that add one `interval` to the pause
    MAX_PAUSE = 0.3  # seconds: the longest pause between rounds (unless `interval` is longer)

    def __init__(
        self,
        client: RecordReads,
        *,
        on_update: Callable[[str, ImageRecord | None], None] | None = None,
        on_settled: Callable[[str, ImageRecord | None], None] | None = None,
    ) -> None:
        self.client = client
        self.on_update = on_update
        self.on_settled = on_settled
        self.latest: dict[str, ImageRecord | None] = {}
        self.settled_at: dict[str, float] = {}
        self._pending: set[str] = set()
        self._closed = False
        self._changed = threading.Condition()

    def add(self, image_keys: Iterable[str]) -> None:
        """Watch these keys too."""
        with self._changed:
            for key in image_keys:
                if key not in self.latest:
                    self.latest[key] = None
                    self._pending.add(key)
            self._changed.notify_all()

    def close(self) -> None:
        """No more keys will be added: `run` returns once the watched ones are settled."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def run(
        self, *, timeout: float, interval: float = POLL_INTERVAL
    ) -> dict[str, ImageRecord | None]:
        """Poll until every key is settled and `close` was called, or `timeout` passes."""
        deadline = time.monotonic() + timeout
        round_number = 0
        while time.monotonic() <= deadline:
            with self._changed:
                if not self._pending:
                    if self._closed:
                        break
                    # Nothing to read: sleep until `add` or `close` (they notify), not in a loop.
                    self._changed.wait(max(0.0, deadline - time.monotonic()))
                    continue
                pending = sorted(self._pending)
            self._round(pending, full_all=round_number % self.DISPLAY_EVERY == 0)
            round_number += 1
            with self._changed:
                if self._closed and not self._pending:
                    break
                left = len(self._pending)
            time.sleep(self.pause(left, interval))
        return dict(self.latest)

    def pause(self, pending: int, interval: float = POLL_INTERVAL) -> float:
        """Seconds between rounds while `pending` keys are unsettled.

        Each read costs the embedded AWS CPU the pipeline needs, and only the last image's
        settling is worth seeing at once: with many pending, the last is seconds away, so
        reads grow sparse (up to `MAX_PAUSE`); with one left, every `interval`.
        """
        grown = interval * (1 + max(0, pending - 1) / self.KEYS_PER_INTERVAL)
        return min(grown, max(interval, self.MAX_PAUSE))

    def _round(self, pending: list[str], *, full_all: bool) -> None:
        statuses = self.client.statuses(pending)
        terminal = [k for k in pending if _is_terminal(statuses[k])]
        whole = pending if (self.on_update is not None and full_all) else terminal
        current = self.client.records(whole) if whole else {}
        for key in pending:
            if key not in current:
                continue
            record = current[key]
            self.latest[key] = record
            if self.on_update is not None:
                self.on_update(key, record)
            if self.client.is_settled(record):
                with self._changed:
                    self._pending.discard(key)
                    self.settled_at[key] = time.perf_counter()
                if self.on_settled is not None:
                    self.on_settled(key, record)


def _is_terminal(status: str | None) -> bool:
    try:
        return status is not None and ImageStatus(status).is_terminal
    except ValueError:
        return False
