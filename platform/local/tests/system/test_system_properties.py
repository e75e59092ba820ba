"""The design's correctness properties, checked over the whole local system (real handlers,
real flow: presigned POST -> S3 -> EventBridge -> SQS -> trigger -> Step Functions).

One provisioned system serves every example of this module; retry waits are scaled to
milliseconds (the requested intervals are still recorded and asserted).
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from qip_shared.enums import ImageStatus, NotificationType, RejectionReason, StageName
from qip_shared.errors import PermanentError, RetryableError
from qip_shared.limits import LIMITS, Workflow

STAGES = [s.value for s in StageName]
STAGE_FUNCTIONS = {
    "validation": "qip-validate",
    "metadata": "qip-metadata",
    "resize": "qip-resize",
    "thumbnail": "qip-thumbnail",
    "archive": "qip-archive",
}
MODES = {
    "JPEG": ["RGB", "L"],
    "PNG": ["RGB", "RGBA", "L", "P"],
    "GIF": ["P"],
    "WEBP": ["RGB", "RGBA"],
}
EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "GIF": "gif", "WEBP": "webp"}
MAGIC = (b"\xff\xd8", b"\x89PNG", b"GIF8", b"RIFF")


@st.composite
def image_specs(draw: st.DrawFn) -> dict[str, Any]:
    fmt = draw(st.sampled_from(sorted(MODES)))
    return {
        "size": (draw(st.integers(1, 120)), draw(st.integers(1, 120))),
        "fmt": fmt,
        "mode": draw(st.sampled_from(MODES[fmt])),
        "orientation": draw(st.none() | st.integers(1, 8)) if fmt == "JPEG" else None,
        "frames": draw(st.integers(1, 3)) if fmt in ("GIF", "WEBP") else 1,
        "seed": draw(st.integers(0, 10_000)),
    }


def upload_and_wait(system: Any, data: bytes, name: str) -> tuple[str, Any]:
    key = system.client.upload_bytes(data, file_name=name)
    record = system.client.wait_for([key], timeout=60)[key]
    return key, record


def history_of(system: Any, record: Any) -> list[dict[str, Any]]:
    sfn = system.runtime.client("stepfunctions")
    events: list[dict[str, Any]] = sfn.get_execution_history(
        executionArn=record.execution_arn, maxResults=1000
    )["events"]
    return events


def failures_of(history: list[dict[str, Any]], function: str) -> list[str]:
    """Error names of the failed attempts of one function, from the execution history."""
    scheduled: dict[int, str] = {}
    for event in history:
        details = event.get("lambdaFunctionScheduledEventDetails")
        if details:
            scheduled[event["id"]] = details["resource"]
    errors = []
    for event in history:
        if event["type"] != "LambdaFunctionFailed":
            continue
        # Started follows Scheduled; Failed follows Started.
        origin = scheduled.get(event["previousEventId"] - 1, "")
        if origin.endswith(f":{function}"):
            errors.append(event["lambdaFunctionFailedEventDetails"]["error"])
    return errors


class QueueSpy:
    """Observes the SQS events the trigger receives (a fault hook that never raises)."""

    def __init__(self) -> None:
        self.keys: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def __call__(self, function: str, event: Any, attempt: int) -> None:
        if function != "qip-trigger":
            return
        for record in event.get("Records", []):
            body = json.loads(record["body"])
            with self.lock:
                self.keys.append((record["eventSourceARN"], body["detail"]["object"]["key"]))


def test_valid_images_flow_through_every_stage(
    system: Any, encode_image: Callable[..., bytes]
) -> None:
    spy = QueueSpy()
    remove = system.fault_hook(spy)
    system.client.notifications()
    system.client.processing_events()

    @given(spec=image_specs())
    def check(spec: dict[str, Any]) -> None:
        data = encode_image(**spec)
        declared = f"image/{spec['fmt'].lower()}"
        key, record = upload_and_wait(system, data, f"generated.{EXTENSIONS[spec['fmt']]}")
        assert record is not None
        assert record.status is ImageStatus.COMPLETED, (record.error_type, record.error_message)

        # Property 1: Metadata record creation with required fields
        assert record.image_key == key
        assert record.size == len(data)
        assert record.content_type == declared
        assert record.upload_timestamp
        # Property 2: Message enqueueing on upload
        assert (system.client.resources.queue_arn, key) in spy.keys
        # Property 4: Status progression through pipeline
        assert system.journal.history(key) == ["UPLOADED", "PROCESSING", "COMPLETED"]
        # Property 8: Stage timestamp tracking
        finished = {}
        for stage in STAGES:
            info = record.stages.get(StageName(stage))
            assert info is not None, stage
            assert info.status.value == "COMPLETED"
            assert info.completed_at is not None
            finished[stage] = info.completed_at
        assert finished["validation"] <= finished["metadata"]
        assert finished["metadata"] <= min(finished["resize"], finished["thumbnail"])
        assert max(finished["resize"], finished["thumbnail"]) <= finished["archive"]
        # Property 12: Archived location storage
        location = record.archived_location
        assert location is not None
        assert location.startswith(f"s3://{system.client.resources.archive_bucket}/")
        bucket, _, prefix = location.removeprefix("s3://").partition("/")
        listed = system.runtime.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix)
        assert listed.get("KeyCount", 0) >= 2
        # Property 7: Event publishing with required context
        notes = [n for n in system.client.notifications() if n.get("imageKey") == key]
        kinds = [n["eventType"] for n in notes]
        assert NotificationType.PROCESSING_STARTED in kinds
        assert NotificationType.PROCESSING_COMPLETED in kinds
        staged = {n.get("stage") for n in notes if n["eventType"] == "STAGE_COMPLETED"}
        assert staged == set(STAGES)
        assert all(n.get("timestamp") for n in notes)
        events = [
            e
            for e in system.client.processing_events()
            if e.get("detail", {}).get("imageKey") == key
        ]
        assert {
            e["detail"].get("stage") for e in events if e["detail-type"] == "StageCompleted"
        } == set(STAGES)
        assert all(e["detail"].get("timestamp") for e in events)
        # Outputs: a 200x200 thumbnail and a resized JPEG inside the 1024x768 box.
        s3 = system.runtime.client("s3")
        thumb = s3.get_object(
            Bucket=system.client.resources.upload_bucket, Key=record.thumbnail_key
        )
        with Image.open(io.BytesIO(thumb["Body"].read())) as thumbnail:
            assert thumbnail.size == (200, 200)
        resized = s3.get_object(
            Bucket=system.client.resources.upload_bucket, Key=record.resized_key
        )
        with Image.open(io.BytesIO(resized["Body"].read())) as output:
            assert output.width <= 1024
            assert output.height <= 768

    try:
        check()
    finally:
        remove()


def non_image_bytes() -> st.SearchStrategy[bytes]:
    texts = st.text(min_size=1, max_size=300).map(lambda t: t.encode("utf-8"))
    blobs = st.binary(min_size=1, max_size=600)
    return (texts | blobs).filter(lambda b: not b.startswith(MAGIC))


def test_non_images_are_rejected_without_processing(system: Any) -> None:
    sfn = system.runtime.client("stepfunctions")
    machine = system.client.resources.state_machine_arn

    @given(data=non_image_bytes(), fmt=st.sampled_from(sorted(EXTENSIONS)))
    def check(data: bytes, fmt: str) -> None:
        before = len(sfn.list_executions(stateMachineArn=machine)["executions"])
        key, record = upload_and_wait(system, data, f"fake.{EXTENSIONS[fmt]}")
        # Property 3: Invalid file rejection
        assert record is not None
        assert record.status is ImageStatus.REJECTED
        assert record.rejection_reason is RejectionReason.UNSUPPORTED_FORMAT
        assert record.execution_arn is None
        assert "PROCESSING" not in system.journal.history(key)
        assert len(sfn.list_executions(stateMachineArn=machine)["executions"]) == before

    check()


def test_retryable_failures_are_retried_with_backoff(
    system: Any, encode_image: Callable[..., bytes]
) -> None:
    clock = system.runtime.retry_clock
    budget = LIMITS[Workflow.EXPRESS].service_retry

    @given(
        stage=st.sampled_from(STAGES),
        failures=st.integers(0, budget.max_attempts + 1),
        seed=st.integers(0, 10_000),
    )
    def check(stage: str, failures: int, seed: int) -> None:
        function = STAGE_FUNCTIONS[stage]

        def flaky(name: str, event: Any, attempt: int) -> None:
            if name == function and attempt <= failures:
                raise RetryableError(f"transient fault {attempt}")

        remove = system.fault_hook(flaky)
        before = len(clock.requested)
        try:
            _, record = upload_and_wait(system, encode_image((40, 30), "PNG", seed=seed), "r.png")
        finally:
            remove()
        assert record is not None
        # Property 5: Retry logic with exponential backoff
        history = history_of(system, record)
        attempts_failed = min(failures, 1 + budget.max_attempts)
        assert failures_of(history, function) == ["RetryableError"] * attempts_failed
        other_failures = [
            (
                e["type"],
                e.get("taskFailedEventDetails") or e.get("lambdaFunctionFailedEventDetails"),
            )
            for e in history
            if e["type"] in ("TaskFailed", "LambdaFunctionFailed")
        ]
        # The Express budget's backoff of this function's retries; a rare one-off retry of
        # another task (1 s: TaskFailed / integration retriers) is not part of the property.
        backoff = [interval for interval in clock.requested[before:] if interval >= 2.0]
        assert backoff == budget.waits()[:failures], other_failures
        if failures <= budget.max_attempts:
            assert record.status is ImageStatus.COMPLETED
        else:
            assert record.status is ImageStatus.FAILED
            assert record.error_type == "RetryableError"

    check()


def test_permanent_failures_are_recorded_and_notified(
    system: Any, encode_image: Callable[..., bytes]
) -> None:
    system.client.notifications()

    @given(
        stage=st.sampled_from(STAGES),
        seed=st.integers(0, 10_000),
        word=st.from_regex(r"[a-z]{3,12}", fullmatch=True),
    )
    def check(stage: str, seed: int, word: str) -> None:
        function = STAGE_FUNCTIONS[stage]

        def broken(name: str, event: Any, attempt: int) -> None:
            if name == function:
                raise PermanentError(f"broken {word}")

        remove = system.fault_hook(broken)
        try:
            key, record = upload_and_wait(
                system, encode_image((30, 40), "JPEG", seed=seed), "p.jpg"
            )
        finally:
            remove()
        # Property 11: Error capture and notification
        assert record is not None
        assert record.status is ImageStatus.FAILED
        assert record.error_type == "PermanentError"
        assert f"broken {word}" in (record.error_message or "")
        assert failures_of(history_of(system, record), function) == ["PermanentError"]
        failed = [
            n
            for n in system.client.notifications()
            if n.get("imageKey") == key and n["eventType"] == NotificationType.PROCESSING_FAILED
        ]
        assert len(failed) == 1
        assert failed[0]["errorType"] == "PermanentError"
        assert system.journal.history(key) == ["UPLOADED", "PROCESSING", "FAILED"]

    check()
