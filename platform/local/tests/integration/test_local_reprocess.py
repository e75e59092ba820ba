"""Issue 15 on the in-process system: a stage failure leaves a dead letter that a plain SQS move
reprocesses once; `qip reprocess`; the images API with the local identity (ownership)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image

from qip_local import LocalClient, LocalConfig, LocalRuntime
from qip_local.client import LOCAL_USER_CLAIMS
from qip_shared.enums import ImageStatus
from qip_shared.errors import PermanentError
from qip_shared.messages import DEAD_LETTER_ATTRIBUTE


def _jpeg(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (seed * 37 % 256, 80, 120)).save(buffer, "JPEG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def runtime() -> Iterator[LocalRuntime]:
    with LocalRuntime(LocalConfig(retry_scale=0.001, visibility_timeout=2)) as started:
        yield started


@pytest.fixture(scope="module")
def client(runtime: LocalRuntime) -> LocalClient:
    return runtime.local_client()  # type: ignore[no-any-return]


def _fail_resize_of(runtime: LocalRuntime, key: str) -> Any:
    def broken(function: str, event: Any, attempt: int) -> None:
        # A stage task's input is `{"state": ..., "execution": ...}`.
        state = event.get("state") if isinstance(event, dict) else None
        if function.endswith("resize") and isinstance(state, dict) and state.get("imageKey") == key:
            raise PermanentError("resize is broken for this image")

    return runtime.add_fault_hook(broken)


def _failed_image(runtime: LocalRuntime, client: LocalClient, seed: int) -> Any:
    """An image whose resize fails for good: FAILED by the pipeline, its dead letter queued."""
    ticket = client.request_upload(content_type="image/jpeg", size=len(_jpeg(seed)))
    remove = _fail_resize_of(runtime, ticket.image_key)
    try:
        client.post_file(ticket, _jpeg(seed), "doomed.jpg")
        record = client.wait_for([ticket.image_key], timeout=60)[ticket.image_key]
    finally:
        remove()
    assert record is not None
    assert record.status is ImageStatus.FAILED
    return record


def _sqs_redrive(runtime: LocalRuntime) -> list[dict[str, Any]]:
    """What SQS's own redrive does: move every DLQ message to the queue, body and attributes
    unchanged (moto has no StartMessageMoveTask, so the same calls by hand; no CLI code)."""
    assert runtime.resources is not None
    sqs = runtime.client("sqs")
    moved = []
    while True:
        got = sqs.receive_message(
            QueueUrl=runtime.resources.dlq_url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not got:
            return moved
        for message in got:
            extra = {}
            if message.get("MessageAttributes"):
                extra["MessageAttributes"] = message["MessageAttributes"]
            sqs.send_message(
                QueueUrl=runtime.resources.queue_url, MessageBody=message["Body"], **extra
            )
            sqs.delete_message(
                QueueUrl=runtime.resources.dlq_url, ReceiptHandle=message["ReceiptHandle"]
            )
            moved.append(message)


def _executions(runtime: LocalRuntime) -> list[dict[str, Any]]:
    assert runtime.resources is not None
    return runtime.client("stepfunctions").list_executions(
        stateMachineArn=runtime.resources.state_machine_arn, maxResults=1000
    )["executions"]


def test_a_stage_failure_is_dead_lettered_and_a_plain_sqs_move_reprocesses_it_once(
    runtime: LocalRuntime, client: LocalClient
) -> None:
    _sqs_redrive(runtime)  # start from an empty DLQ
    failed = _failed_image(runtime, client, 1)
    assert failed.dead_letter_id
    assert failed.dead_letter_id == failed.execution_arn
    # Requirement 6.2: the failure after the retries left a dead-letter entry, in the shape the
    # trigger reads, marked with the id the record holds.
    dead = client.dlq_messages()
    assert len(dead) == 1
    body = json.loads(dead[0]["Body"])
    assert body["detail"]["object"]["key"] == failed.image_key
    assert body["detail"]["bucket"]["name"] == failed.bucket

    moved = _sqs_redrive(runtime)
    assert [m["MessageAttributes"][DEAD_LETTER_ATTRIBUTE]["StringValue"] for m in moved] == [
        failed.dead_letter_id
    ]
    record = client.wait_for_change(failed, timeout=60)
    assert record is not None
    assert record.status is ImageStatus.COMPLETED
    assert record.dead_letter_id is None
    assert record.error_message is None
    runs = [
        e
        for e in _executions(runtime)
        if e["executionArn"] in (failed.execution_arn, record.execution_arn)
    ]
    assert sorted(e["status"] for e in runs) == ["FAILED", "SUCCEEDED"]

    # A second copy of the same dead letter, and a true duplicate of the upload event, change
    # nothing: the marker is gone from the record.
    sqs = runtime.client("sqs")
    assert runtime.resources is not None
    for attributes in (moved[0]["MessageAttributes"], None):
        sqs.send_message(
            QueueUrl=runtime.resources.queue_url,
            MessageBody=moved[0]["Body"],
            **({"MessageAttributes": attributes} if attributes else {}),
        )
    client.wait_for([record.image_key], timeout=5)
    again = client.record(record.image_key)
    assert again == record
    assert (
        len(
            [
                e
                for e in _executions(runtime)
                if failed.image_key.rsplit("/", 1)[-1].split(".")[0] in e["name"]
            ]
        )
        == 2
    )


def test_qip_reprocess_runs_a_failed_image_again(
    runtime: LocalRuntime, client: LocalClient
) -> None:
    failed = _failed_image(runtime, client, 2)
    before = client.reprocess(failed.image_key)
    assert before == failed
    record = client.wait_for_change(failed, timeout=60)
    assert record is not None
    assert record.status is ImageStatus.COMPLETED
    from qip_local.client import NotReprocessableError  # noqa: PLC0415

    with pytest.raises(NotReprocessableError, match="only a FAILED image"):
        client.reprocess(failed.image_key)


def test_the_local_images_api_serves_only_the_local_users_images(
    runtime: LocalRuntime, client: LocalClient
) -> None:
    key = client.upload_bytes(_jpeg(3), file_name="mine.jpg")
    record = client.wait_for([key], timeout=60)[key]
    assert record is not None
    assert record.status is ImageStatus.COMPLETED
    # upload-url pinned the caller's subject; the trigger wrote it on the record.
    assert record.owner == LOCAL_USER_CLAIMS["sub"]

    status, body = client.images_api(f"/images/{key}")
    assert status == 200
    assert set(body["outputs"]) == {"resized", "thumbnail"}
    stranger = {"sub": "11111111-2222-4333-8444-555555555555"}
    status, body = client.images_api(f"/images/{key}", claims=stranger)
    assert (status, body["error"]["code"]) == (404, "NOT_FOUND")
    status, body = client.images_api("/images", claims=stranger)
    assert (status, body["images"]) == (200, [])
    status, body = client.images_api("/images", {"status": "COMPLETED", "limit": "100"})
    assert status == 200
    assert key in [image["imageKey"] for image in body["images"]]
