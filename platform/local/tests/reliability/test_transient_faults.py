"""Random transient faults at 10 % per call (issue 8): throttling and 5xx from S3, DynamoDB, SNS
and EventBridge, stages raising RetryableError, the trigger failing before and after it starts
the execution. Every image still ends COMPLETED, once, with one set of outputs."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from qip_shared.enums import NotificationType
from qip_shared.errors import RetryableError
from qip_shared.limits import LIMITS, Workflow

SEED = 8
RATE = 0.10
# Retries of a RetryableError the Express definition allows (the attempt after them passes).
RETRIES = LIMITS[Workflow.EXPRESS].service_retry.max_attempts


def _times(count: int) -> str:
    """`once`, `2 times`: how often, in the report's words."""
    return "once" if count == 1 else f"{count} times"


FORMATS = ("JPEG", "PNG", "GIF", "WEBP")
# Two throttling/5xx answers per service, each at half the rate: 10 % of calls fail.
AWS_FAULTS = {
    "s3": [("SlowDown", 503), ("InternalError", 500)],
    "dynamodb": [("ProvisionedThroughputExceededException", 400), ("InternalServerError", 500)],
    "sns": [("Throttling", 400), ("InternalError", 500)],
    "eventbridge": [("ThrottlingException", 400), ("InternalException", 500)],
}
STAGES = ("qip-validate", "qip-metadata", "qip-resize", "qip-thumbnail", "qip-archive")
CALLERS = frozenset({*STAGES, "qip-trigger", "qip-upload-url", "states"})


def chance(*parts: object) -> float:
    """A repeatable draw in [0, 1) for one decision (independent of thread interleaving)."""
    digest = hashlib.sha256(":".join(map(str, (SEED, *parts))).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class TransientFaults:
    """Stage and trigger faults at RATE, bounded so a retry always gets through in the end."""

    def __init__(self, image_key: Callable[[Any], str | None]) -> None:
        self.image_key = image_key
        self.stage_faults: Counter[tuple[str, str]] = Counter()
        self.trigger_before: set[str] = set()
        self.trigger_after: set[str] = set()
        self.deliveries: Counter[str] = Counter()
        self.lock = threading.Lock()

    def hook(self, function: str, event: Any, attempt: int) -> None:
        """Before an invocation: a stage's transient error, or the trigger failing up front."""
        key = self.image_key(event)
        if key is None:
            return
        if function in STAGES:
            # Within the Express retry budget, so the last attempt the definition allows passes.
            if attempt <= RETRIES and chance(function, key, attempt) < RATE:
                with self.lock:
                    self.stage_faults[(function, key)] += 1
                raise RetryableError(f"injected transient fault in {function}, attempt {attempt}")
        elif function == "qip-trigger":
            with self.lock:
                self.deliveries[key] += 1
                first = self.deliveries[key] == 1
                if first and chance("before", key) < RATE:
                    self.trigger_before.add(key)
                    raise RuntimeError("injected trigger fault before starting the execution")

    def after_trigger(self, handler: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        """Wrap the trigger: after its work (execution started) it sometimes fails anyway."""

        def call(event: Any, context: Any) -> Any:
            result = handler(event, context)
            key = self.image_key(event)
            with self.lock:
                once = key is not None and not ({key} & (self.trigger_before | self.trigger_after))
                if once and self.deliveries[key] == 1 and chance("after", key) < RATE:
                    self.trigger_after.add(key)
                    raise RuntimeError("injected trigger fault after starting the execution")
            return result

        return call


def test_random_transient_faults_lose_and_duplicate_nothing(
    system: Any, kit: Any, report: Any, encode_image: Callable[..., bytes]
) -> None:
    images = kit.fault_run_images
    client = system.client
    client.notifications()
    client.processing_events()
    faults = TransientFaults(kit.event_image_key)
    remove_hook = system.fault_hook(faults.hook)
    restore_trigger = system.wrap_handler("trigger", faults.after_trigger)
    injected_before = system.injector.injected()
    for service, answers in AWS_FAULTS.items():
        for code, status in answers:
            system.injector.add(
                kit.ScopedFault(
                    service,
                    code=code,
                    status=status,
                    rate=RATE / 2,
                    functions=CALLERS - {"states"} if service == "eventbridge" else CALLERS,
                )
            )
    payloads = [
        (
            encode_image((40 + i % 23, 30 + i % 17), FORMATS[i % 4], seed=i),
            f"fault-{i}.{FORMATS[i % 4].lower()}",
        )
        for i in range(images)
    ]
    started = time.perf_counter()
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            keys = list(pool.map(lambda p: client.upload_bytes(p[0], file_name=p[1]), payloads))
        records = client.wait_for(keys, timeout=240 + 3 * images, interval=0.25)
    finally:
        system.injector.clear()
        remove_hook()
        restore_trigger()
    elapsed = time.perf_counter() - started

    statuses = Counter(r.status.value if r else "MISSING" for r in records.values())
    assert statuses == {"COMPLETED": images}, statuses

    ledger = kit.take_ledger(system)
    kit.assert_nothing_lost(ledger)
    lost = len(ledger.uploads - ledger.terminal() - set(ledger.dlq))

    # One execution per image, all succeeded; the redelivered ones did not start another.
    per_key = Counter(records[k].execution_arn for k in keys)
    assert len(ledger.executions) == images == len(per_key)
    sfn = system.aws("stepfunctions")
    failed_runs = [
        {
            k: v
            for k, v in sfn.describe_execution(executionArn=e["executionArn"]).items()
            if k in ("error", "cause")
        }
        for e in ledger.executions
        if e["status"] != "SUCCEEDED"
    ]
    assert failed_runs == []
    extra_executions = len(ledger.executions) - images

    # Retries are visible in the execution histories, at least every injected stage fault.
    history_failures = 0
    for key in keys:
        failures = kit.failed_attempts(kit.execution_history(system, records[key].execution_arn))
        history_failures += len(failures)
        for (function, image), count in faults.stage_faults.items():
            if image == key:
                assert failures.count((function, "RetryableError")) >= count, (key, failures)
    injected_stage = sum(faults.stage_faults.values())
    assert injected_stage > 0
    assert history_failures >= injected_stage

    # Every status history moved forward only.
    for key in keys:
        assert system.journal.history(key) == ["UPLOADED", "PROCESSING", "COMPLETED"], key

    # One set of outputs each: exactly the expected keys; a retried stage may rewrite its key.
    extra_outputs = 0
    rewritten = 0
    for key in keys:
        versions = kit.output_versions(system, key, records[key].upload_timestamp)
        expected = {
            f"{client.resources.upload_bucket}/{records[key].resized_key}",
            f"{client.resources.upload_bucket}/{records[key].thumbnail_key}",
        }
        assert expected <= set(versions), (key, versions)
        extra_outputs += len(versions) - 5  # resized + thumbnail + 3 archived objects
        rewritten += sum(n - 1 for n in versions.values())
    assert extra_outputs == 0

    # One terminal notification per image.
    # Read the whole tap (over 1,000 notifications at 200 images).
    notes = client.read_queue(client.resources.notifications_queue_url, max_messages=10**6)
    terminal = Counter(
        n["imageKey"] for n in notes if n.get("eventType") == NotificationType.PROCESSING_COMPLETED
    )
    assert terminal == Counter(dict.fromkeys(keys, 1))

    aws = system.injector.injected() - injected_before
    by_service = Counter()
    for name, count in aws.items():
        by_service[name.split(":", 1)[0]] += count
    assert set(by_service) == set(AWS_FAULTS), (
        by_service,
        {k: v for k, v in system.injector.calls.items() if k[1] == "sns"},
    )
    assert faults.trigger_before or faults.trigger_after or images < 40
    total_faults = sum(aws.values()) + injected_stage
    total_faults += len(faults.trigger_before) + len(faults.trigger_after)

    calls = sum(
        n
        for (caller, service, _op), n in system.injector.calls.items()
        if caller in CALLERS and service in AWS_FAULTS
    )
    rows = "\n".join(f"| `{name}` | {count} |" for name, count in sorted(aws.items()))
    stage_rows = Counter(function for function, _ in faults.stage_faults.elements())
    failed_calls = sum(aws.values())
    figures = report.table(
        ("figure", "value"),
        [
            ("images uploaded", images),
            ("COMPLETED", statuses["COMPLETED"]),
            ("lost (uploads - terminal records - DLQ)", lost),
            ("duplicate executions", extra_executions),
            ("duplicate outputs (keys beyond resized, thumbnail, 3 archived)", extra_outputs),
            ("PROCESSING_COMPLETED notifications", f"{sum(terminal.values())} (one per image)"),
            ("faults injected in total", total_faults),
            (
                "AWS calls to the four services",
                f"{calls} ({failed_calls} failed: {failed_calls / max(calls, 1):.1%})",
            ),
            ("SDK retries slept (scaled)", system.sdk_clock.sleeps),
            (
                "stage faults (RetryableError)",
                f"{injected_stage} {dict(sorted(stage_rows.items()))}",
            ),
            ("failed attempts in the execution histories", history_failures),
            ("trigger failed before starting the execution", len(faults.trigger_before)),
            ("trigger failed after starting the execution", len(faults.trigger_after)),
            ("output objects rewritten by a retried stage (same key)", rewritten),
            ("wall time", f"{elapsed:.0f} s ({images / elapsed:.2f} images/s, 2 cores)"),
        ],
    )
    report.add(
        "transient",
        f"""
## Random transient faults

{images} generated images (JPEG, PNG, GIF and WebP in turn) uploaded through upload-url and
the presigned POST, 8 at a time, while every AWS call the functions and the state machine make
to S3, DynamoDB, SNS and EventBridge fails at {RATE:.0%} (throttling or 5xx, seed {SEED}), each
stage invocation raises `RetryableError` at {RATE:.0%} (at most {_times(RETRIES)} in a row, so
attempt {RETRIES + 1}, the last the Express definition allows, passes), and the trigger fails at
{RATE:.0%} before, or after, starting the execution. EventBridge faults spare the state
machine's own `AnnounceCompleted`/`AnnounceFailed` tasks: moto reports a failed `events:putEvents`
integration as `States.Runtime`, which no Retry matches, so the execution would fail after
the record is COMPLETED (on AWS the task's Retry applies; it has no Catch after retries).

{figures}

AWS faults by call:

| call and answer | injected |
|---|---|
{rows}
""",
    )
    print(f"\n{images} images with transient faults: {elapsed:.1f}s; faults {total_faults}")
    print(json.dumps({"aws": dict(aws), "stage": injected_stage}, indent=1))
