"""The one timestamp format of records and events: ISO 8601 UTC, millisecond, `Z` suffix.

A fixed width keeps lexical order equal to time order, which the
`status-uploadTimestamp-index` range queries rely on.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

TIMESTAMP_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"


def format_timestamp(moment: datetime) -> str:
    """Format an aware datetime as `YYYY-MM-DDTHH:MM:SS.mmmZ` in UTC."""
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_timestamp(text: str) -> datetime:
    """Parse a timestamp written by `format_timestamp` (or any ISO 8601 with offset)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def parse_range_bound(text: str) -> datetime | date:
    """`2026-11-01` (a whole UTC day) or an ISO timestamp (UTC without offset); else ValueError."""
    if len(text) == 10:
        return date.fromisoformat(text)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def utc_now() -> str:
    """The current time as a record timestamp."""
    return format_timestamp(datetime.now(UTC))


def duration_ms(start: str, end: str) -> int:
    """Milliseconds between two record timestamps (never negative)."""
    return max(0, round((parse_timestamp(end) - parse_timestamp(start)).total_seconds() * 1000))
