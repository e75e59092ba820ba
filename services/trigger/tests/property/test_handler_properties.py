"""Property tests of the trigger end to end on moto (one account per test, many uploads)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from moto import mock_aws

from qip_shared.enums import ImageStatus, RejectionReason
from qip_trigger import handler as trigger_handler
from qip_trigger.core import sniff_format

IMAGE_TYPES = ["image/jpeg", "image/png", "image/gif", "image/webp"]
SIGNATURES = [b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF89a"]


def _key(tag: uuid.UUID) -> str:
    # Hypothesis replays examples: a fresh id keeps every example a new upload.
    return f"uploads/2026/11/26/{tag}-{uuid.uuid4()}.jpg"


# Property 1: Metadata record creation with required fields, and Property 3: Invalid file
# rejection — end to end: every upload's record is created UPLOADED with imageKey,
# uploadTimestamp, size and contentType; an image is then started exactly once however often its
# message is delivered, and a non-image ends REJECTED with no execution started.
def test_uploads_are_recorded_then_started_once_or_rejected(
    account_factory: Callable[[], Any],
    trigger_on: Callable[[Any], Any],
    to_lambda_event: Callable[..., dict[str, Any]],
) -> None:
    with mock_aws(config={"stepfunctions": {"execute_state_machine": False}}):
        aws = account_factory()
        adapters = trigger_on(aws)
        started: list[str] = []
        created: list[dict[str, Any]] = []
        adapters.dynamodb.meta.events.register(
            "provide-client-params.dynamodb.PutItem", lambda params, **_: created.append(params)
        )

        @given(
            body=st.one_of(
                st.tuples(st.sampled_from(SIGNATURES), st.binary(max_size=64)).map(
                    lambda parts: parts[0] + parts[1]
                ),
                st.binary(min_size=1, max_size=64).filter(lambda b: sniff_format(b) is None),
            ),
            content_type=st.sampled_from(IMAGE_TYPES),
            tag=st.uuids(),
            deliveries=st.integers(1, 2),
        )
        def check(body: bytes, content_type: str, tag: uuid.UUID, deliveries: int) -> None:
            key = _key(tag)
            aws.upload(key, body, content_type)
            messages = aws.receive()
            assert len(messages) == 1
            before = adapters.start_counter.calls
            created.clear()
            for _ in range(deliveries):
                assert trigger_handler.handler(to_lambda_event(messages), None) == {
                    "batchItemFailures": []
                }
            aws.sqs.delete_message(
                QueueUrl=aws.queue_url, ReceiptHandle=messages[0]["ReceiptHandle"]
            )
            # Each delivery asks to create the record UPLOADED with the required fields, only if
            # absent (so duplicates find the first one).
            assert len(created) == deliveries
            for attempt in created:
                assert attempt["ConditionExpression"] == "attribute_not_exists(#pk)"
                item = attempt["Item"]
                assert item["status"] == {"S": "UPLOADED"}
                assert {"imageKey", "uploadTimestamp", "size", "contentType"} <= item.keys()
            record = aws.record(key)
            assert record is not None
            assert (record.image_key, record.size, record.content_type) == (
                key,
                len(body),
                content_type,
            )
            if sniff_format(body) is None:
                assert record.status is ImageStatus.REJECTED
                assert record.rejection_reason is RejectionReason.UNSUPPORTED_FORMAT
                assert adapters.start_counter.calls == before
            else:
                assert record.status is ImageStatus.PROCESSING
                assert record.execution_arn
                assert adapters.start_counter.calls == before + 1
                started.append(key)

        check()
        assert len(aws.executions()) == len(started)


# Property 2: Message enqueueing on upload — for any object put under uploads/, one processing
# message naming it reaches the queue; anything outside uploads/ never does.
def test_every_upload_enqueues_one_message(account_factory: Callable[[], Any]) -> None:
    with mock_aws():
        aws = account_factory()

        @given(
            prefix=st.sampled_from(["uploads/2026/11/26/", "processed/", "archive/", "other/"]),
            tag=st.uuids(),
            signature=st.sampled_from(SIGNATURES),
        )
        def check(prefix: str, tag: uuid.UUID, signature: bytes) -> None:
            key = f"{prefix}{tag}-{uuid.uuid4()}.jpg"
            aws.upload(key, signature + bytes(8))
            messages = aws.receive()
            if prefix.startswith("uploads/"):
                assert len(messages) == 1
                detail = json.loads(messages[0]["Body"])["detail"]
                assert detail["object"]["key"] == key
                assert detail["object"]["size"] == len(signature) + 8
                aws.sqs.delete_message(
                    QueueUrl=aws.queue_url, ReceiptHandle=messages[0]["ReceiptHandle"]
                )
            else:
                assert messages == []

        check()
