"""RecordWatch: when a record counts as settled, and what it reads while waiting."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from qip_local.watch import RecordWatch
from qip_shared.enums import ImageStatus
from qip_shared.record import ImageRecord


def _record(key: str, status: ImageStatus) -> ImageRecord:
    return ImageRecord.model_validate(
        {
            "imageKey": key,
            "uploadTimestamp": "2026-12-06T05:00:00.000Z",
            "size": 10,
            "contentType": "image/jpeg",
            "status": status.value,
            "executionArn": f"arn:aws:states:us-east-1:123456789012:execution:qip:{key}",
        }
    )


class FakeReads:
    """The reads RecordWatch makes, from a script of records and execution statuses."""

    def __init__(self) -> None:
        self.records_by_key: dict[str, ImageRecord | None] = {}
        self.execution: dict[str, str] = {}
        self.calls: list[str] = []
        self.lock = threading.Lock()

    def statuses(self, image_keys: Sequence[str]) -> dict[str, str | None]:
        with self.lock:
            self.calls.append("statuses")
            return {
                k: (r.status.value if (r := self.records_by_key.get(k)) is not None else None)
                for k in image_keys
            }

    def records(self, image_keys: Sequence[str]) -> dict[str, ImageRecord | None]:
        with self.lock:
            self.calls.append("records")
            return {k: self.records_by_key.get(k) for k in image_keys}

    def is_settled(self, record: ImageRecord | None) -> bool:
        if record is None or not record.status.is_terminal:
            return False
        with self.lock:
            return self.execution.get(record.image_key) != "RUNNING"


def _watch(reads: FakeReads, **kwargs: Any) -> RecordWatch:
    return RecordWatch(reads, **kwargs)  # type: ignore[arg-type]


def test_a_terminal_record_of_a_finished_execution_settles_on_one_read() -> None:
    reads = FakeReads()
    reads.records_by_key["a"] = _record("a", ImageStatus.COMPLETED)
    watch = _watch(reads)
    watch.add(["a"])
    watch.close()
    latest = watch.run(timeout=30, interval=0.001)
    assert latest["a"] is not None
    assert latest["a"].status is ImageStatus.COMPLETED
    assert "a" in watch.settled_at
    assert reads.calls == ["statuses", "records"]  # one round: no second read to compare


def test_a_record_waits_for_its_execution_to_finish() -> None:
    reads = FakeReads()
    reads.records_by_key["a"] = _record("a", ImageStatus.COMPLETED)
    reads.execution["a"] = "RUNNING"
    rounds: list[int] = []

    def on_update(key: str, record: ImageRecord | None) -> None:
        rounds.append(1)
        if len(rounds) == 3:
            with reads.lock:
                reads.execution["a"] = "SUCCEEDED"

    watch = _watch(reads, on_update=on_update)
    watch.add(["a"])
    watch.close()
    watch.run(timeout=30, interval=0.001)
    assert "a" in watch.settled_at
    assert len(rounds) == 3  # settled by the first read that saw the execution finished


def test_a_running_record_is_not_settled_by_the_timeout() -> None:
    reads = FakeReads()
    reads.records_by_key["a"] = _record("a", ImageStatus.PROCESSING)
    watch = _watch(reads)
    watch.add(["a"])
    watch.close()
    latest = watch.run(timeout=0.05, interval=0.001)
    assert "a" not in watch.settled_at
    assert "records" not in reads.calls  # only statuses are polled until one is terminal
    assert latest["a"] is None


def test_an_idle_watch_reads_nothing_and_keys_added_later_are_watched() -> None:
    reads = FakeReads()
    watch = _watch(reads)
    result: dict[str, Any] = {}
    watcher = threading.Thread(target=lambda: result.update(watch.run(timeout=30)))
    watcher.start()
    watcher.join(0.1)
    assert reads.calls == []  # nothing pending: it waits for `add`, it does not poll
    reads.records_by_key["late"] = _record("late", ImageStatus.REJECTED)
    watch.add(["late"])
    watch.close()
    watcher.join(30)
    assert not watcher.is_alive()
    assert result["late"].status is ImageStatus.REJECTED


def test_reads_grow_sparse_with_many_pending_and_quick_for_the_last() -> None:
    watch = _watch(FakeReads())
    interval = 0.02
    pauses = [watch.pause(n, interval) for n in range(1, 40)]
    assert pauses[0] == interval  # the last image is seen as quickly as a single one
    assert pauses == sorted(pauses)  # more pending: never more often
    assert pauses[-1] == RecordWatch.MAX_PAUSE < 40 * interval  # capped
    assert watch.pause(30, interval=1.0) == 1.0  # a caller's longer interval is kept


def test_each_key_is_reported_settled_once_with_its_record() -> None:
    reads = FakeReads()
    reads.records_by_key["a"] = _record("a", ImageStatus.COMPLETED)
    reads.records_by_key["b"] = _record("b", ImageStatus.PROCESSING)
    heard: list[tuple[str, ImageStatus]] = []

    def on_settled(key: str, record: ImageRecord | None) -> None:
        assert record is not None
        heard.append((key, record.status))
        if key == "a":  # b finishes once a was reported
            with reads.lock:
                reads.records_by_key["b"] = _record("b", ImageStatus.FAILED)

    watch = _watch(reads, on_settled=on_settled)
    watch.add(["a", "b"])
    watch.close()
    watch.run(timeout=30, interval=0.001)
    assert heard == [("a", ImageStatus.COMPLETED), ("b", ImageStatus.FAILED)]
    assert set(watch.settled_at) == {"a", "b"}
