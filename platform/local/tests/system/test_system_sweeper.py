"""Issue 15: an execution that stops before HandleError (here its own timeout, while a stage
hangs) leaves its record PROCESSING; the sweeper's timer ends it FAILED with TIMED_OUT, once,
with the failure notification and ProcessingFailed event. Times are scaled down: the
execution times out after 2 s, records are swept 3 s after their claim, the timer ticks each
second."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from qip_shared.enums import EventDetailType, ImageStatus, NotificationType

SYSTEM_CONFIG = {"execution_timeout": 2, "sweep_after": 3.0, "sweep_interval": 1.0}


class Hang:
    """Validate hangs (longer than the execution may run) for one chosen image."""

    def __init__(self) -> None:
        self.key: str | None = None
        self.release = threading.Event()
        self.entered = threading.Event()

    def __call__(self, function: str, event: Any, attempt: int) -> None:
        state = event.get("state", {}) if isinstance(event, dict) else {}
        if function == "qip-validate" and state.get("imageKey") == self.key:
            self.entered.set()
            self.release.wait(60)
            raise TimeoutError("hung validate released")


def test_a_hung_stage_ends_failed_by_the_sweeper(
    system: Any, encode_image: Callable[..., bytes]
) -> None:
    client = system.client
    client.notifications()
    client.processing_events()
    hang = Hang()
    remove = system.fault_hook(hang)
    try:
        data = encode_image((40, 30), "PNG", seed=7)
        ticket = client.request_upload(content_type="image/png", size=len(data), file_name="h.png")
        hang.key = ticket.image_key
        client.post_file(ticket, data, "h.png")
        assert hang.entered.wait(60), "validate never started"
        key = ticket.image_key

        # The execution times out with validate still hanging: HandleError never runs ...
        sfn = system.runtime.client("stepfunctions")
        deadline = time.monotonic() + 60
        while True:
            record = client.record(key)
            assert record is not None
            arn = record.execution_arn
            status = sfn.describe_execution(executionArn=arn)["status"] if arn else None
            if status == "TIMED_OUT" or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert status == "TIMED_OUT"
        # ... until the sweeper's timer finds the record still PROCESSING past its cap.
        deadline = time.monotonic() + 60
        while (record := client.record(key)) is not None and record.status is not (
            ImageStatus.FAILED
        ):
            assert time.monotonic() < deadline, record.status
            time.sleep(0.2)
        assert record is not None
        assert record.error_type == "TIMED_OUT"
        assert record.error_message
        assert record.error_message.startswith("TIMED_OUT: ")

        # Notified and announced once, even though the timer keeps running.
        time.sleep(2.5)
        failed = [
            n
            for n in client.notifications()
            if n.get("imageKey") == key and n.get("eventType") == NotificationType.PROCESSING_FAILED
        ]
        assert len(failed) == 1
        events = [
            e
            for e in client.processing_events()
            if e["detail"].get("imageKey") == key
            and e.get("detail-type") == EventDetailType.PROCESSING_FAILED
        ]
        assert len(events) == 1
        assert system.runtime.sweeper is not None
        assert system.runtime.sweeper.runs >= 2
        assert client.record(key).status is ImageStatus.FAILED  # type: ignore[union-attr]
    finally:
        hang.release.set()
        remove()
