"""The S3 key layout and execution naming, in one place."""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import datetime
from pathlib import PurePosixPath

from qip_shared.enums import ImageFormat
from qip_shared.recipe import OutputFormat
from qip_shared.timeutil import parse_timestamp

UPLOAD_PREFIX = "uploads/"
PROCESSED_PREFIX = "processed/"
ARCHIVE_PREFIX = "archive/"
RESIZED_NAME = "resized.jpg"
THUMBNAIL_NAME = "thumbnail.jpg"
MAX_EXECUTION_NAME = 80

_SAFE = re.compile(r"[^A-Za-z0-9_-]+")


def upload_key(fmt: ImageFormat, moment: datetime, image_uuid: uuid.UUID) -> str:
    """`uploads/{yyyy}/{mm}/{dd}/{uuid}.{ext}`: the server-chosen key of a new upload."""
    return f"{UPLOAD_PREFIX}{moment:%Y/%m/%d}/{image_uuid}.{fmt.extension}"


def image_id_from_key(image_key: str) -> str:
    """A short, path-safe id for an upload key.

    Our own keys end in a UUID, which is the id. Any other key gets its sanitised stem plus a
    hash of the whole key, so two keys never share an id and no id can contain `/` or `..`.
    """
    stem = PurePosixPath(image_key).stem
    try:
        return str(uuid.UUID(stem))
    except ValueError:
        digest = hashlib.sha256(image_key.encode("utf-8", "surrogatepass")).hexdigest()[:12]
        safe = _SAFE.sub("-", stem).strip("-")[:48] or "image"
        return f"{safe}-{digest}"


def variant_file_name(variant: str, fmt: OutputFormat) -> str:
    """`{variant}.{ext}`: a variant's file name, the same under processed/ and archive/."""
    return f"{variant}.{fmt.extension}"


def variant_key(image_key: str, variant: str, fmt: OutputFormat) -> str:
    """`processed/{imageId}/{variant}.{ext}`: one rendered variant (the default recipe's two
    JPEGs are `resized.jpg` and `thumbnail.jpg`)."""
    return f"{processed_prefix(image_key)}{variant_file_name(variant, fmt)}"


def resized_key(image_key: str) -> str:
    """`processed/{imageId}/resized.jpg`."""
    return f"{PROCESSED_PREFIX}{image_id_from_key(image_key)}/{RESIZED_NAME}"


def thumbnail_key(image_key: str) -> str:
    """`processed/{imageId}/thumbnail.jpg`."""
    return f"{PROCESSED_PREFIX}{image_id_from_key(image_key)}/{THUMBNAIL_NAME}"


def processed_prefix(image_key: str) -> str:
    """`processed/{imageId}/`: everything derived from one upload."""
    return f"{PROCESSED_PREFIX}{image_id_from_key(image_key)}/"


def archive_prefix(image_key: str, upload_timestamp: str) -> str:
    """`archive/YYYY/MM/DD/{imageId}/`, dated by the upload."""
    moment = parse_timestamp(upload_timestamp)
    return f"{ARCHIVE_PREFIX}{moment:%Y/%m/%d}/{image_id_from_key(image_key)}/"


def archive_original_key(image_key: str, upload_timestamp: str) -> str:
    """Archive key of the original upload (keeps its extension)."""
    suffix = PurePosixPath(image_key).suffix.lower()
    suffix = suffix if re.fullmatch(r"\.[a-z0-9]{1,5}", suffix) else ""
    return f"{archive_prefix(image_key, upload_timestamp)}original{suffix}"


def archive_resized_key(image_key: str, upload_timestamp: str) -> str:
    """Archive key of the resized output."""
    return f"{archive_prefix(image_key, upload_timestamp)}{RESIZED_NAME}"


def archive_thumbnail_key(image_key: str, upload_timestamp: str) -> str:
    """Archive key of the thumbnail."""
    return f"{archive_prefix(image_key, upload_timestamp)}{THUMBNAIL_NAME}"


def archive_variant_key(
    image_key: str, upload_timestamp: str, variant: str, fmt: OutputFormat
) -> str:
    """Archive key of one rendered variant: `archive/YYYY/MM/DD/{imageId}/{variant}.{ext}`."""
    return f"{archive_prefix(image_key, upload_timestamp)}{variant_file_name(variant, fmt)}"


def execution_name(image_key: str, version: str | None) -> str:
    """A deterministic Step Functions execution name for one object version.

    Legal characters only, at most 80, so a Standard workflow rejects a duplicate start with
    `ExecutionAlreadyExists`. `version` is the S3 version id, or the ETag when unversioned.
    """
    digest = hashlib.sha256(
        f"{image_key}\x00{version or ''}".encode("utf-8", "surrogatepass")
    ).hexdigest()[:24]
    prefix = _SAFE.sub("-", image_id_from_key(image_key))[: MAX_EXECUTION_NAME - 30]
    return f"qip-{prefix}-{digest}"


def execution_arn(state_machine_arn: str, name: str) -> str:
    """The ARN of the (Standard) execution `name` of a state machine, known without asking."""
    prefix, marker, machine = state_machine_arn.partition(":stateMachine:")
    if not marker:
        raise ValueError(f"not a state machine ARN: {state_machine_arn!r}")
    return f"{prefix}:execution:{machine}:{name}"
