"""upload-url core (pure): validate the request, sanitise the file name, plan the POST policy.

No boto3, no environment: the handler passes the settings, the clock and the UUID in.
"""

from __future__ import annotations

import json
import re
import unicodedata
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote

from pydantic import Field

from qip_shared.base import Contract
from qip_shared.enums import CONTENT_TYPES, ImageFormat
from qip_shared.errors import BadRequestError
from qip_shared.keys import upload_key
from qip_shared.record import OWNER_METADATA
from qip_upload_url.errors import TooLargeError, UnsupportedContentTypeError

# Form field (and S3 user metadata) carrying the client's sanitised file name.
ORIGINAL_NAME_FIELD = "x-amz-meta-original-name"
CONTENT_TYPE_FIELD = "Content-Type"
# Form field (and S3 user metadata) carrying the caller's Cognito subject: the image's owner.
OWNER_FIELD = f"x-amz-meta-{OWNER_METADATA}"
# Characters of the original name we keep, and its encoded size (S3 allows 2 KB of metadata).
MAX_ORIGINAL_NAME_CHARS = 128
MAX_ORIGINAL_NAME_BYTES = 512
# Hostile inputs are cut before normalisation so NFKC's expansion stays bounded.
MAX_RAW_NAME_CHARS = 1024
MAX_EXTENSION_CHARS = 16
MAX_CONTENT_TYPE_CHARS = 255
# Printable ASCII left as is in the encoded name (everything else is %XX of its UTF-8).
_HEADER_SAFE = " !$&'()+,-.;=@_~"
_DIGITS = re.compile(r"[0-9]{1,20}")
ACCEPTED_CONTENT_TYPES = tuple(CONTENT_TYPES.values())

PolicyCondition = dict[str, str] | list[str | int]


@dataclass(frozen=True)
class UploadRequest:
    """A validated request for an upload URL."""

    fmt: ImageFormat
    size: int
    original_name: str | None

    @property
    def content_type(self) -> str:
        """The canonical MIME type the upload must carry."""
        return self.fmt.content_type


@dataclass(frozen=True)
class UploadPlan:
    """What to sign: the server-made key, the form fields and the extra policy conditions."""

    key: str
    content_type: str
    max_bytes: int
    fields: dict[str, str] = field(default_factory=dict)
    conditions: list[PolicyCondition] = field(default_factory=list)


class UploadUrlResponse(Contract):
    """The 200 answer: a presigned POST and the facts the client needs to use it."""

    url: str
    fields: dict[str, str]
    key: str
    image_key: str
    expires_in: int = Field(ge=1)
    max_bytes: int = Field(ge=1)
    content_type: str


def params_from_body(body: str | None) -> dict[str, Any]:
    """Parse a POST body: a JSON object, else BadRequestError."""
    if body is None or not body.strip():
        raise BadRequestError("the request body must be a JSON object")
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise BadRequestError("the request body is not valid JSON") from exc
    if not isinstance(parsed, dict):
        raise BadRequestError("the request body must be a JSON object")
    return parsed


def parse_upload_request(params: Mapping[str, Any], *, max_bytes: int) -> UploadRequest:
    """Validate `contentType`, `size` and `fileName` (JSON body or query-string values)."""
    content_type = params.get("contentType")
    if not isinstance(content_type, str) or not content_type.strip():
        raise BadRequestError("contentType is required and must be a string")
    fmt = (
        ImageFormat.from_content_type(content_type)
        if len(content_type) <= MAX_CONTENT_TYPE_CHARS
        else None
    )
    if fmt is None:
        raise UnsupportedContentTypeError(
            f"contentType must be one of {', '.join(ACCEPTED_CONTENT_TYPES)}"
        )
    size = _parse_size(params.get("size"))
    if size > max_bytes:
        raise TooLargeError(f"size {size} is over the limit of {max_bytes} bytes")
    raw_name = params.get("fileName")
    if raw_name is not None and not isinstance(raw_name, str):
        raise BadRequestError("fileName must be a string")
    name = sanitize_file_name(raw_name) if raw_name else None
    return UploadRequest(fmt=fmt, size=size, original_name=name)


def _parse_size(value: Any) -> int:
    # bool is an int subclass; JSON `true` is not a size.
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    elif isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        size = int(value.strip())
    else:
        raise BadRequestError("size is required and must be a whole number of bytes")
    if size < 1:
        raise BadRequestError("size must be at least 1 byte")
    return size


def sanitize_file_name(raw: str) -> str | None:
    """A display-safe base name from a client's file name, or None when nothing usable is left.

    Normalises NFKC, drops control/format/unassigned characters (NUL, bidi overrides,
    zero-width), keeps the last path component only, collapses whitespace, strips leading and
    trailing dots/spaces and caps the length, keeping a short extension.
    """
    if len(raw) > MAX_RAW_NAME_CHARS:
        # Keep the tail, where the base name and its extension are.
        raw = raw[: MAX_RAW_NAME_CHARS // 2] + raw[-MAX_RAW_NAME_CHARS // 2 :]
    text = _visible(unicodedata.normalize("NFKC", raw))
    # Removing characters can leave sequences NFKC would compose; normalise once more.
    text = unicodedata.normalize("NFKC", text)
    text = text.replace("\\", "/").rsplit("/", 1)[-1]
    text = " ".join(text.split()).strip(" .")
    if not text:
        return None
    return _fit(text) or None


def _visible(text: str) -> str:
    kept = []
    for char in text:
        category = unicodedata.category(char)
        # Cc/Cf/Cs/Co/Cn: controls, bidi and zero-width marks, surrogates, private, unassigned.
        if category[0] == "C" or category in ("Zl", "Zp"):
            continue
        kept.append(" " if category == "Zs" else char)
    return "".join(kept)


def _fit(name: str) -> str:
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem or len(extension) > MAX_EXTENSION_CHARS or " " in extension:
        stem, extension = name, ""
    else:
        extension = f".{extension}"
    stem = stem[: MAX_ORIGINAL_NAME_CHARS - len(extension)]
    while stem and len(encode_original_name(stem + extension)) > MAX_ORIGINAL_NAME_BYTES:
        stem = stem[:-1]
    stem = stem.rstrip(" .")
    return (stem + extension).strip(" .") if stem else extension.strip(" .")


def encode_original_name(name: str) -> str:
    """ASCII-safe header form of a name: UTF-8 percent-encoding (reversible)."""
    return quote(name, safe=_HEADER_SAFE, encoding="utf-8", errors="strict")


def decode_original_name(value: str) -> str:
    """The name back from its header form."""
    return unquote(value, encoding="utf-8", errors="strict")


def plan_upload(
    request: UploadRequest,
    *,
    now: datetime,
    image_uuid: uuid.UUID,
    max_bytes: int,
    owner: str | None = None,
) -> UploadPlan:
    """The server-made key and the POST policy that pins key, type, size range, name and owner.

    `owner` (the caller's Cognito subject) is pinned exactly: a browser cannot upload under
    another user's identity with this policy.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    # The key's date is the UTC date, as every record timestamp is UTC.
    key = upload_key(request.fmt, now.astimezone(UTC), image_uuid)
    fields = {CONTENT_TYPE_FIELD: request.content_type}
    conditions: list[PolicyCondition] = [
        {CONTENT_TYPE_FIELD: request.content_type},
        ["content-length-range", 1, max_bytes],
    ]
    if request.original_name:
        encoded = encode_original_name(request.original_name)
        fields[ORIGINAL_NAME_FIELD] = encoded
        conditions.append({ORIGINAL_NAME_FIELD: encoded})
    if owner:
        fields[OWNER_FIELD] = owner
        conditions.append({OWNER_FIELD: owner})
    return UploadPlan(
        key=key,
        content_type=request.content_type,
        max_bytes=max_bytes,
        fields=fields,
        conditions=conditions,
    )


def upload_response(
    plan: UploadPlan, *, url: str, fields: Mapping[str, str], expires_in: int
) -> dict[str, Any]:
    """The 200 JSON body for a signed plan."""
    return UploadUrlResponse(
        url=url,
        fields=dict(fields),
        key=plan.key,
        image_key=plan.key,
        expires_in=expires_in,
        max_bytes=plan.max_bytes,
        content_type=plan.content_type,
    ).to_json_dict()
