"""Stopping is prompt and complete: long polls end, in-flight batches finish, nothing is left."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from qip_local.lifecycle import interruptible_receives
from qip_local.poller import SqsPoller
from qip_local.runtime import LocalConfig, LocalRuntime

QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:work"


class RecordingLambda:
    """Stands in for the Lambda client: records each event, and can hold an invocation."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.release.set()

    def invoke(self, **request: Any) -> dict[str, Any]:
        self.entered.set()
        self.release.wait(30)
        self.events.append(json.loads(request["Payload"]))
        return {"StatusCode": 200, "Payload": io.BytesIO(b"null")}


@pytest.fixture
def sqs() -> Iterator[tuple[Any, str, list[int]]]:
    """An SQS client on moto, a queue, and the WaitTimeSeconds of every receive made."""
    with mock_aws():
        client = boto3.client("sqs", region_name="us-east-1")
        waits: list[int] = []

        def record(params: dict[str, Any], **_: Any) -> None:
            waits.append(params.get("WaitTimeSeconds", 0))

        client.meta.events.register("provide-client-params.sqs.ReceiveMessage", record)
        url = client.create_queue(QueueName="work")["QueueUrl"]
        yield client, url, waits


def _poller(client: Any, url: str, invoker: RecordingLambda, wait_seconds: int) -> SqsPoller:
    return SqsPoller(
        client,
        invoker,
        queue_url=url,
        queue_arn=QUEUE_ARN,
        function_name="trigger",
        workers=2,
        wait_seconds=wait_seconds,
    )


def test_the_poller_long_polls_and_delivers_what_arrives(sqs: tuple[Any, str, list[int]]) -> None:
    client, url, waits = sqs
    invoker = RecordingLambda()
    with interruptible_receives() as stopping:
        poller = _poller(client, url, invoker, wait_seconds=20)
        poller.start()
        client.send_message(QueueUrl=url, MessageBody='{"n": 1}')
        assert invoker.entered.wait(30)
        stopping.set()
        poller.stop(timeout=30)
    assert [json.loads(e["Records"][0]["body"]) for e in invoker.events] == [{"n": 1}]
    assert poller.delivered == 1
    assert waits
    assert set(waits) == {20}  # every receive was a long poll
    assert "Messages" not in client.receive_message(QueueUrl=url)  # delivered, then deleted


def test_stopping_ends_idle_long_polls_at_once(sqs: tuple[Any, str, list[int]]) -> None:
    client, url, waits = sqs
    with interruptible_receives() as stopping:
        poller = _poller(client, url, RecordingLambda(), wait_seconds=20)
        poller.start()
        while len(waits) < 2:  # both workers are inside a 20-second receive
            threading.Event().wait(0.01)
        stopping.set()
        poller.stop(timeout=5)  # far shorter than the long poll: only an interrupted one ends
        alive = [t.name for t in threading.enumerate() if t.name.startswith("sqs-poller")]
    assert alive == []
    assert poller.delivered == poller.failed == 0


def test_a_batch_in_flight_when_stopping_completes(sqs: tuple[Any, str, list[int]]) -> None:
    client, url, _ = sqs
    invoker = RecordingLambda()
    invoker.release.clear()
    with interruptible_receives() as stopping:
        poller = _poller(client, url, invoker, wait_seconds=20)
        poller.start()
        client.send_message(QueueUrl=url, MessageBody='{"n": 2}')
        assert invoker.entered.wait(30)  # the trigger is running
        stopping.set()
        stopper = threading.Thread(target=poller.stop, kwargs={"timeout": 30})
        stopper.start()
        invoker.release.set()
        stopper.join(30)
    assert not stopper.is_alive()
    assert poller.delivered == 1
    assert "Messages" not in client.receive_message(QueueUrl=url)


def test_a_stopped_server_runtime_leaves_no_thread() -> None:
    before = set(threading.enumerate())
    runtime = LocalRuntime(LocalConfig(prefix="stops", sweep_interval=60.0), server=True)
    runtime.start()
    assert runtime.poller is not None
    assert {t.name for t in threading.enumerate()} >= {"sqs-poller-0", "sqs-poller-1"}
    runtime.stop()
    for thread in set(threading.enumerate()) - before:
        thread.join(30)  # a server thread may still be reading its closed connection's end
    left = [t.name for t in set(threading.enumerate()) - before if t.is_alive()]
    assert left == []
