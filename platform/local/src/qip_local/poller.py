"""An SQS event-source poller that behaves like Lambda's: the processing queue -> trigger.

moto's own event-source mapping runs the consumer synchronously inside the producing call and
never redelivers a failed message. This poller receives with the queue's visibility timeout,
invokes the trigger through the Lambda API (so through the shim), deletes what succeeded, and
leaves failed messages to reappear: after 3 receives the queue's redrive policy moves them to
the DLQ, as on AWS.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

logger = logging.getLogger(__name__)


def lambda_message_attributes(attributes: dict[str, Any] | None) -> dict[str, Any]:
    """SQS `MessageAttributes` (API shape) as Lambda spells them in an SQS record."""
    return {
        name: {
            **({"stringValue": value["StringValue"]} if "StringValue" in value else {}),
            **({"binaryValue": value["BinaryValue"]} if "BinaryValue" in value else {}),
            "stringListValues": value.get("StringListValues", []),
            "binaryListValues": value.get("BinaryListValues", []),
            "dataType": value.get("DataType"),
        }
        for name, value in (attributes or {}).items()
    }


def sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """The event Lambda gives an SQS-triggered function for a batch of messages."""
    records = []
    for message in messages:
        records.append(
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message.get("Attributes", {}),
                "messageAttributes": lambda_message_attributes(message.get("MessageAttributes")),
                "md5OfBody": message.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
        )
    return {"Records": records}


# Entries one SQS batch call takes (DeleteMessageBatch, ChangeMessageVisibilityBatch).
SQS_BATCH_LIMIT = 10


def _entry(message: dict[str, Any]) -> dict[str, Any]:
    """A message as an entry of an SQS batch call (its id within the batch is its message id)."""
    return {"Id": message["MessageId"], "ReceiptHandle": message["ReceiptHandle"]}


# Seconds an idle receive waits for a message (moto answers as soon as one arrives); also
# the longest `stop()` waits for a polling thread.
LONG_POLL_SECONDS = 1


class SqsPoller:
    """Polls one queue from a few threads and feeds batches to one function."""

    def __init__(
        self,
        sqs: Any,
        lambda_client: Any,
        *,
        queue_url: str,
        queue_arn: str,
        function_name: str,
        batch_size: int = 1,
        workers: int = 2,
        idle_sleep: float = 0.25,
        wait_seconds: int = LONG_POLL_SECONDS,
        failed_visibility: int | None = None,
    ) -> None:
        self._sqs = sqs
        self._lambda = lambda_client
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.function_name = function_name
        self.batch_size = batch_size
        self.workers = workers
        self.idle_sleep = idle_sleep
        self.wait_seconds = wait_seconds
        # None: a failed message waits out the queue's visibility timeout, as on AWS.
        self.failed_visibility = failed_visibility
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.region = queue_arn.split(":")[3]
        self.delivered = 0
        self.failed = 0
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start the polling threads."""
        self._stop.clear()
        for i in range(self.workers):
            thread = threading.Thread(target=self._run, name=f"sqs-poller-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop polling and wait for in-flight batches."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    def _run(self) -> None:
        # Long polling: an idle receive waits inside moto until a message arrives (no busy
        # loop competing with the handlers); after an error, pause before trying again.
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:  # the poller must survive a bad moment of the fake AWS
                logger.exception("sqs poller iteration failed")
                self._stop.wait(self.idle_sleep)

    def poll_once(self) -> bool:
        """Receive one batch (waiting up to `wait_seconds`) and deliver it; False if none came."""
        received = self._sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            WaitTimeSeconds=self.wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = received.get("Messages", [])
        if not messages:
            return False
        event = sqs_event(messages, self.queue_arn, self.region)
        failed_ids = self._invoke(event, messages)
        failed = [m for m in messages if m["MessageId"] in failed_ids]
        if failed and self.failed_visibility is not None:
            self._batch(
                self._sqs.change_message_visibility_batch,
                [{**_entry(m), "VisibilityTimeout": self.failed_visibility} for m in failed],
            )
        # As Lambda does: what succeeded goes in one DeleteMessageBatch per ten messages.
        self._batch(
            self._sqs.delete_message_batch,
            [_entry(m) for m in messages if m["MessageId"] not in failed_ids],
        )
        with self._lock:
            self.delivered += len(messages) - len(failed_ids)
            self.failed += len(failed_ids)
        return True

    def _batch(self, call: Any, entries: list[dict[str, Any]]) -> None:
        """A batch call of SQS over `entries`, ten at a time; entries it refused are logged."""
        for start in range(0, len(entries), SQS_BATCH_LIMIT):
            answer = call(QueueUrl=self.queue_url, Entries=entries[start : start + SQS_BATCH_LIMIT])
            for refused in answer.get("Failed", []):
                logger.warning("sqs refused %s for %s: %s", call.__name__, refused["Id"], refused)

    def _invoke(self, event: dict[str, Any], messages: list[dict[str, Any]]) -> set[str]:
        all_ids = {m["MessageId"] for m in messages}
        started = time.perf_counter()
        response = self._lambda.invoke(
            FunctionName=self.function_name,
            InvocationType="RequestResponse",
            Payload=json.dumps(event).encode("utf-8"),
        )
        payload_text = response["Payload"].read().decode("utf-8") or "null"
        if response.get("FunctionError"):
            # The whole batch failed: every message becomes visible again after the timeout.
            logger.info(
                "trigger failed after %.3fs: %s", time.perf_counter() - started, payload_text
            )
            return all_ids
        try:
            payload = json.loads(payload_text)
        except ValueError:
            return set()
        if not isinstance(payload, dict):
            return set()
        failures = payload.get("batchItemFailures") or []
        return {str(f.get("itemIdentifier")) for f in failures if isinstance(f, dict)} & all_ids
