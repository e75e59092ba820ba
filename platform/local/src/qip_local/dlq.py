"""Reading the message ids `qip dlq redrive` is given on stdin."""

from __future__ import annotations

import io
import json
import os
import re
import stat
from typing import IO

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
