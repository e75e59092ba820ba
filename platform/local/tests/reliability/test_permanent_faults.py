"""Permanent faults (issue 8): a stage that crashes, a stage whose AWS access is denied, a
trigger that cannot process its message (before, or after, starting the execution). Each
affected image ends FAILED with its error and failing stage, notified; each message the
trigger cannot process is dead-lettered after 3 receives, each image a stage failed is
dead-lettered by the pipeline's failure path (issue 15), and the redrive `qip dlq redrive` runs
(messages moved unchanged, as SQS's own redrive moves them) replays all of them to COMPLETED
once the fault is gone."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from qip_shared.enums import EventDetailType, ImageStatus, NotificationType, StageName
from qip_shared.limits import LIMITS, Workflow

STAGE_FUNCTIONS = {
    StageName.VALIDATION: "qip-validate",
    StageName.METADATA: "qip-metadata",
    StageName.RESIZE: "qip-resize",
    StageName.THUMBNAIL: "qip-thumbnail",
    StageName.ARCHIVE: "qip-archive",
}
MAX_RECEIVES = 3
EXPRESS_LIMITS = LIMITS[Workflow.EXPRESS]


class Crash:
    """A function fault hook: the named function crashes on every call about chosen images."""

    def __init__(self, image_key: Callable[[Any], str | None]) -> None:
        self.image_key = image_key
        self.targets: dict[str, str] = {}  # image key -> function name
        self.calls: Counter[str] = Counter()
        self.lock = threading.Lock()

    def __call__(self, function: str, event: Any, attempt: int) -> None:
        key = self.image_key(event)
        if key is not None and self.targets.get(key) == function:
            with self.lock:
                self.calls[key] += 1
            raise RuntimeError("injected crash")  # says nothing of where: the record must


class CrashAfter:
    """Wraps the trigger: for chosen images it fails after its work (execution started)."""

    def __init__(self, image_key: Callable[[Any], str | None]) -> None:
        self.image_key = image_key
        self.keys: set[str] = set()
        self.calls: Counter[str] = Counter()
        self.lock = threading.Lock()

    def __call__(self, handler: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        def call(event: Any, context: Any) -> Any:
            result = handler(event, context)
            key = self.image_key(event)
            if key in self.keys:
                with self.lock:
                    self.calls[key] += 1
                raise RuntimeError("injected trigger crash after starting the execution")
            return result

        return call


@pytest.fixture(scope="module")
def outcome(system: Any, kit: Any, encode_image: Callable[..., bytes]) -> dict[str, Any]:
    """One run with every kind of permanent fault, then the fix and the redrive."""
    client = system.client
    client.notifications()
    client.processing_events()
    crash = Crash(kit.event_image_key)
    after = CrashAfter(kit.event_image_key)
    remove_hook = system.fault_hook(crash)
    restore_trigger = system.wrap_handler("trigger", after)

    def upload(name: str, seed: int) -> str:
        key: str = client.upload_bytes(encode_image((48, 36), "PNG", seed=seed), file_name=name)
        return key

    # Keys are chosen by upload-url, so faults are armed for the next upload by name below;
    # uploads are sequential for that reason.
    crashed: dict[str, StageName] = {}
    denied: dict[str, StageName] = {}
    trigger_before: list[str] = []
    trigger_after: list[str] = []
    trigger_denied: list[str] = []
    fine: list[str] = []
    seed = 0

    def arm_next(arm: Callable[[str], None]) -> str:
        nonlocal seed
        seed += 1
        # Arm before the object exists: S3 -> EventBridge -> SQS is immediate in-process.
        data = encode_image((48, 36), "PNG", seed=seed)
        ticket = client.request_upload(content_type="image/png", size=len(data), file_name="p.png")
        arm(ticket.image_key)
        client.post_file(ticket, data, "p.png")
        return str(ticket.image_key)

    for stage, function in STAGE_FUNCTIONS.items():
        crashed[arm_next(lambda k, f=function: crash.targets.__setitem__(k, f))] = stage
        denied[
            arm_next(
                lambda k, f=function: system.injector.add(
                    kit.ScopedFault(
                        "s3",
                        code="AccessDenied",
                        status=403,
                        message="injected: access denied",
                        functions=frozenset({f}),
                        images=frozenset({k}),
                    )
                )
            )
        ] = stage
    for _ in range(2):
        trigger_before.append(arm_next(lambda k: crash.targets.__setitem__(k, "qip-trigger")))
        trigger_after.append(arm_next(after.keys.add))
        trigger_denied.append(
            arm_next(
                lambda k: system.injector.add(
                    kit.ScopedFault(
                        "sfn",  # botocore's event name for Step Functions
                        "StartExecution",
                        code="AccessDeniedException",
                        status=400,
                        functions=frozenset({"qip-trigger"}),
                        images=frozenset({k}),
                    )
                )
            )
        )
        fine.append(upload("fine.png", 1000 + seed))
    dead = trigger_before + trigger_after + trigger_denied
    stage_failed = [*crashed, *denied]
    try:
        dlq_ready = kit.wait_until(
            lambda: set(dead + stage_failed) <= set(kit.dlq_keys(client)), timeout=60
        )
        failed_records = client.wait_for([*crashed, *denied, *fine], timeout=120)
        before_fix = kit.take_ledger(system)
        kit.assert_nothing_lost(before_fix)
        notes = client.notifications()
        events = client.processing_events()
        receives = {k: crash.calls[k] for k in trigger_before} | {
            k: after.calls[k] for k in trigger_after
        }
    finally:
        remove_hook()
        restore_trigger()
        system.injector.clear()
    # The fault is gone: replay the dead letters, as `qip dlq redrive` does.
    moved = client.dlq_redrive()
    # The FAILED records (start denied, stage failed) are settled until the trigger takes the
    # replayed message: wait for it to move them on before waiting for them to settle.
    kit.wait_until(
        lambda: all(
            (r := client.record(k)) is not None and r.status is not ImageStatus.FAILED
            for k in [*trigger_denied, *stage_failed]
        ),
        timeout=60,
    )
    replayed = client.wait_for([*dead, *stage_failed], timeout=120)
    after_fix = kit.take_ledger(system)
    kit.assert_nothing_lost(after_fix)
    return {
        "crashed": crashed,
        "denied": denied,
        "trigger_before": trigger_before,
        "trigger_after": trigger_after,
        "trigger_denied": trigger_denied,
        "fine": fine,
        "records": failed_records,
        "before_fix": before_fix,
        "after_fix": after_fix,
        "dlq_ready": dlq_ready,
        "notes": notes,
        "events": events,
        "receives": receives,
        "moved": moved,
        "replayed": replayed,
    }


def test_a_failing_stage_ends_its_image_failed_with_error_and_stage(
    outcome: dict[str, Any], system: Any, kit: Any
) -> None:
    records = outcome["records"]
    for key in outcome["fine"]:
        assert records[key].status is ImageStatus.COMPLETED
    for group in ("crashed", "denied"):
        for key, stage in outcome[group].items():
            record = records[key]
            assert record.status is ImageStatus.FAILED, (group, stage, record.status)
            assert record.error_message, (group, stage)
            assert record.error_type == ("RuntimeError" if group == "crashed" else "PermanentError")
            # The history names the failing function: a crash (States.TaskFailed) is tried as
            # often as the Express budget allows (1 + its task retries), a PermanentError once.
            failures = kit.failed_attempts(kit.execution_history(system, record.execution_arn))
            attempts = 1 + EXPRESS_LIMITS.task_retry.max_attempts if group == "crashed" else 1
            assert failures == [(STAGE_FUNCTIONS[stage], record.error_type)] * attempts
            # Then (issue 15) its dead letter, redriven after the fix, ran it to the end.
            assert system.journal.history(key) == [
                "UPLOADED",
                "PROCESSING",
                "FAILED",
                "PROCESSING",
                "COMPLETED",
            ]


@pytest.mark.parametrize("stage", list(STAGE_FUNCTIONS))
def test_a_stage_failing_in_its_own_code_records_itself_failed(
    outcome: dict[str, Any], stage: StageName
) -> None:
    (key,) = [k for k, s in outcome["denied"].items() if s is stage]
    record = outcome["records"][key]
    info = record.stages.get(stage)
    assert info is not None, record.stages
    assert info.status.value == "FAILED", info.status
    assert info.error_message


def test_a_crashed_stage_is_named_in_the_record(outcome: dict[str, Any]) -> None:
    # The crash happens before the stage's code runs; the per-stage Catch names it (failedStage).
    for key, stage in outcome["crashed"].items():
        record = outcome["records"][key]
        assert record.failed_stage == stage.value, (stage, record.failed_stage)
        named = (
            record.stages.get(stage) is not None
            or stage.value in (record.error_message or "")
            or record.failed_stage == stage.value
        )
        assert named, (stage, record.error_message)


def test_every_failed_image_is_notified_once(outcome: dict[str, Any]) -> None:
    failed = Counter(
        n["imageKey"]
        for n in outcome["notes"]
        if n.get("eventType") == NotificationType.PROCESSING_FAILED
    )
    # The trigger notifies a start it gave up on (its last delivery) itself.
    expected = [*outcome["crashed"], *outcome["denied"], *outcome["trigger_denied"]]
    assert failed == Counter(dict.fromkeys(expected, 1))
    by_key = {
        n["imageKey"]: n
        for n in outcome["notes"]
        if n.get("eventType") == NotificationType.PROCESSING_FAILED
    }
    for key in expected:
        assert by_key[key].get("errorMessage")


def test_every_failed_image_emits_a_processing_failed_event(outcome: dict[str, Any]) -> None:
    expected = [*outcome["crashed"], *outcome["denied"]]
    emitted = Counter(
        e["detail"].get("imageKey")
        for e in outcome["events"]
        if e.get("detail-type") == EventDetailType.PROCESSING_FAILED
        and e["detail"].get("imageKey") in expected
    )
    assert emitted == Counter(dict.fromkeys(expected, 1))


def test_unprocessable_messages_are_dead_lettered_after_three_receives(
    outcome: dict[str, Any],
) -> None:
    assert outcome["dlq_ready"]
    ledger = outcome["before_fix"]
    dead = [*outcome["trigger_before"], *outcome["trigger_after"], *outcome["trigger_denied"]]
    # Issue 15: each image a stage failed has its dead letter too, from the failure path.
    stage_failed = [*outcome["crashed"], *outcome["denied"]]
    assert sorted(ledger.dlq) == sorted(dead + stage_failed)
    for key, receives in outcome["receives"].items():
        assert receives == MAX_RECEIVES, key
    for key in outcome["trigger_before"]:
        assert key not in ledger.records  # it never got as far as the record
    for key in outcome["trigger_after"]:
        # The execution it started finished; only the message is left over.
        assert ledger.records[key]["status"]["S"] == "COMPLETED"
    for key in outcome["trigger_denied"]:
        # On its last delivery the trigger gives up: FAILED, with why, and notified.
        record = ledger.records[key]
        assert record["status"]["S"] == "FAILED"
        assert "could not be started" in record["errorMessage"]["S"]


def test_redrive_replays_every_dead_letter_to_completed(
    outcome: dict[str, Any], system: Any, kit: Any, report: Any
) -> None:
    dead = [*outcome["trigger_before"], *outcome["trigger_after"], *outcome["trigger_denied"]]
    stage_failed = [*outcome["crashed"], *outcome["denied"]]
    assert outcome["moved"] == len(dead) + len(stage_failed)
    for key in [*outcome["trigger_before"], *outcome["trigger_after"], *stage_failed]:
        record = outcome["replayed"][key]
        assert record is not None
        assert record.status is ImageStatus.COMPLETED, (key, record.status)
        assert record.dead_letter_id is None
    ledger = outcome["after_fix"]
    assert ledger.dlq == []
    # One execution per image, the redelivered ones included; an image a stage failed has
    # exactly one more: its failed run, then the run its dead letter started.
    per_image = Counter(
        r["executionArn"]["S"] for r in ledger.records.values() if "executionArn" in r
    )
    assert all(n == 1 for n in per_image.values())
    assert len(ledger.executions) == len(per_image) + len(stage_failed)
    statuses = ledger.by_status()
    completed = sum(
        1
        for k in [*dead, *stage_failed]
        if (r := outcome["replayed"][k]) is not None and r.status is ImageStatus.COMPLETED
    )
    crashed, denied = outcome["crashed"], outcome["denied"]
    failed_count = len(crashed) + len(denied)
    figures = report.table(
        ("figure", "value"),
        [
            (
                "stage faults: images FAILED with `errorType`/`errorMessage` "
                f"(a crash after {1 + EXPRESS_LIMITS.task_retry.max_attempts} attempts, "
                "a `PermanentError` after 1)",
                f"{failed_count} of {failed_count}",
            ),
            (
                "failing stage recorded FAILED in `stages.<stage>`",
                f"{len(denied)} of {len(denied)}",
            ),
            (
                "failing stage named in the record after a crash before the stage's code",
                f"0 of {len(crashed)}: **gap**, only the execution history names the function",
            ),
            ("PROCESSING_FAILED notifications", "one per failed image"),
            (
                "ProcessingFailed events on EventBridge (state machine path)",
                "one per failed image",
            ),
            (f"messages dead-lettered after exactly {MAX_RECEIVES} receives", len(dead)),
            ("images dead-lettered by the pipeline's failure path", len(stage_failed)),
            (
                "dead letters redriven (moved unchanged)",
                f"{outcome['moved']} of {len(dead) + len(stage_failed)}",
            ),
            (
                "replayed to COMPLETED",
                f"{completed} of {len(dead) + len(stage_failed)} (the "
                f"{len(outcome['trigger_denied'])} whose start was denied and the "
                f"{len(stage_failed)} a stage failed included)",
            ),
            ("executions per image after the redrive", "1, plus the failed run for stage faults"),
            ("lost", 0),
            ("records at the end", dict(sorted(statuses.items()))),
        ],
    )
    report.add(
        "permanent",
        f"""
## Permanent faults

One image per stage crashed (the function raises `RuntimeError` on every attempt), one per
stage had its S3 access denied (`AccessDenied` 403: the stage's own code fails, maps it to
`PermanentError` and records the stage FAILED), and the trigger could not process 6 messages:
2 failing before anything, 2 failing after starting the execution, 2 whose `StartExecution`
was denied. {len(outcome["fine"])} unaffected images ran alongside.

{figures}

When `StartExecution` fails on the last delivery, the trigger marks the image FAILED (with
`errorMessage` "pipeline could not be started", a PROCESSING_FAILED notification and a
ProcessingFailed event) *and* the message is dead-lettered. The redrive moves every message back
unchanged (as SQS's own redrive does); the trigger claims such a record FAILED → PROCESSING (its
pipeline never started: no `executionArn`, no stage), clears the error and starts it once (test
`test_redrive_revives_an_image_whose_start_was_denied`). When a stage fails after its retries,
the failure path records `deadLetterId` and sends the image's upload event to the DLQ marked with
it (`qipDeadLetter`); redriven, that dead letter claims the record once, under a new execution
name, and runs it to the end.

A trigger that fails after starting the execution leaves a COMPLETED image *and* its message
in the DLQ; the redrive then finds the execution already run and only removes the message.
""",
    )


def test_redrive_revives_an_image_whose_start_was_denied(
    outcome: dict[str, Any], system: Any
) -> None:
    # The replayed message (unchanged) finds the record the trigger failed itself (the pipeline
    # never started): the trigger claims it FAILED -> PROCESSING and starts it once.
    executions = outcome["after_fix"].executions
    for key in outcome["trigger_denied"]:
        record = outcome["replayed"][key]
        assert record is not None
        assert record.status is ImageStatus.COMPLETED, (key, record.status)
        assert record.execution_arn
        assert record.error_message is None
        assert record.error_type is None
        assert system.journal.history(key) == [
            "UPLOADED",
            "PROCESSING",
            "FAILED",
            "PROCESSING",
            "COMPLETED",
        ]
        assert [e["executionArn"] for e in executions].count(record.execution_arn) == 1
