"""Trigger's pure core: parse the upload event, screen the object, decide what a delivery does.

Exactly-once start (the design's Express workflow does not dedupe StartExecution):
- the record is created UPLOADED only if absent; a duplicate delivery reads it instead;
- the start is claimed by a conditional UPLOADED → PROCESSING write that sets `claimedAt`;
- `next_action(record, now, lease)` tells a later delivery what to do with what it finds: stop when
  the execution is recorded (or evidently running), wait (retry later) while a recent claim is in
  flight, take over a claim older than the lease with a compare-and-swap on `claimedAt`;
- the execution name is deterministic (`qip_shared.keys.execution_name`), so a Standard workflow
  also refuses a second start (`ExecutionAlreadyExists` counts as success).

Reprocess after a failure (a dead letter moved back to the queue unchanged, by SQS's own redrive
or `qip dlq redrive`, or a message `qip reprocess` sends):
- a record the trigger itself marked FAILED because the pipeline never started (no `executionArn`,
  no stage ran) is claimed again FAILED → PROCESSING by any delivery of its upload event: no
  execution exists, so starting one is still the only start;
- a record the pipeline failed is claimed again only by the dead letter its failure path wrote:
  the message's marker must equal the record's `deadLetterId` (`qip_shared.messages`); the claim
  clears the failure and the marker, so a second copy of that dead letter, or a true duplicate of
  the upload event (no marker), stays a duplicate. The new run gets an execution name of its own.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import unquote, unquote_plus

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator

from qip_shared.enums import ImageFormat, ImageStatus, RejectionReason
from qip_shared.keys import MAX_EXECUTION_NAME, UPLOAD_PREFIX, execution_name
from qip_shared.pipeline import PipelineInput
from qip_shared.record import OWNER_METADATA, ImageRecord
from qip_shared.requests import status_update_request
from qip_shared.signatures import ACCEPTED_NAMES, sniff_format
from qip_shared.timeutil import format_timestamp, parse_timestamp
from qip_shared.transitions import Condition

# S3's "no version" marker (unversioned bucket): the ETag identifies the object instead.
NULL_VERSION = "null"
DEFAULT_CLAIM_LEASE = timedelta(seconds=60)
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


@dataclass(frozen=True)
class Rejection:
    """Why an upload is refused at ingest: a stable reason code and a human message."""

    reason: RejectionReason
    message: str


def screen_declared(size: int, content_type: str, max_bytes: int) -> Rejection | None:
    """Refuse on what S3 says about the object (size, declared type), before reading it."""
    if size > max_bytes:
        return Rejection(
            RejectionReason.TOO_LARGE, f"object is {size} bytes; the limit is {max_bytes}"
        )
    if size == 0:
        return Rejection(RejectionReason.UNSUPPORTED_FORMAT, "object is empty")
    if ImageFormat.from_content_type(content_type) is None:
        shown = content_type[:100] or "none"
        return Rejection(
            RejectionReason.UNSUPPORTED_FORMAT, f"content type {shown!r} is not an accepted image"
        )
    return None


def screen_content(head: bytes) -> Rejection | None:
    """Refuse when the first bytes are not an accepted format's signature (or ftyp brand)."""
    if sniff_format(head) is None:
        return Rejection(
            RejectionReason.UNSUPPORTED_FORMAT,
            f"file signature is not {ACCEPTED_NAMES}",
        )
    return None


def screen(size: int, content_type: str, head: bytes, max_bytes: int) -> Rejection | None:
    """The ingest verdict: a rejection, or None to accept (validate decodes later)."""
    return screen_declared(size, content_type, max_bytes) or screen_content(head)


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


# Conditional writes. Names and values use their own placeholders so they combine with the
# shared transition conditions.


def claim_request(table_name: str, image_key: str, *, claimed_at: str, name: str) -> dict[str, Any]:
    """UPLOADED → PROCESSING, setting `claimedAt`: succeeds for exactly one delivery."""
    return status_update_request(
        table_name,
        image_key,
        ImageStatus.PROCESSING,
        updated_at=claimed_at,
        fields={"claimedAt": claimed_at, "executionName": name},
    )


# Attributes of the failure a reprocess claim clears (a redrive clears the failed run too).
FAILURE_FIELDS = ("errorMessage", "errorType")
FAILED_RUN_FIELDS = (*FAILURE_FIELDS, "deadLetterId", "executionArn")
REDRIVE_NAME_SUFFIX_CHARS = 10  # "-r" and 8 hex digits


def _with_removed(request: dict[str, Any], attributes: tuple[str, ...]) -> dict[str, Any]:
    """`request` (a SET update) that also REMOVEs top-level `attributes`."""
    names = dict(request["ExpressionAttributeNames"])
    placeholders = []
    for i, attribute in enumerate(attributes):
        placeholder = f"#rm{i}"
        names[placeholder] = attribute
        placeholders.append(placeholder)
    return {
        **request,
        "UpdateExpression": f"{request['UpdateExpression']} REMOVE {', '.join(placeholders)}",
        "ExpressionAttributeNames": names,
    }


def reprocess_claim_request(
    table_name: str, image_key: str, *, claimed_at: str, name: str
) -> dict[str, Any]:
    """FAILED → PROCESSING (explicit reprocess) like `claim_request`, clearing the old error.

    Only for a record whose pipeline never started (no `executionArn`, no stage), and only one
    delivery wins: the condition requires FAILED, which the winner's write ends.
    """
    request = status_update_request(
        table_name,
        image_key,
        ImageStatus.PROCESSING,
        updated_at=claimed_at,
        fields={"claimedAt": claimed_at, "executionName": name},
        reprocess=True,
        extra_condition=Condition(
            "#rstatus = :rfailed AND attribute_not_exists(#rarn) "
            "AND attribute_not_exists(#rstages.#rvalidation)",
            {
                "#rstatus": "status",
                "#rarn": "executionArn",
                "#rstages": "stages",
                "#rvalidation": "validation",
            },
            {":rfailed": {"S": ImageStatus.FAILED.value}},
        ),
    )
    return _with_removed(request, FAILURE_FIELDS)


def redrive_execution_name(name: str, marker: str) -> str:
    """The execution name of a redriven run: the failed run's name plus a digest of its marker
    (deterministic, so copies of one dead letter name one execution; never the failed one)."""
    digest = hashlib.sha256(marker.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{name[: MAX_EXECUTION_NAME - REDRIVE_NAME_SUFFIX_CHARS]}-r{digest}"


def redrive_claim_request(
    table_name: str, image_key: str, *, marker: str, claimed_at: str, name: str
) -> dict[str, Any]:
    """FAILED → PROCESSING for the dead letter `marker`, clearing the failed run.

    Only the record still holding that marker qualifies, and only one delivery wins: the write
    removes the marker with the failure and the execution ARN, and empties the failed run's stages
    (an empty map, so the stages can record themselves again).
    """
    request = status_update_request(
        table_name,
        image_key,
        ImageStatus.PROCESSING,
        updated_at=claimed_at,
        fields={"claimedAt": claimed_at, "executionName": name, "stages": {}},
        reprocess=True,
        extra_condition=Condition(
            "#rstatus = :rfailed AND #rmarker = :rmarker",
            {"#rstatus": "status", "#rmarker": "deadLetterId"},
            {":rfailed": {"S": ImageStatus.FAILED.value}, ":rmarker": {"S": marker}},
        ),
    )
    return _with_removed(request, FAILED_RUN_FIELDS)


def _unclaimed_condition(previous_claim: str | None) -> Condition:
    """Still PROCESSING, no execution recorded, no stage run, and the claim as we saw it."""
    names = {
        "#cstatus": "status",
        "#carn": "executionArn",
        "#cclaim": "claimedAt",
        "#cstages": "stages",
        "#cvalidation": "validation",
    }
    values: dict[str, Any] = {":cprocessing": {"S": ImageStatus.PROCESSING.value}}
    parts = [
        "#cstatus = :cprocessing",
        "attribute_not_exists(#carn)",
        "attribute_not_exists(#cstages.#cvalidation)",
    ]
    if previous_claim is None:
        parts.append("attribute_not_exists(#cclaim)")
    else:
        values[":cprevious"] = {"S": previous_claim}
        parts.append("#cclaim = :cprevious")
    return Condition(" AND ".join(parts), names, values)


def _update(
    table_name: str, image_key: str, set_clause: str, condition: Condition, extra: dict[str, Any]
) -> dict[str, Any]:
    names = dict(condition.names)
    values = dict(condition.values)
    names.update(extra.get("names", {}))
    values.update(extra.get("values", {}))
    return {
        "TableName": table_name,
        "Key": {"imageKey": {"S": image_key}},
        "UpdateExpression": set_clause,
        "ConditionExpression": condition.expression,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
        "ReturnValues": "ALL_NEW",
    }


def takeover_request(
    table_name: str, image_key: str, *, previous_claim: str | None, claimed_at: str
) -> dict[str, Any]:
    """Compare-and-swap of a stale claim: only one delivery replaces the `claimedAt` it saw."""
    return _update(
        table_name,
        image_key,
        "SET #cclaim = :cnew, #updatedAt = :cnow",
        _unclaimed_condition(previous_claim),
        {
            "names": {"#updatedAt": "updatedAt"},
            "values": {":cnew": {"S": claimed_at}, ":cnow": {"S": claimed_at}},
        },
    )


def release_request(
    table_name: str, image_key: str, *, claimed_at: str, updated_at: str
) -> dict[str, Any]:
    """Drop our claim after a failed start, so the next delivery takes over at once."""
    return _update(
        table_name,
        image_key,
        "SET #updatedAt = :cnow REMOVE #cclaim",
        _unclaimed_condition(claimed_at),
        {"names": {"#updatedAt": "updatedAt"}, "values": {":cnow": {"S": updated_at}}},
    )


def record_execution_request(
    table_name: str, image_key: str, *, arn: str, claimed_at: str, updated_at: str
) -> dict[str, Any]:
    """Record the started execution, only while the record is PROCESSING under our claim."""
    condition = Condition(
        "#cstatus = :cprocessing AND #cclaim = :cmine AND attribute_not_exists(#carn)",
        {"#cstatus": "status", "#cclaim": "claimedAt", "#carn": "executionArn"},
        {":cprocessing": {"S": ImageStatus.PROCESSING.value}, ":cmine": {"S": claimed_at}},
    )
    return _update(
        table_name,
        image_key,
        "SET #carn = :carn, #updatedAt = :cnow",
        condition,
        {
            "names": {"#updatedAt": "updatedAt"},
            "values": {":carn": {"S": arn}, ":cnow": {"S": updated_at}},
        },
    )


def reject_request(
    table_name: str, image_key: str, rejection: Rejection, *, updated_at: str
) -> dict[str, Any]:
    """UPLOADED → REJECTED with the reason (never a record another delivery already claimed)."""
    return status_update_request(
        table_name,
        image_key,
        ImageStatus.REJECTED,
        updated_at=updated_at,
        fields={"rejectionReason": rejection.reason.value, "errorMessage": rejection.message},
        extra_condition=Condition(
            "#status = :only_uploaded",
            {"#status": "status"},
            {":only_uploaded": {"S": ImageStatus.UPLOADED.value}},
        ),
    )


def fail_request(
    table_name: str,
    image_key: str,
    *,
    error_type: str,
    message: str,
    claimed_at: str,
    updated_at: str,
) -> dict[str, Any]:
    """PROCESSING → FAILED when the last delivery could not start the execution."""
    return status_update_request(
        table_name,
        image_key,
        ImageStatus.FAILED,
        updated_at=updated_at,
        fields={"errorType": error_type, "errorMessage": message},
        extra_condition=Condition(
            "#fclaim = :fmine AND attribute_not_exists(#farn)",
            {"#fclaim": "claimedAt", "#farn": "executionArn"},
            {":fmine": {"S": claimed_at}},
        ),
    )
