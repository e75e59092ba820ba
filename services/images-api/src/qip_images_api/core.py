"""images-api core (pure): read the request, apply the ownership rule, shape the answers.

No boto3, no environment: the handler passes the caller, the records and the signed URLs in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import unquote

from qip_images_api.errors import ImageNotFoundError
from qip_shared.enums import ImageStatus, StageName, StageStatus
from qip_shared.errors import BadRequestError
from qip_shared.keys import UPLOAD_PREFIX
from qip_shared.record import ImageRecord
from qip_shared.timeutil import parse_range_bound

ROUTE_LIST = "/images"
ROUTE_ONE_PREFIX = "/images/"
DEFAULT_LIMIT = 50
MAX_LIMIT = 100
MAX_IMAGE_KEY_CHARS = 1024
MAX_TOKEN_CHARS = 4096
# Record attributes that are the pipeline's bookkeeping, not the caller's business.
PRIVATE_FIELDS = (
    "claimedAt",
    "executionName",
    "executionArn",
    "deadLetterId",
    "owner",
    "bucket",
    "versionId",
    "etag",
    "ttl",
)
# Outputs named by the stage that writes them (the default recipe's two JPEGs).
_STAGE_OUTPUTS = ((StageName.RESIZE, "resized"), (StageName.THUMBNAIL, "thumbnail"))


@dataclass(frozen=True)
class ListRequest:
    """A validated `GET /images` query."""

    status: ImageStatus | None
    since: datetime | date | None
    until: datetime | date | None
    limit: int
    token: str | None


def image_key_from_path(path: str) -> str:
    """The image key a `GET /images/{id}` path names (the key itself, `/` plain or `%2F`)."""
    if not path.startswith(ROUTE_ONE_PREFIX):
        raise ImageNotFoundError("no such image")
    key = unquote(path[len(ROUTE_ONE_PREFIX) :])
    if not key.startswith(UPLOAD_PREFIX) or len(key) > MAX_IMAGE_KEY_CHARS or ".." in key:
        raise ImageNotFoundError("no such image")
    return key


def parse_moment(text: str | None, name: str) -> datetime | date | None:
    """`2026-11-01` (a whole UTC day) or an ISO timestamp (UTC when it has no offset)."""
    if text is None or text == "":
        return None
    try:
        return parse_range_bound(text)
    except ValueError:
        raise BadRequestError(f"{name} {text!r} is not an ISO date or timestamp") from None


def parse_status(text: str | None) -> ImageStatus | None:
    """An image status by name (any case), or None when not given."""
    if text is None or text == "":
        return None
    try:
        return ImageStatus(text.upper())
    except ValueError:
        valid = ", ".join(s.value for s in ImageStatus)
        raise BadRequestError(f"unknown status {text[:40]!r}; choose from {valid}") from None


def _limit(text: str | None) -> int:
    if text is None or text == "":
        return DEFAULT_LIMIT
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise BadRequestError(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return int(text)


def parse_list_request(params: Mapping[str, str | None]) -> ListRequest:
    """Validate `status`, `since`, `until`, `limit` and `nextToken` of `GET /images`."""
    token = params.get("nextToken") or None
    if token is not None and len(token) > MAX_TOKEN_CHARS:
        raise BadRequestError("nextToken is not a token this API issued")
    return ListRequest(
        status=parse_status(params.get("status")),
        since=parse_moment(params.get("since"), "since"),
        until=parse_moment(params.get("until"), "until"),
        limit=_limit(params.get("limit")),
        token=token,
    )


def owned(record: ImageRecord | None, caller: str) -> ImageRecord:
    """The record when `caller` owns it; ImageNotFoundError otherwise (never "forbidden")."""
    if record is None or record.owner is None or record.owner != caller:
        raise ImageNotFoundError("no such image")
    return record


def output_keys(record: ImageRecord) -> dict[str, str]:
    """The S3 keys (upload bucket) of the outputs a record says exist, by name."""
    if record.variants:
        return {variant.name: variant.key for variant in record.variants}
    written = {StageName.RESIZE: record.resized_key, StageName.THUMBNAIL: record.thumbnail_key}
    found: dict[str, str] = {}
    for stage, name in _STAGE_OUTPUTS:
        info = record.stages.get(stage)
        key = written[stage]
        if key and info is not None and info.status is StageStatus.COMPLETED:
            found[name] = key
    return found


def image_body(record: ImageRecord, urls: Mapping[str, str], *, expires_in: int) -> dict[str, Any]:
    """One image as the API answers it: the record's public fields and its signed outputs."""
    body = {k: v for k, v in record.to_json_dict().items() if k not in PRIVATE_FIELDS}
    keys = output_keys(record)
    body["outputs"] = {
        name: {"key": key, "url": urls[name], "expiresIn": expires_in}
        for name, key in keys.items()
        if name in urls
    }
    return body


def list_body(images: Sequence[Mapping[str, Any]], next_token: str | None) -> dict[str, Any]:
    """The `GET /images` answer: a page of images and the token that continues it (or null)."""
    return {"images": list(images), "nextToken": next_token}
