"""The upload event: parse the S3 Object Created message, read its key and the client's name."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, unquote_plus

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator

from qip_shared.keys import UPLOAD_PREFIX
from qip_shared.record import OWNER_METADATA
from qip_shared.timeutil import format_timestamp, parse_timestamp

# S3's "no version" marker (unversioned bucket): the ETag identifies the object instead.
NULL_VERSION = "null"
# S3 user metadata (lower-case, without `x-amz-meta-`) holding the percent-encoded client name.
ORIGINAL_NAME_METADATA = "original-name"
MAX_ORIGINAL_NAME_CHARS = 256
MAX_OWNER_CHARS = 128


class MalformedEventError(ValueError):
    """The message is not an S3 Object Created event we can read."""


class S3Upload(BaseModel):
    """The object an S3 `Object Created` event (routed by EventBridge) talks about."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    bucket: str = Field(min_length=1)
    # As it appears in the event; `candidate_keys` gives the real key(s) to look up.
    raw_key: str = Field(min_length=1)
    size: int = Field(ge=0)
    # AWS spells it `etag`, moto `eTag`.
    etag: str | None = Field(default=None, validation_alias=AliasChoices("etag", "eTag"))
    version_id: str | None = Field(default=None, validation_alias="version-id")
    event_time: str | None = None

    @field_validator("etag")
    @classmethod
    def _unquote_etag(cls, value: str | None) -> str | None:
        return value.strip('"') if value else value

    @property
    def real_version(self) -> str | None:
        """The S3 version id, or None when the bucket is unversioned."""
        return None if not self.version_id or self.version_id == NULL_VERSION else self.version_id

    @property
    def object_version(self) -> str | None:
        """What identifies this object version: the version id, else the ETag."""
        return self.real_version or self.etag


def _event_time(value: Any) -> str | None:
    """The event's time as a record timestamp (AWS sends ISO 8601, moto epoch seconds)."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return format_timestamp(datetime.fromtimestamp(float(value), UTC))
    return format_timestamp(parse_timestamp(str(value)))


def parse_event(event: Mapping[str, Any]) -> S3Upload:
    """The upload described by an EventBridge S3 `Object Created` event."""
    if event.get("source") not in (None, "aws.s3"):
        raise MalformedEventError(f"unexpected event source {event.get('source')!r}")
    if event.get("detail-type") not in (None, "Object Created"):
        raise MalformedEventError(f"unexpected detail-type {event.get('detail-type')!r}")
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        raise MalformedEventError("event has no detail")
    bucket = detail.get("bucket")
    obj = detail.get("object")
    if not isinstance(bucket, Mapping) or not isinstance(obj, Mapping):
        raise MalformedEventError("event detail lacks bucket or object")
    try:
        event_time = _event_time(event.get("time"))
    except (ValueError, OverflowError, OSError) as exc:
        raise MalformedEventError(f"unreadable event time: {exc}") from exc
    try:
        return S3Upload.model_validate(
            {
                "bucket": bucket.get("name"),
                "raw_key": obj.get("key"),
                "size": obj.get("size", 0),
                **{k: obj[k] for k in ("etag", "eTag", "version-id") if obj.get(k) is not None},
                "event_time": event_time,
            }
        )
    except ValidationError as exc:
        raise MalformedEventError(f"invalid event: {exc.error_count()} problem(s)") from exc


def parse_sqs_body(body: str) -> S3Upload:
    """The upload described by an SQS message body (the EventBridge event as JSON)."""
    try:
        event = json.loads(body)
    except (TypeError, ValueError) as exc:
        raise MalformedEventError("message body is not JSON") from exc
    if not isinstance(event, Mapping):
        raise MalformedEventError("message body is not a JSON object")
    return parse_event(event)


def candidate_keys(raw_key: str) -> tuple[str, ...]:
    """The object keys an event key may stand for, the literal one first.

    S3 notifications URL-encode keys (a space arrives as `+`); moto's EventBridge events do not.
    Our own keys (`uploads/yyyy/mm/dd/{uuid}.{ext}`) read the same either way.
    """
    keys = [raw_key]
    for decoded in (unquote_plus(raw_key), unquote(raw_key)):
        if decoded and decoded not in keys:
            keys.append(decoded)
    return tuple(keys)


def is_upload_key(key: str) -> bool:
    """Whether a key is under `uploads/` (anything else is ignored, e.g. `processed/`)."""
    return key.startswith(UPLOAD_PREFIX) and len(key) > len(UPLOAD_PREFIX)


def decode_original_name(metadata: Mapping[str, str]) -> str | None:
    """The client's file name kept by upload-url (percent-encoded UTF-8), if any."""
    value = metadata.get(ORIGINAL_NAME_METADATA)
    if not value:
        return None
    name = unquote(value, encoding="utf-8", errors="replace").strip()
    return name[:MAX_ORIGINAL_NAME_CHARS] or None


def decode_owner(metadata: Mapping[str, str]) -> str | None:
    """The Cognito subject upload-url pinned in the POST policy, if the object carries one."""
    value = (metadata.get(OWNER_METADATA) or "").strip()
    if not value or len(value) > MAX_OWNER_CHARS or not value.isprintable():
        return None
    return value
