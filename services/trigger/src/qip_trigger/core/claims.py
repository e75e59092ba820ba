"""What a delivery does with the record it finds: create, claim, wait, take over or stop."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from qip_shared.enums import ImageStatus
from qip_shared.keys import MAX_EXECUTION_NAME, execution_name
from qip_shared.pipeline import PipelineInput
from qip_shared.record import ImageRecord
from qip_shared.timeutil import format_timestamp, parse_timestamp
from qip_trigger.core.parsing import S3Upload

DEFAULT_CLAIM_LEASE = timedelta(seconds=60)
REDRIVE_NAME_SUFFIX_CHARS = 10  # "-r" and 8 hex digits


def new_record(
    upload: S3Upload,
    *,
    image_key: str,
    size: int,
    content_type: str,
    now: datetime,
    ttl_days: int | None = None,
    original_name: str | None = None,
    owner: str | None = None,
) -> ImageRecord:
    """The UPLOADED record of a new upload."""
    stamp = format_timestamp(now)
    ttl = int(now.timestamp()) + ttl_days * 86_400 if ttl_days else None
    return ImageRecord(
        image_key=image_key,
        upload_timestamp=upload.event_time or stamp,
        size=size,
        content_type=content_type,
        status=ImageStatus.UPLOADED,
        bucket=upload.bucket,
        version_id=upload.real_version,
        etag=upload.etag,
        original_name=original_name,
        owner=owner,
        execution_name=execution_name(image_key, upload.object_version),
        updated_at=stamp,
        ttl=ttl,
    )


def is_same_object(record: ImageRecord, upload: S3Upload, image_key: str) -> bool:
    """Whether an existing record is about this object version (not an overwrite of its key)."""
    if record.execution_name is None:
        return True
    if record.execution_name == execution_name(image_key, upload.object_version):
        return True
    # A reprocessed record runs under a name of its own: compare the object version it holds.
    held = record.version_id or record.etag
    return held is not None and held == upload.object_version


def is_superseded(upload: S3Upload, current_etag: str | None) -> bool:
    """Whether an unversioned object was overwritten since its event (the newer one has its own)."""
    if upload.real_version is not None or not upload.etag or not current_etag:
        return False
    return upload.etag != current_etag.strip('"')


def execution_input(record: ImageRecord) -> dict[str, Any]:
    """The execution input as JSON: `pipeline_input`, with `versionId` and `etag` always present
    (null when unknown), since the failure path's dead letter reads both."""
    started = pipeline_input(record)
    return {**started.to_json_dict(), "versionId": started.version_id, "etag": started.etag}


def redrive_execution_name(name: str, marker: str) -> str:
    """The execution name of a redriven run: the failed run's name plus a digest of its marker
    (deterministic, so copies of one dead letter name one execution; never the failed one)."""
    digest = hashlib.sha256(marker.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{name[: MAX_EXECUTION_NAME - REDRIVE_NAME_SUFFIX_CHARS]}-r{digest}"


def pipeline_input(record: ImageRecord) -> PipelineInput:
    """The execution input (design "StepFunctionsInput") built from the record."""
    if record.bucket is None:
        raise ValueError("record has no bucket")
    return PipelineInput(
        image_key=record.image_key,
        bucket=record.bucket,
        upload_timestamp=record.upload_timestamp,
        content_type=record.content_type,
        size=record.size,
        version_id=record.version_id,
        etag=record.etag,
    )


class Action(StrEnum):
    """What a delivery does, given the record it finds."""

    CREATE = "CREATE"  # no record: create it UPLOADED
    SCREEN_AND_CLAIM = "SCREEN_AND_CLAIM"  # UPLOADED: screen, then claim and start
    STOP_FINISHED = "STOP_FINISHED"  # terminal status: nothing left to do
    STOP_STARTED = "STOP_STARTED"  # the execution is recorded or evidently running
    WAIT = "WAIT"  # a recent claim is in flight: retry later
    TAKE_OVER = "TAKE_OVER"  # a stale (or unowned) claim: take it over and start
    REPROCESS = "REPROCESS"  # FAILED before the pipeline started: claim again, start
    REDRIVE = "REDRIVE"  # FAILED by the pipeline, and this is its dead letter: claim again, start


def never_started(record: ImageRecord) -> bool:
    """No execution recorded and no stage ran: the pipeline never got this record."""
    return not record.execution_arn and not record.stages.model_dump(exclude_none=True)


def next_action(
    record: ImageRecord | None, now: datetime, lease: timedelta, *, dead_letter: str | None = None
) -> Action:
    """Decide what a delivery should do with the record it found.

    `dead_letter`: the marker the message carries (a dead letter of the pipeline's failure path);
    it only changes the answer for a FAILED record holding that same marker.
    """
    if record is None:
        return Action.CREATE
    if record.status is ImageStatus.UPLOADED:
        return Action.SCREEN_AND_CLAIM
    if record.status is ImageStatus.FAILED:
        if never_started(record):
            return Action.REPROCESS
        if dead_letter is not None and record.dead_letter_id == dead_letter:
            return Action.REDRIVE
    if record.status is not ImageStatus.PROCESSING:
        return Action.STOP_FINISHED
    if record.execution_arn:
        return Action.STOP_STARTED
    # A stage wrote to the record: an execution runs although its ARN was never recorded.
    if not never_started(record):
        return Action.STOP_STARTED
    if record.claimed_at is None:
        return Action.TAKE_OVER
    age = now - parse_timestamp(record.claimed_at)
    return Action.WAIT if age < lease else Action.TAKE_OVER
