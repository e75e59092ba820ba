"""One upload message end to end: parse, record, screen, claim, start (adapters injected).

Per message: ignore keys outside `uploads/` → create the record UPLOADED (or read the existing one)
→ reject obvious non-images (REJECTED, no execution) → claim UPLOADED → PROCESSING → start the
execution under its deterministic name → record `executionArn` → publish ProcessingStarted.
`qip_trigger.core` explains how duplicate and concurrent deliveries start exactly one execution.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import BotoCoreError, ClientError

from qip_shared import config
from qip_shared.aws import StaleWriteError, from_aws_error
from qip_shared.enums import EventDetailType, ImageStatus, NotificationType
from qip_shared.errors import QipError, RetryableError
from qip_shared.events import Notification, ProcessingEvent, ProcessingEventDetail
from qip_shared.keys import execution_arn, execution_name
from qip_shared.record import ImageRecord
from qip_shared.requests import create_record_request
from qip_shared.stage import emit_processing_duration
from qip_shared.timeutil import format_timestamp
from qip_trigger.adapters import Adapters, ObjectHead
from qip_trigger.core import (
    Action,
    MalformedEventError,
    Rejection,
    S3Upload,
    candidate_keys,
    claim_request,
    decode_original_name,
    decode_owner,
    execution_input,
    fail_request,
    is_same_object,
    is_superseded,
    is_upload_key,
    new_record,
    next_action,
    parse_sqs_body,
    record_execution_request,
    redrive_claim_request,
    redrive_execution_name,
    reject_request,
    release_request,
    reprocess_claim_request,
    screen_content,
    screen_declared,
    takeover_request,
)
from qip_trigger.errors import ClaimInFlightError, MalformedMessageError, StartFailedError

SERVICE = "qip-trigger"
# Bound on re-reads when concurrent deliveries keep moving the record under us.
MAX_DECISIONS = 4

# The handler's logger (a child shares its keys) and the process's metrics.
logger = Logger(service=SERVICE, child=True)
metrics = Metrics(namespace=config.metrics_namespace(), service=SERVICE)


class Outcome(StrEnum):
    """How one message ended (all of these delete the message from the queue)."""

    IGNORED = "IGNORED"  # not an upload of ours
    GONE = "GONE"  # the object was deleted before we looked
    DUPLICATE = "DUPLICATE"  # already handled by another delivery
    OTHER_VERSION = "OTHER_VERSION"  # the record belongs to another version of the key
    REJECTED = "REJECTED"
    STARTED = "STARTED"


def ingest(
    body: str, receive_count: int, adapters: Adapters, *, dead_letter: str | None = None
) -> Outcome:
    """Handle one upload event end to end (the whole per-message flow, adapters injected).

    `dead_letter`: the marker of a dead letter moved back to the queue (see `core.next_action`).
    """
    try:
        upload = parse_sqs_body(body)
    except MalformedEventError as exc:
        raise MalformedMessageError(str(exc)) from exc
    expected_bucket = adapters.settings.upload_bucket
    if (expected_bucket and upload.bucket != expected_bucket) or not any(
        is_upload_key(k) for k in candidate_keys(upload.raw_key)
    ):
        logger.info(
            "not an upload; ignored", extra={"bucket": upload.bucket, "key": upload.raw_key}
        )
        return Outcome.IGNORED

    head = adapters.head(upload)
    if head is None or not is_upload_key(head.key):
        logger.warning("object no longer exists; ignored", extra={"key": upload.raw_key})
        return Outcome.GONE
    logger.append_keys(imageKey=head.key)
    if is_superseded(upload, head.etag):
        logger.info("object overwritten since this event; its own event takes over")
        return Outcome.OTHER_VERSION

    now = adapters.clock()
    record = new_record(
        upload,
        image_key=head.key,
        size=head.size,
        content_type=head.content_type,
        now=now,
        ttl_days=adapters.settings.record_ttl_days,
        original_name=decode_original_name(head.metadata),
        owner=decode_owner(head.metadata),
    )
    current: ImageRecord | None
    if adapters.create_record(create_record_request(adapters.settings.table_name, record)):
        metrics.add_metric(name="UploadsReceived", unit=MetricUnit.Count, value=1)
        _publish(adapters, _event(EventDetailType.IMAGE_UPLOADED, record), None)
        current = record
    else:
        current = adapters.get_record(head.key)
        if current is not None and not is_same_object(current, upload, head.key):
            logger.warning("record belongs to another version of this key; ignored")
            return Outcome.OTHER_VERSION
        metrics.add_metric(name="DuplicateDeliveries", unit=MetricUnit.Count, value=1)
    delivery = _Delivery(upload, head, now, receive_count, dead_letter)
    return _claim_and_start(delivery, current, adapters)


@dataclass(frozen=True)
class _Delivery:
    """One message's upload, its object as S3 describes it, and when and how often it came."""

    upload: S3Upload
    head: ObjectHead
    now: datetime
    receive_count: int
    dead_letter: str | None  # the marker a redriven dead letter carries


def _claim_and_start(
    delivery: _Delivery, current: ImageRecord | None, adapters: Adapters
) -> Outcome:
    """Decide, claim (or stop, wait, reject) and start; re-decide when the record moved."""
    for _ in range(MAX_DECISIONS):
        action = next_action(
            current, delivery.now, adapters.trigger.claim_lease, dead_letter=delivery.dead_letter
        )
        logger.debug("decided", extra={"action": action.value})
        if action is Action.CREATE:
            raise RetryableError("record disappeared while handling its upload")
        if action in (Action.STOP_FINISHED, Action.STOP_STARTED):
            return Outcome.DUPLICATE
        if action is Action.WAIT:
            raise ClaimInFlightError("another delivery claimed this upload moments ago")
        assert current is not None  # CREATE handled above
        stamp = format_timestamp(delivery.now)
        try:
            claimed = _claim(action, delivery, current, stamp, adapters)
        except StaleWriteError:
            # Another delivery moved the record first: look again and decide again.
            current = adapters.get_record(delivery.head.key)
            continue
        if isinstance(claimed, Outcome):
            return claimed
        return _start(claimed, stamp, delivery.receive_count, adapters)
    raise RetryableError("record kept changing under concurrent deliveries")


def _claim(
    action: Action, delivery: _Delivery, current: ImageRecord, stamp: str, adapters: Adapters
) -> ImageRecord | Outcome:
    """The conditional write `action` calls for: the claimed record, or REJECTED."""
    table, key = adapters.settings.table_name, delivery.head.key
    name = current.execution_name or execution_name(key, delivery.upload.object_version)
    if action is Action.SCREEN_AND_CLAIM:
        rejection = _screen(delivery.head, adapters)
        if rejection is not None:
            rejected = adapters.update_record(
                reject_request(table, key, rejection, updated_at=stamp)
            )
            _announce_rejection(adapters, rejected, rejection)
            return Outcome.REJECTED
        return adapters.update_record(claim_request(table, key, claimed_at=stamp, name=name))
    if action is Action.REPROCESS:
        logger.info(
            "reprocess: claiming an image whose pipeline never started",
            extra={"errorType": current.error_type},
        )
        claimed = adapters.update_record(
            reprocess_claim_request(table, key, claimed_at=stamp, name=name)
        )
        metrics.add_metric(name="Reprocessed", unit=MetricUnit.Count, value=1)
        return claimed
    if action is Action.REDRIVE:
        return _redrive(delivery, current, stamp, name, adapters)
    # Action.TAKE_OVER
    logger.warning("taking over a stale claim", extra={"claimedAt": current.claimed_at})
    return adapters.update_record(
        takeover_request(table, key, previous_claim=current.claimed_at, claimed_at=stamp)
    )


def _redrive(
    delivery: _Delivery, current: ImageRecord, stamp: str, name: str, adapters: Adapters
) -> ImageRecord:
    """Claim again, under a new execution name, an image whose dead letter came back."""
    marker = delivery.dead_letter
    assert marker is not None  # REDRIVE needs a matching marker
    logger.info(
        "reprocess: claiming an image the pipeline failed, from its dead letter",
        extra={"errorType": current.error_type, "deadLetterId": marker},
    )
    claimed = adapters.update_record(
        redrive_claim_request(
            adapters.settings.table_name,
            delivery.head.key,
            marker=marker,
            claimed_at=stamp,
            name=redrive_execution_name(name, marker),
        )
    )
    metrics.add_metric(name="Reprocessed", unit=MetricUnit.Count, value=1)
    return claimed


def _screen(head: ObjectHead, adapters: Adapters) -> Rejection | None:
    """The ingest verdict: declared size and type first, then the magic bytes."""
    rejection = screen_declared(head.size, head.content_type, adapters.settings.max_bytes)
    if rejection is None:
        first = adapters.first_bytes(head.bucket, head.key, head.version_id)
        rejection = screen_content(first)
    return rejection


def _start(record: ImageRecord, claimed_at: str, receive_count: int, adapters: Adapters) -> Outcome:
    """Start the execution we hold the claim for, and record it."""
    settings = adapters.settings
    name = record.execution_name or execution_name(
        record.image_key, record.version_id or record.etag
    )
    payload = json.dumps(execution_input(record), separators=(",", ":"))
    try:
        started = adapters.start_execution(name, payload)
    except (ClientError, BotoCoreError) as exc:
        _give_back(
            record,
            claimed_at,
            receive_count,
            adapters,
            from_aws_error(exc, "states start_execution"),
        )
        raise StartFailedError(f"could not start the pipeline: {exc}") from exc
    arn = started or execution_arn(settings.state_machine_arn, name)
    if started is None:
        logger.info("execution already exists; counted as started", extra={"executionArn": arn})
    try:
        adapters.update_record(
            record_execution_request(
                settings.table_name, record.image_key, arn=arn, claimed_at=claimed_at
            )
        )
    except StaleWriteError:
        # A takeover or a redrive replaced our claim (a finished record still takes the ARN).
        logger.warning("execution ARN not recorded", extra={"executionArn": arn})
    now = format_timestamp(adapters.clock())
    metrics.add_metric(name="ExecutionsStarted", unit=MetricUnit.Count, value=1)
    event = _event(EventDetailType.PROCESSING_STARTED, record, execution_arn=arn)
    notification = Notification(
        event_type=NotificationType.PROCESSING_STARTED,
        image_key=record.image_key,
        timestamp=now,
        status=ImageStatus.PROCESSING.value,
    )
    _publish(adapters, event, notification)
    logger.info("pipeline started", extra={"executionArn": arn})
    return Outcome.STARTED


def _give_back(
    record: ImageRecord,
    claimed_at: str,
    receive_count: int,
    adapters: Adapters,
    error: QipError,
) -> None:
    """After a failed start: release the claim, or on the last delivery mark the image FAILED."""
    settings = adapters.settings
    now = format_timestamp(adapters.clock())
    last = receive_count >= adapters.trigger.max_receive_count
    try:
        if last:
            failed = adapters.update_record(
                fail_request(
                    settings.table_name,
                    record.image_key,
                    error_type=type(error).__name__,
                    message=f"pipeline could not be started: {error}",
                    claimed_at=claimed_at,
                    updated_at=now,
                )
            )
            event = _event(
                EventDetailType.PROCESSING_FAILED, failed, error_message=failed.error_message
            )
            notification = Notification(
                event_type=NotificationType.PROCESSING_FAILED,
                image_key=failed.image_key,
                timestamp=now,
                status=ImageStatus.FAILED.value,
                error_message=failed.error_message,
            )
            _publish(adapters, event, notification)
            metrics.add_metric(name="PipelineFailures", unit=MetricUnit.Count, value=1)
            emit_processing_duration(ImageStatus.FAILED, failed.upload_timestamp, now)
        else:
            adapters.update_record(
                release_request(
                    settings.table_name, record.image_key, claimed_at=claimed_at, updated_at=now
                )
            )
    except StaleWriteError:
        logger.warning("claim changed hands before it could be given back")
    except QipError:
        logger.exception("claim could not be given back; a later delivery takes it over")


def _event(detail_type: EventDetailType, record: ImageRecord, **extra: Any) -> ProcessingEvent:
    return ProcessingEvent(
        detail_type=detail_type,
        detail=ProcessingEventDetail(
            image_key=record.image_key,
            bucket=record.bucket or "",
            timestamp=record.updated_at or record.upload_timestamp,
            status=record.status.value,
            **extra,
        ),
    )


def _announce_rejection(adapters: Adapters, record: ImageRecord, rejection: Rejection) -> None:
    metrics.add_metric(name="ValidationFailures", unit=MetricUnit.Count, value=1)
    emit_processing_duration(
        ImageStatus.REJECTED, record.upload_timestamp, record.updated_at or record.upload_timestamp
    )
    logger.info("upload rejected", extra={"reason": rejection.reason.value})
    event = _event(
        EventDetailType.IMAGE_REJECTED,
        record,
        reason=rejection.reason,
        error_message=rejection.message,
    )
    notification = Notification(
        event_type=NotificationType.PROCESSING_REJECTED,
        image_key=record.image_key,
        timestamp=record.updated_at or record.upload_timestamp,
        status=ImageStatus.REJECTED.value,
        reason=rejection.reason,
        error_message=rejection.message,
    )
    _publish(adapters, event, notification)


def _publish(adapters: Adapters, event: ProcessingEvent, notification: Notification | None) -> None:
    """Best effort: the record already holds the truth, so a lost event must not fail ingest."""
    try:
        adapters.put_event(event)
        if notification is not None:
            adapters.publish_notification(notification)
    except Exception:
        logger.exception("publish failed", extra={"errorType": "PublishFailed"})
