"""The SQS poller settles a batch as Lambda's event source does: one batch call per outcome."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from qip_local.poller import SqsPoller

QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:work"


class PartialFailures:
    """Stands in for the Lambda client: answers that the messages with a `bad` body failed."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def invoke(self, **request: Any) -> dict[str, Any]:
        records = json.loads(request["Payload"])["Records"]
        self.batches.append([r["body"] for r in records])
        failures = [{"itemIdentifier": r["messageId"]} for r in records if r["body"] == "bad"]
        payload = json.dumps({"batchItemFailures": failures}).encode()
        return {"StatusCode": 200, "Payload": io.BytesIO(payload)}


@pytest.fixture
def sqs() -> Iterator[tuple[Any, str, list[str]]]:
    """An SQS client on moto, a queue, and the name of every SQS operation called."""
    with mock_aws():
        client = boto3.client("sqs", region_name="us-east-1")
        operations: list[str] = []

        def record(model: Any, **_: Any) -> None:
            operations.append(model.name)

        client.meta.events.register("before-call.sqs", record)
        url = client.create_queue(QueueName="work")["QueueUrl"]
        operations.clear()
        yield client, url, operations


def test_a_batch_is_deleted_and_its_failures_returned_in_one_call_each(
    sqs: tuple[Any, str, list[str]],
) -> None:
    client, url, operations = sqs
    for body in ("one", "bad", "two", "three"):
        client.send_message(QueueUrl=url, MessageBody=body)
    invoker = PartialFailures()
    poller = SqsPoller(
        client,
        invoker,
        queue_url=url,
        queue_arn=QUEUE_ARN,
        function_name="trigger",
        batch_size=10,
        wait_seconds=0,
        failed_visibility=0,
    )
    operations.clear()
    assert poller.poll_once()
    assert sorted(invoker.batches[0]) == ["bad", "one", "three", "two"]
    assert operations == ["ReceiveMessage", "ChangeMessageVisibilityBatch", "DeleteMessageBatch"]
    assert (poller.delivered, poller.failed) == (3, 1)
    # Only the failed message is left, visible again at once, on its second receive.
    again = client.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["ApproximateReceiveCount"]
    )["Messages"]
    assert [m["Body"] for m in again] == ["bad"]
    assert again[0]["Attributes"]["ApproximateReceiveCount"] == "2"


def test_without_a_failed_visibility_a_failure_waits_out_the_queues_timeout(
    sqs: tuple[Any, str, list[str]],
) -> None:
    client, url, operations = sqs
    client.send_message(QueueUrl=url, MessageBody="bad")
    poller = SqsPoller(
        client,
        PartialFailures(),
        queue_url=url,
        queue_arn=QUEUE_ARN,
        function_name="trigger",
        wait_seconds=0,
    )
    operations.clear()
    assert poller.poll_once()
    assert operations == ["ReceiveMessage"]  # nothing to delete, visibility left as it is
    assert "Messages" not in client.receive_message(QueueUrl=url, WaitTimeSeconds=0)
