"""The dead-letter queue: `LocalClient`'s operations on it (list, redrive, reprocess), the rows
of `qip dlq list` and the ids `qip dlq redrive` reads from stdin."""

from __future__ import annotations

import io
import json
import os
import re
import stat
from collections.abc import Collection
from typing import IO, Any

from qip_local.watch import RecordReads
from qip_shared.enums import ImageStatus
from qip_shared.messages import dead_letter_attributes, upload_event_body
from qip_shared.record import ImageRecord

# SQS message ids are UUIDs.
_MESSAGE_ID = re.compile(r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")


def stdin_is_piped(stream: IO[str]) -> bool | None:
    """True for a pipe or a redirected file, False for a terminal, None when there is no file."""
    try:
        mode = os.fstat(stream.fileno()).st_mode
    except (OSError, ValueError, io.UnsupportedOperation):
        return None
    if stream.isatty():
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISREG(mode)


def message_ids_from_text(text: str) -> list[str]:
    """The message ids in `qip dlq list` output: its --json array, or the first id of each line."""
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            rows = json.loads(stripped)
        except ValueError:
            rows = None
        if isinstance(rows, list):
            return [str(r["messageId"]) for r in rows if isinstance(r, dict) and "messageId" in r]
    ids: list[str] = []
    for line in text.splitlines():
        found = _MESSAGE_ID.search(line)
        if found and found.group(0) not in ids:
            ids.append(found.group(0))
    return ids


def queue_name(url: str) -> str:
    """A queue's name, from its URL."""
    return url.rstrip("/").rsplit("/", 1)[-1]


def dlq_rows(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per message: its id, image key, receive count and body."""
    rows = []
    for message in messages:
        try:
            body = json.loads(message["Body"])
            key = body.get("detail", {}).get("object", {}).get("key", "?")
        except (ValueError, AttributeError):
            key = "?"
        rows.append(
            {
                "messageId": message["MessageId"],
                "imageKey": key,
                "receiveCount": int(
                    message.get("Attributes", {}).get("ApproximateReceiveCount", 0)
                ),
                "body": message["Body"],
            }
        )
    return rows


def piped_message_ids(stream: IO[str]) -> list[str] | None:
    """Message ids from piped input (`qip dlq list` lines or its --json), or None when not piped.

    A terminal is not piped input; neither is a stream with no file behind it that holds nothing
    (a test harness).
    """
    piped = stdin_is_piped(stream)
    if piped is False:
        return None
    text = stream.read()
    if piped is None and not text.strip():
        return None
    return message_ids_from_text(text)


class NotReprocessableError(Exception):
    """`qip reprocess` of an image the trigger would not start again."""


class DeadLetters(RecordReads):
    """`LocalClient`'s dead-letter operations: list, redrive, and reprocess one FAILED image."""

    def dlq_messages(self, *, limit: int = 1000) -> list[dict[str, Any]]:
        """Messages in the DLQ (left there: they are made visible again after reading)."""
        sqs = self.client("sqs")
        seen: dict[str, dict[str, Any]] = {}
        handles: list[str] = []
        while len(seen) < limit:
            got = sqs.receive_message(
                QueueUrl=self.resources.dlq_url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=30,
                AttributeNames=["All"],
            )
            messages = got.get("Messages", [])
            if not messages:
                break
            for message in messages:
                handles.append(message["ReceiptHandle"])
                seen.setdefault(message["MessageId"], message)
        for handle in handles:
            sqs.change_message_visibility(
                QueueUrl=self.resources.dlq_url, ReceiptHandle=handle, VisibilityTimeout=0
            )
        return list(seen.values())

    def dlq_redrive(self, message_ids: Collection[str] | None = None) -> int:
        """Move DLQ messages back to the processing queue unchanged (as SQS's own redrive does):
        those of `message_ids`, or every one when None; returns how many moved.

        A dead letter of the pipeline's failure path carries its marker (`qip_shared.messages`),
        so the trigger reprocesses its image once; a message the trigger itself dead-lettered
        revives an image whose pipeline never started.
        """
        sqs = self.client("sqs")
        wanted = None if message_ids is None else set(message_ids)
        skipped: list[str] = []
        moved = 0
        try:
            while wanted is None or wanted:
                got = sqs.receive_message(
                    QueueUrl=self.resources.dlq_url,
                    MaxNumberOfMessages=10,
                    VisibilityTimeout=30,
                    MessageAttributeNames=["All"],
                )
                messages = got.get("Messages", [])
                if not messages:
                    break
                for message in messages:
                    if wanted is not None and message["MessageId"] not in wanted:
                        skipped.append(message["ReceiptHandle"])
                        continue
                    attributes = message.get("MessageAttributes") or {}
                    sqs.send_message(
                        QueueUrl=self.resources.queue_url,
                        MessageBody=message["Body"],
                        **({"MessageAttributes": attributes} if attributes else {}),
                    )
                    sqs.delete_message(
                        QueueUrl=self.resources.dlq_url, ReceiptHandle=message["ReceiptHandle"]
                    )
                    moved += 1
                    if wanted is not None:
                        wanted.discard(message["MessageId"])
        finally:
            for handle in skipped:
                sqs.change_message_visibility(
                    QueueUrl=self.resources.dlq_url, ReceiptHandle=handle, VisibilityTimeout=0
                )
        return moved

    def reprocess(self, image_key: str) -> ImageRecord:
        """Ask the trigger to run a FAILED image again; returns the record as it was.

        Sends its upload event to the processing queue, with the dead-letter marker of its last
        failure when the pipeline failed it: what a redriven dead letter would bring.
        """
        record = self.record(image_key)
        if record is None:
            raise NotReprocessableError(f"no record for {image_key}")
        if record.status is not ImageStatus.FAILED:
            raise NotReprocessableError(
                f"{image_key} is {record.status.value}: only a FAILED image is reprocessed"
            )
        started = bool(record.execution_arn or record.stages.model_dump(exclude_none=True))
        if started and not record.dead_letter_id:
            raise NotReprocessableError(
                f"{image_key} failed in the pipeline without a dead-letter id "
                "(failed by an older version or timed out): upload it again"
            )
        body = upload_event_body(
            bucket=record.bucket or self.resources.upload_bucket,
            key=record.image_key,
            size=record.size,
            version_id=record.version_id,
            etag=record.etag,
            time=record.upload_timestamp,
        )
        extra = (
            {"MessageAttributes": dead_letter_attributes(record.dead_letter_id)}
            if record.dead_letter_id
            else {}
        )
        self.client("sqs").send_message(
            QueueUrl=self.resources.queue_url, MessageBody=json.dumps(body), **extra
        )
        return record
