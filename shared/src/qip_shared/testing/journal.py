"""Every status each image record is written with, observed inside moto's DynamoDB.

The whole-system suites (`platform/local/tests`) read a record's history from it: a test that
polls the table sees only the latest status, the journal sees each write in write order.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from moto.dynamodb.models import DynamoDBBackend

WRITES = ("put_item", "update_item")


@dataclass
class StatusJournal:
    """Every status each record was written with, in write order (observed inside moto)."""

    statuses: dict[str, list[str]] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def note(self, item: Any) -> None:
        """Append the status of a written item if it differs from the last one of its key."""
        attrs = getattr(item, "attrs", {}) or {}
        key, status = attrs.get("imageKey"), attrs.get("status")
        if key is None or status is None:
            return
        seen = self.statuses.setdefault(key.value, [])
        if not seen or seen[-1] != status.value:
            seen.append(status.value)

    def history(self, image_key: str) -> list[str]:
        """The distinct consecutive statuses of one record."""
        with self.lock:
            return list(self.statuses.get(image_key, []))


@contextmanager
def observed_statuses() -> Iterator[StatusJournal]:
    """A journal of the statuses moto's DynamoDB writes (put_item, update_item) while open."""
    journal = StatusJournal()
    originals = {name: getattr(DynamoDBBackend, name) for name in WRITES}

    def wrap(original: Callable[..., Any]) -> Callable[..., Any]:
        def write(self: Any, *args: Any, **kwargs: Any) -> Any:
            with journal.lock:  # one write at a time: the journal order is the write order
                item = original(self, *args, **kwargs)
                journal.note(item)
            return item

        return write

    for name, original in originals.items():
        setattr(DynamoDBBackend, name, wrap(original))
    try:
        yield journal
    finally:
        for name, original in originals.items():
            setattr(DynamoDBBackend, name, original)
