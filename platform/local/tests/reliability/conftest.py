"""Fixtures of the reliability suite: the local system with a seeded fault injector, scoped by
function and image, observers of record statuses, and the report behind docs/reliability.md."""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import botocore.endpoint
import pytest
from PIL import Image

from qip_local import LocalClient, LocalRuntime
from qip_local.faults import AwsFault, FaultInjector
from qip_pipeline.names import ALL_SERVICES
from qip_shared.keys import archive_prefix, processed_prefix
from qip_shared.testing.journal import StatusJournal

# Step Functions waits of 2/4/8 s become 2/4/8 ms (the asked-for intervals are still recorded).
RETRY_SCALE = 0.001
# The SDK's own backoff (up to seconds per throttled call) shrinks by the same idea.
SDK_RETRY_SCALE = 0.01
REPO_ROOT = Path(__file__).resolve().parents[4]
REPORT_PATH = REPO_ROOT / "docs" / "reliability.md"  # written by `nox -s reports` only
# How many images the random-fault run pushes through (`nox -s test-reliability` sets 200).
FAULT_RUN_IMAGES = int(os.environ.get("QIP_RELIABILITY_IMAGES", "40"))
CANONICAL_IMAGES = 200

_current = threading.local()


def current_function() -> str | None:
    """The function whose handler runs on this thread (None outside handlers)."""
    return getattr(_current, "function", None)


def current_image() -> str | None:
    """The image key of the event the handler on this thread is serving, if it names one."""
    return getattr(_current, "image", None)


def event_image_key(event: Any) -> str | None:
    """The image a stage event or an SQS trigger event is about (first record for SQS)."""
    if isinstance(event, dict):
        # A stage task's input is `{"state": ..., "execution": ...}`.
        state = event.get("state") if isinstance(event.get("state"), dict) else event
        if isinstance(state.get("imageKey"), str):
            return str(state["imageKey"])
        for record in event.get("Records") or []:
            with contextlib.suppress(KeyError, TypeError, ValueError):
                return str(json.loads(record["body"])["detail"]["object"]["key"])
    return None


def scoped(function: str, handler: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """Run `handler` with this thread marked as `function` serving the event's image."""

    def call(event: Any, context: Any) -> Any:
        saved = (current_function(), current_image())
        _current.function, _current.image = function, event_image_key(event)
        try:
            return handler(event, context)
        finally:
            _current.function, _current.image = saved

    return call


@dataclass
class ScopedFault(AwsFault):
    """An AWS fault limited to calls made by some functions and/or about some images.

    `functions` may name "states" for the state machine's own SNS/DynamoDB tasks (calls made off
    the test's thread outside any handler). Calls of the test itself are never faulted.
    """

    functions: frozenset[str] | None = None
    images: frozenset[str] | None = None

    def matches(self, service: str, operation: str) -> bool:
        """Whether this fault covers the call, given who makes it on this thread."""
        if not super().matches(service, operation):
            return False
        caller = current_function()
        if caller is None:
            if threading.current_thread() is threading.main_thread():
                return False
            caller = "states"
        if self.functions is not None and caller not in self.functions:
            return False
        return self.images is None or current_image() in self.images


class RecordingInjector(FaultInjector):
    """The runtime's fault injector, also counting every AWS call by (caller, service, op)."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__(seed)
        self.calls: Counter[tuple[str, str, str]] = Counter()

    def pick(self, service: str, operation: str) -> AwsFault | None:
        """Count the call, then decide as the runtime's injector does."""
        caller = current_function() or (
            "test" if threading.current_thread() is threading.main_thread() else "states"
        )
        with self._lock:
            self.calls[(caller, service, operation)] += 1
        return super().pick(service, operation)

    def injected(self) -> Counter[str]:
        """Injected faults by `service:Operation code`."""
        with self._lock:
            return Counter(f"{s}:{o} {c}" for s, o, c in self.log)


class ScaledSdkTime:
    """Stands in for botocore.endpoint's `time`: SDK retry backoff sleeps a fraction."""

    def __init__(self, scale: float) -> None:
        self.scale = scale
        self.sleeps = 0

    def sleep(self, seconds: float) -> None:
        """Sleep `scale` x the backoff the SDK chose."""
        self.sleeps += 1
        time.sleep(seconds * self.scale)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


@contextlib.contextmanager
def scaled_sdk_retries(scale: float) -> Iterator[ScaledSdkTime]:
    """Shrink the SDK's retry backoff (the retries themselves still happen)."""
    module: Any = botocore.endpoint
    original = module.time
    module.time = ScaledSdkTime(scale)
    try:
        yield module.time
    finally:
        module.time = original


@dataclass
class System:
    """A running local system with its fault injector, journal and handles for tests."""

    runtime: LocalRuntime
    client: LocalClient
    injector: RecordingInjector
    journal: StatusJournal
    sdk_clock: ScaledSdkTime

    def fault_hook(self, hook: Callable[[str, Any, int], None]) -> Callable[[], None]:
        """Install a function fault hook; returns its remover."""
        return self.runtime.add_fault_hook(hook)

    def aws(self, service: str) -> Any:
        """A boto3 client of the embedded AWS (never faulted: it runs on the test's thread)."""
        return self.runtime.client(service)

    def wrap_handler(self, service: str, wrapper: Callable[[Any], Any]) -> Callable[[], None]:
        """Replace a function's handler by `wrapper(current)`; returns the restorer."""
        registry = self.runtime.registry
        assert registry is not None
        name = self.client.resources.function_name(service)
        current = registry.handler_for(name)
        assert current is not None
        registry.register(name, wrapper(current))
        return lambda: registry.register(name, current)


@pytest.fixture(scope="module")
def runtime_defaults() -> dict[str, Any]:
    """`LocalConfig` of this suite's systems: fast retries, 1 s visibility, 4 at a time."""
    return {
        "retry_scale": RETRY_SCALE,
        "visibility_timeout": 1,
        "failed_visibility": 0,
        "function_concurrency": 4,
    }


@pytest.fixture(scope="module")
def system(journal: StatusJournal, local_runtime: LocalRuntime) -> Iterator[System]:
    """The whole system (real handlers, in-process), one per module, with faults installable.

    `../conftest.py` starts it: a module may set `SYSTEM_CONFIG = {...}` to override
    `LocalConfig` fields, and `SERVER_MODE = True` to run moto as a server on 127.0.0.1 (AWS
    faults then do not apply).
    """
    injector = RecordingInjector(seed=int(os.environ.get("QIP_FAULT_SEED", "8")))
    with injector.installed(), scaled_sdk_retries(SDK_RETRY_SCALE) as sdk_clock:
        registry = local_runtime.registry
        assert registry is not None
        for service in ALL_SERVICES:
            name = local_runtime.resources.function_name(service)  # type: ignore[union-attr]
            handler = registry.handler_for(name)
            assert handler is not None
            registry.register(name, scoped(name, handler))
        yield System(local_runtime, local_runtime.local_client(), injector, journal, sdk_clock)


@pytest.fixture(scope="session")
def encode_image() -> Callable[..., bytes]:
    """Encode a small generated image (size, format, seed; optional EXIF with GPS)."""

    def encode(
        size: tuple[int, int], fmt: str, seed: int = 0, *, gps: bool = False, frames: int = 1
    ) -> bytes:
        rng = random.Random(seed)  # pixels, not secrets
        colour = tuple(rng.randrange(256) for _ in range(3))
        image = Image.new("RGB", size, colour)
        for _ in range(8):  # a few blocks, so outputs are not one flat colour
            x, y = rng.randrange(size[0]), rng.randrange(size[1])
            image.paste(tuple(rng.randrange(256) for _ in range(3)), (x, y, x + 6, y + 6))
        options: dict[str, Any] = {}
        if gps:
            exif = Image.Exif()
            exif[0x010F] = "QIP test camera"  # Make
            exif[0x0132] = "2026:11:26 07:00:00"  # DateTime
            exif[0x8825] = {1: "N", 2: (52.0, 22.0, 7.0), 3: "E", 4: (4.0, 53.0, 21.0)}
            options["exif"] = exif.tobytes()
        if frames > 1 and fmt in ("GIF", "WEBP"):
            extra = [image.rotate(90 * i) for i in range(1, frames)]
            options |= {"save_all": True, "append_images": extra, "duration": 50}
        buffer = io.BytesIO()
        image.save(buffer, fmt, **options)
        return buffer.getvalue()

    return encode


# -- invariants and helpers shared by the modules ---------------------------------------------


def wait_until(predicate: Callable[[], bool], timeout: float = 60.0) -> bool:
    """Poll `predicate` until it holds or the timeout passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@dataclass
class Ledger:
    """What a run left behind: uploads, records by status, DLQ keys, executions, outputs."""

    uploads: set[str]
    records: dict[str, dict[str, Any]]
    dlq: list[str]
    executions: list[dict[str, Any]]

    def by_status(self) -> Counter[str]:
        """How many records have each status."""
        return Counter(r["status"]["S"] for r in self.records.values())

    def terminal(self) -> set[str]:
        """Keys whose record is COMPLETED, FAILED or REJECTED."""
        terminal = {"COMPLETED", "FAILED", "REJECTED"}
        return {k for k, r in self.records.items() if r["status"]["S"] in terminal}

    def stuck(self) -> set[str]:
        """Keys whose record is neither terminal nor owed to a DLQ message."""
        return set(self.records) - self.terminal() - set(self.dlq)


def dlq_keys(client: LocalClient) -> list[str]:
    """The object keys of the messages in the DLQ (left there)."""
    return [json.loads(m["Body"])["detail"]["object"]["key"] for m in client.dlq_messages()]


def take_ledger(system: System) -> Ledger:
    """Scan uploads, the table, the DLQ and the executions of the system."""
    resources = system.client.resources
    s3, ddb = system.aws("s3"), system.aws("dynamodb")
    uploads = {
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=resources.upload_bucket, Prefix="uploads/"
        )
        for o in page.get("Contents", [])
    }
    records = {
        item["imageKey"]["S"]: item
        for page in ddb.get_paginator("scan").paginate(
            TableName=resources.table, ConsistentRead=True
        )
        for item in page["Items"]
    }
    sfn = system.aws("stepfunctions")
    executions = [
        e
        for page in sfn.get_paginator("list_executions").paginate(
            stateMachineArn=resources.state_machine_arn
        )
        for e in page["executions"]
    ]
    return Ledger(uploads, records, dlq_keys(system.client), executions)


def assert_nothing_lost(ledger: Ledger) -> None:
    """Invariant: uploads = terminal records + DLQ messages, nothing stuck in PROCESSING."""
    assert ledger.uploads == ledger.terminal() | set(ledger.dlq), (
        sorted(ledger.uploads - ledger.terminal() - set(ledger.dlq))[:5],
        sorted(ledger.terminal() - ledger.uploads)[:5],
    )
    assert ledger.stuck() == set(), {k: ledger.records[k]["status"] for k in ledger.stuck()}


def output_versions(system: System, image_key: str, upload_timestamp: str) -> dict[str, int]:
    """Every object version written for one image: `bucket/key` -> number of versions."""
    resources = system.client.resources
    s3 = system.aws("s3")
    counted: Counter[str] = Counter()
    for bucket, prefix in (
        (resources.upload_bucket, processed_prefix(image_key)),
        (resources.archive_bucket, archive_prefix(image_key, upload_timestamp)),
    ):
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
            for version in page.get("Versions", []):
                counted[f"{bucket}/{version['Key']}"] += 1
    return dict(counted)


def all_object_keys(system: System) -> dict[str, set[str]]:
    """Every current key of both buckets."""
    resources = system.client.resources
    s3 = system.aws("s3")
    found: dict[str, set[str]] = {}
    for bucket in (resources.upload_bucket, resources.archive_bucket):
        found[bucket] = {
            o["Key"]
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            for o in page.get("Contents", [])
        }
    return found


def execution_history(system: System, execution_arn: str) -> list[dict[str, Any]]:
    """Every event of one execution."""
    sfn = system.aws("stepfunctions")
    events: list[dict[str, Any]] = sfn.get_execution_history(
        executionArn=execution_arn, maxResults=1000
    )["events"]
    return events


def failed_attempts(history: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(function name, error name) of every failed Lambda attempt in a history."""
    scheduled: dict[int, str] = {}
    for event in history:
        details = event.get("lambdaFunctionScheduledEventDetails")
        if details:
            scheduled[event["id"]] = details["resource"].rsplit(":", 1)[-1]
    failures = []
    for event in history:
        if event["type"] == "LambdaFunctionFailed":
            # Started follows Scheduled; Failed follows Started.
            function = scheduled.get(event["previousEventId"] - 1, "?")
            failures.append((function, event["lambdaFunctionFailedEventDetails"]["error"]))
    return failures


# -- the report: docs/reliability.md -------------------------------------------------------------


@dataclass
class Report:
    """Sections the modules fill in; written to docs/reliability.md after a canonical run."""

    sections: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, text: str) -> None:
        """Set one section (markdown)."""
        self.sections[name] = text.strip() + "\n"

    @staticmethod
    def table(header: tuple[str, str], rows: list[tuple[str, object]]) -> str:
        """A two-column markdown table."""
        lines = [f"| {header[0]} | {header[1]} |", "|---|---|"]
        lines += [f"| {name} | {value} |" for name, value in rows]
        return "\n".join(lines)


SECTION_ORDER = ("transient", "permanent", "duplicates", "hostile", "privacy")


REPORT_HEAD = (
    "# Reliability: faults, duplicates and hostile input\n\n"
    "Generated by `nox -s reports` (`platform/local/tests/reliability/`) from one\n"
    "run on the local system (moto, in-process, real handlers, scaled retry waits). Lost and\n"
    "duplicates must be 0; each figure below is asserted by the suite, not just printed.\n"
)


@pytest.fixture(scope="session")
def report() -> Iterator[Report]:
    """Collects figures; writes them only where `QIP_RELIABILITY_REPORT` says (`nox -s reports`).

    Tests never write the docs on their own; `test_report_doc.py` checks the committed report.
    """
    collected = Report()
    yield collected
    target = os.environ.get("QIP_RELIABILITY_REPORT")
    if not target or target == "-" or not all(n in collected.sections for n in SECTION_ORDER):
        return
    body = "\n".join(collected.sections[name] for name in SECTION_ORDER)
    Path(target).write_text(REPORT_HEAD + "\n" + body)


@pytest.fixture(scope="session")
def report_head() -> str:
    """The head `nox -s reports` writes above the sections (for the committed-report check)."""
    return REPORT_HEAD


@pytest.fixture(scope="session")
def kit() -> SimpleNamespace:
    """Helpers (tests do not import conftest): scoped faults, waiting, the ledger and its
    invariant, outputs, histories."""
    return SimpleNamespace(
        ScopedFault=ScopedFault,
        wait_until=wait_until,
        take_ledger=take_ledger,
        assert_nothing_lost=assert_nothing_lost,
        output_versions=output_versions,
        all_object_keys=all_object_keys,
        execution_history=execution_history,
        failed_attempts=failed_attempts,
        dlq_keys=dlq_keys,
        event_image_key=event_image_key,
        current_image=current_image,
        fault_run_images=FAULT_RUN_IMAGES,
    )
