"""Continuation tokens of `qip_images_api.query`: opaque (URL-safe base64 JSON), bound to the
query that issued them (its scope: streams and bounds), each cursor checked against the range."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import Any

from qip_shared.timeutil import TIMESTAMP_PATTERN

_TOKEN_VERSION = 1
_TIMESTAMP = re.compile(TIMESTAMP_PATTERN)


class InvalidTokenError(ValueError):
    """A continuation token that is malformed or belongs to another query."""


def scope_of(names: tuple[str, ...], low: str, high: str) -> list[str]:
    """What a token is bound to: the query's stream names and its bounds."""
    return [",".join(names), low, high]


def encode_token(
    scope: list[str],
    cursors: Mapping[str, tuple[str, str] | None],
    done: set[str],
) -> str:
    """The token continuing a query after each stream's cursor (`done` streams are finished)."""
    payload = {
        "v": _TOKEN_VERSION,
        "q": scope,
        "c": {name: list(cursor) if cursor else None for name, cursor in cursors.items()},
        "d": sorted(done),
    }
    raw = json.dumps(payload, separators=(",", ":"), ensure_ascii=True).encode("ascii")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_token(
    token: str | None,
    scope: list[str],
    names: tuple[str, ...],
    low: str,
    high: str,
) -> tuple[dict[str, tuple[str, str] | None], frozenset[str]]:
    """The cursors and finished streams of a token; InvalidTokenError unless this query's."""
    if token is None:
        return {}, frozenset()
    try:
        padded = token + "=" * (-len(token) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError) as exc:
        raise InvalidTokenError("the continuation token is malformed") from exc
    if not isinstance(payload, dict) or payload.get("v") != _TOKEN_VERSION:
        raise InvalidTokenError("the continuation token is malformed")
    if payload.get("q") != scope:
        raise InvalidTokenError("the continuation token belongs to a different query")
    raw_cursors, raw_done = payload.get("c"), payload.get("d")
    if not isinstance(raw_cursors, dict) or not isinstance(raw_done, list):
        raise InvalidTokenError("the continuation token is malformed")
    try:
        done = frozenset(_stream_name(value, names) for value in raw_done)
        cursors = {
            _stream_name(name, names): _cursor(value, low, high)
            for name, value in raw_cursors.items()
        }
    except (ValueError, TypeError) as exc:
        raise InvalidTokenError("the continuation token is malformed") from exc
    if done & set(cursors):
        raise InvalidTokenError("the continuation token belongs to a different query")
    return cursors, done


def _stream_name(value: Any, names: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in names:
        raise ValueError("a stream of another query")
    return value


def _cursor(value: Any, low: str, high: str) -> tuple[str, str] | None:
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(part, str) and part for part in value)
    ):
        raise ValueError("bad cursor")
    uploaded, image_key = value
    # A start key outside the key condition is a DynamoDB ValidationException: refuse it here.
    if not (low <= uploaded <= high) or not _is_timestamp(uploaded):
        raise ValueError("cursor outside the range")
    return uploaded, image_key


def _is_timestamp(text: str) -> bool:
    return _TIMESTAMP.fullmatch(text) is not None
