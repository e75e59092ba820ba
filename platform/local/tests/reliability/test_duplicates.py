"""Duplicate and out-of-order delivery (issue 8): the same S3 event delivered several times at
once starts one execution and one set of outputs; late stage updates never move a record
backwards; a stage re-run after its work (a Step Functions retry) is idempotent."""

from __future__ import annotations

import contextlib
import json
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError

from qip_shared.enums import ImageStatus, NotificationType, StageName, StageStatus
from qip_shared.errors import RetryableError
from qip_shared.keys import image_id_from_key
from qip_shared.record import StageInfo
from qip_shared.requests import stage_update_request, status_update_request
from qip_shared.timeutil import utc_now

STAGE_FUNCTIONS = {
    StageName.VALIDATION: "qip-validate",
    StageName.METADATA: "qip-metadata",
    StageName.RESIZE: "qip-resize",
    StageName.THUMBNAIL: "qip-thumbnail",
    StageName.ARCHIVE: "qip-archive",
}
FIGURES: dict[str, Any] = {}


def upload_armed(system: Any, data: bytes, arm: Callable[[str], None], name: str = "d.png") -> str:
    """Upload through upload-url and the POST, arming a fault for the key before it exists."""
    ticket = system.client.request_upload(content_type="image/png", size=len(data), file_name=name)
    arm(ticket.image_key)
    system.client.post_file(ticket, data, name)
    return str(ticket.image_key)


def executions_of(system: Any, image_key: str) -> list[dict[str, Any]]:
    """The executions whose name belongs to an image."""
    prefix = f"qip-{image_id_from_key(image_key)}"
    ledger_executions = system.aws("stepfunctions").list_executions(
        stateMachineArn=system.client.resources.state_machine_arn, maxResults=1000
    )["executions"]
    return [e for e in ledger_executions if e["name"].startswith(prefix)]


class Duplicator:
    """On the first delivery of an armed image, fan the same SQS event out to `copies` more
    concurrent trigger invocations, and hold every one at a barrier so they race."""

    def __init__(self, system: Any, image_key: Callable[[Any], str | None], copies: int) -> None:
        self.system = system
        self.image_key = image_key
        self.copies = copies
        self.target: str | None = None
        self.barrier = threading.Barrier(copies + 1, timeout=10)
        self.results: list[Any] = []
        self.threads: list[threading.Thread] = []
        self.fanned = False
        self.body: str | None = None
        self.lock = threading.Lock()

    def hook(self, function: str, event: Any, attempt: int) -> None:
        if function != "qip-trigger" or self.image_key(event) != self.target:
            return
        with self.lock:
            fan_out = not self.fanned
            self.fanned = True
        if fan_out:
            self.body = event["Records"][0]["body"]
            for i in range(self.copies):
                copy = json.loads(json.dumps(event))
                copy["Records"][0]["messageId"] = f"duplicate-{i}"
                thread = threading.Thread(target=self._invoke, args=(copy,), daemon=True)
                thread.start()
                self.threads.append(thread)
        with contextlib.suppress(threading.BrokenBarrierError):
            self.barrier.wait()

    def _invoke(self, event: dict[str, Any]) -> None:
        answer = self.system.aws("lambda").invoke(
            FunctionName="qip-trigger", Payload=json.dumps(event).encode()
        )
        self.results.append(json.loads(answer["Payload"].read() or b"null"))


@pytest.mark.parametrize("copies", [1, 4])
def test_the_same_event_delivered_concurrently_starts_one_execution(
    system: Any, kit: Any, encode_image: Callable[..., bytes], copies: int
) -> None:
    client = system.client
    client.notifications()
    duplicator = Duplicator(system, kit.event_image_key, copies)
    remove = system.fault_hook(duplicator.hook)
    try:
        key = upload_armed(
            system,
            encode_image((50, 40), "PNG", seed=copies),
            lambda k: setattr(duplicator, "target", k),
        )
        record = client.wait_for([key], timeout=60)[key]
        for thread in duplicator.threads:
            thread.join(30)
    finally:
        remove()
    assert duplicator.fanned
    assert len(duplicator.results) == copies
    assert record is not None
    assert record.status is ImageStatus.COMPLETED
    # A late duplicate, after the image finished, through the queue like any delivery.
    system.aws("sqs").send_message(QueueUrl=client.resources.queue_url, MessageBody=duplicator.body)
    assert kit.wait_until(
        lambda: (
            int(
                system.aws("sqs").get_queue_attributes(
                    QueueUrl=client.resources.queue_url,
                    AttributeNames=[
                        "ApproximateNumberOfMessages",
                        "ApproximateNumberOfMessagesNotVisible",
                    ],
                )["Attributes"]["ApproximateNumberOfMessages"]
            )
            == 0
        ),
        timeout=30,
    )

    assert [e["status"] for e in executions_of(system, key)] == ["SUCCEEDED"]
    versions = kit.output_versions(system, key, record.upload_timestamp)
    assert len(versions) == 5
    assert set(versions.values()) == {1}, versions
    assert system.journal.history(key) == ["UPLOADED", "PROCESSING", "COMPLETED"]
    kinds = Counter(n["eventType"] for n in client.notifications() if n.get("imageKey") == key)
    assert kinds[NotificationType.PROCESSING_COMPLETED] == 1
    assert kinds[NotificationType.PROCESSING_STARTED] == 1
    assert client.dlq_messages() == []
    FIGURES[f"deliveries {copies + 2}"] = "1 execution, 1 version of each of the 5 outputs"


def stage_inputs(system: Any, kit: Any, execution_arn: str) -> dict[str, dict[str, Any]]:
    """The input each stage function was invoked with, from the execution history."""
    inputs: dict[str, dict[str, Any]] = {}
    for event in kit.execution_history(system, execution_arn):
        details = event.get("lambdaFunctionScheduledEventDetails")
        if details:
            function = details["resource"].rsplit(":", 1)[-1]
            inputs[function] = json.loads(details["input"])
    return inputs


def object_bytes(system: Any, versions: dict[str, int]) -> dict[str, bytes]:
    """The current bytes of every output object."""
    s3 = system.aws("s3")
    found = {}
    for path in versions:
        bucket, _, key = path.partition("/")
        found[path] = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return found


def test_late_stage_updates_never_move_a_finished_record_backwards(
    system: Any, kit: Any, encode_image: Callable[..., bytes]
) -> None:
    client = system.client
    key = client.upload_bytes(encode_image((64, 48), "JPEG", seed=7), file_name="late.jpg")
    before = client.wait_for([key], timeout=60)[key]
    assert before is not None
    assert before.status is ImageStatus.COMPLETED
    outputs_before = object_bytes(system, kit.output_versions(system, key, before.upload_timestamp))
    inputs = stage_inputs(system, kit, before.execution_arn)
    assert set(inputs) == set(STAGE_FUNCTIONS.values())

    # Every stage delivered again, late and out of order (last stage first), all at once.
    lam = system.aws("lambda")

    def invoke(function: str) -> dict[str, Any]:
        answer = lam.invoke(FunctionName=function, Payload=json.dumps(inputs[function]).encode())
        return {"error": answer.get("FunctionError"), "payload": answer["Payload"].read()}

    with ThreadPoolExecutor(max_workers=5) as pool:
        answers = dict(
            zip(
                reversed(STAGE_FUNCTIONS.values()),
                pool.map(invoke, reversed(STAGE_FUNCTIONS.values())),
                strict=True,
            )
        )
    after = client.record(key)
    assert after == before, "a late stage run changed a finished record"
    assert system.journal.history(key) == ["UPLOADED", "PROCESSING", "COMPLETED"]
    versions_after = kit.output_versions(system, key, before.upload_timestamp)
    assert object_bytes(system, versions_after) == outputs_before

    # A stale write straight to the table is refused by its condition, never applied.
    ddb = system.aws("dynamodb")
    now = utc_now()
    stale = stage_update_request(
        client.resources.table,
        key,
        StageName.RESIZE,
        StageInfo(status=StageStatus.IN_PROGRESS, timestamp=now, started_at=now),
        updated_at=now,
    )
    backwards = status_update_request(
        client.resources.table, key, ImageStatus.PROCESSING, updated_at=now
    )
    for request in (stale, backwards):
        with pytest.raises(ClientError) as refused:
            ddb.update_item(**request)
        assert refused.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert client.record(key) == before
    FIGURES["late re-runs"] = {
        f: ("error " + a["error"]) if a["error"] else "ok (no change)" for f, a in answers.items()
    }
    FIGURES["late rewrites"] = sum(versions_after.values()) - len(versions_after)


def test_a_stage_rerun_after_its_work_is_idempotent(
    system: Any, kit: Any, report: Any, encode_image: Callable[..., bytes]
) -> None:
    client = system.client
    client.notifications()
    armed: dict[str, str] = {}  # image key -> function that fails once after its work
    failed_once: set[str] = set()
    lock = threading.Lock()

    def wrapper(function: str) -> Callable[[Any], Any]:
        def wrap(handler: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
            def call(event: Any, context: Any) -> Any:
                result = handler(event, context)
                key = kit.event_image_key(event)
                with lock:
                    again = armed.get(key) == function and key not in failed_once
                    if again:
                        failed_once.add(key)
                if again:
                    raise RetryableError(f"{function} lost its answer after doing its work")
                return result

            return call

        return wrap

    restorers = [
        system.wrap_handler(function.removeprefix("qip-"), wrapper(function))
        for function in STAGE_FUNCTIONS.values()
    ]
    try:
        keys = {
            upload_armed(
                system,
                encode_image((56, 42), "PNG", seed=100 + i),
                lambda k, f=function: armed.__setitem__(k, f),
            ): stage
            for i, (stage, function) in enumerate(STAGE_FUNCTIONS.items())
        }
        records = client.wait_for(list(keys), timeout=90)
    finally:
        for restore in restorers:
            restore()
    notes = client.notifications()
    stage_notes: Counter[tuple[str, str]] = Counter(
        (n["imageKey"], n.get("stage"))
        for n in notes
        if n.get("eventType") == NotificationType.STAGE_COMPLETED
    )
    rewrites = {}
    for key, stage in keys.items():
        record = records[key]
        assert record is not None
        assert record.status is ImageStatus.COMPLETED, (stage, record.error_message)
        failures = kit.failed_attempts(kit.execution_history(system, record.execution_arn))
        assert failures == [(STAGE_FUNCTIONS[stage], "RetryableError")]
        info = record.stages.get(stage)
        assert info is not None
        assert info.status is StageStatus.COMPLETED
        assert system.journal.history(key) == ["UPLOADED", "PROCESSING", "COMPLETED"]
        versions = kit.output_versions(system, key, record.upload_timestamp)
        assert len(versions) == 5, versions  # the same keys, nothing beside them
        rewrites[stage.value] = sum(versions.values()) - len(versions)
        assert len(executions_of(system, key)) == 1
        completed = [
            n
            for n in notes
            if n.get("imageKey") == key
            and n.get("eventType") == NotificationType.PROCESSING_COMPLETED
        ]
        assert len(completed) == 1
    repeated_notes = {stage.value: stage_notes[(key, stage.value)] for key, stage in keys.items()}
    report.add(
        "duplicates",
        """
## Duplicate and out-of-order delivery

"""
        + report.table(
            ("case", "how it ended"),
            [
                (
                    "the same S3 event delivered 2 and 5 times at once (held at a barrier so "
                    "the trigger invocations race), then once more after the image finished",
                    "1 execution, 1 version of each of the 5 outputs, one PROCESSING_STARTED "
                    "and one PROCESSING_COMPLETED notification, nothing dead-lettered",
                ),
                (
                    "every stage invoked again with its original input after COMPLETED, "
                    "last stage first, concurrently",
                    f"record unchanged, status history UPLOADED → PROCESSING → COMPLETED, "
                    f"output bytes unchanged; answers {FIGURES.get('late re-runs')}; "
                    f"objects rewritten with the same bytes: {FIGURES.get('late rewrites')}",
                ),
                (
                    "a stale stage update (IN_PROGRESS) and a backwards status update "
                    "(PROCESSING) written straight to a COMPLETED record",
                    "refused by their conditions (ConditionalCheckFailedException)",
                ),
                (
                    "each stage doing its work, then failing with RetryableError once "
                    "(Step Functions retries it)",
                    f"COMPLETED, one failed attempt in the history, the same 5 output keys "
                    f"(extra versions of the same key: {rewrites}), one PROCESSING_COMPLETED; "
                    f"STAGE_COMPLETED notifications of the re-run stage: {repeated_notes}",
                ),
            ],
        ),
    )
