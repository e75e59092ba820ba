"""The dead-letter queue as the CLI shows it: rows of `qip dlq list`, the ids `qip dlq redrive`
reads from stdin."""

from __future__ import annotations

import io
import json
import os
import re
import stat
from typing import IO, Any

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
