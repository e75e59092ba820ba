"""Property 10 over the whole system: a message the trigger cannot process is received 3
times, then lands in the DLQ; `qip dlq redrive` replays it to COMPLETED after the fix."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from qip_shared.enums import ImageStatus

# The poller makes a message the trigger failed visible again at once (instead of after the
# queue's visibility timeout): 3 receives take milliseconds. A long timeout keeps a slow (but
# working) delivery from being duplicated. Everything else is unchanged.
SYSTEM_CONFIG = {"failed_visibility": 0, "visibility_timeout": 30}


class BrokenTrigger:
    """Fails every trigger invocation while on, counting deliveries per object key."""

    def __init__(self) -> None:
        self.on = False
        self.deliveries: dict[str, int] = {}
        self.lock = threading.Lock()

    def __call__(self, function: str, event: Any, attempt: int) -> None:
        if function != "qip-trigger" or not self.on:
            return
        for record in event.get("Records", []):
            key = json.loads(record["body"])["detail"]["object"]["key"]
            with self.lock:
                self.deliveries[key] = self.deliveries.get(key, 0) + 1
        raise RuntimeError("trigger is broken")


def dlq_keys(client: Any) -> list[str]:
    return [json.loads(m["Body"])["detail"]["object"]["key"] for m in client.dlq_messages()]


def wait_until(predicate: Callable[[], bool], timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_messages_reach_the_dlq_after_three_receives_and_redrive(
    system: Any, encode_image: Callable[..., bytes]
) -> None:
    broken = BrokenTrigger()
    remove = system.fault_hook(broken)
    client = system.client

    @given(seed=st.integers(0, 100_000), fmt=st.sampled_from(["PNG", "JPEG", "GIF"]))
    def check(seed: int, fmt: str) -> None:
        broken.on = True
        key = client.upload_bytes(encode_image((24, 16), fmt, seed=seed), file_name=f"d.{fmt}")
        # Property 10: Dead letter queue handling
        assert wait_until(lambda: key in dlq_keys(client))
        assert broken.deliveries[key] == 3
        assert client.record(key) is None  # the trigger never got as far as the record
        broken.on = False
        assert client.dlq_redrive() == 1
        record = client.wait_for([key], timeout=60)[key]
        assert record is not None
        assert record.status is ImageStatus.COMPLETED
        assert dlq_keys(client) == []
        assert broken.deliveries[key] == 3

    try:
        check()
    finally:
        remove()
