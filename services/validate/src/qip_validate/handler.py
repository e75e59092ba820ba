"""Validate Lambda: accept or reject the uploaded object before anything else touches it.

Input: the execution state (`PipelineState`). Output: `ValidateOutput.to_json_dict()`.
Order: stages.validation IN_PROGRESS → head_object (TOO_LARGE before any download) → the
first bytes (magic) → the rest → `core.validate_image` → stages.validation COMPLETED (with
width/height/format) → StageCompleted event + STAGE_COMPLETED notification.
Any other failure marks stages.validation FAILED (best effort) and raises the shared class.
A rejection writes status REJECTED (rejectionReason, errorMessage, stages.validation FAILED) in
one conditional update, publishes ImageRejected + PROCESSING_REJECTED, counts
ValidationFailures and re-raises InvalidImageError, which the state machine catches by name.
Re-runs are idempotent: a refused stage write means the record is finished or the stage is
done; the record decides (a REJECTED record re-raises its rejection, writing nothing).
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import ValidationError

from qip_shared.enums import (
    EventDetailType,
    ImageStatus,
    NotificationType,
    RejectionReason,
    StageName,
    StageStatus,
)
from qip_shared.errors import InvalidImageError, PermanentError, QipError
from qip_shared.events import Notification, ProcessingEvent, ProcessingEventDetail
from qip_shared.pipeline import PipelineState, ValidateOutput
from qip_shared.record import ImageRecord, StageInfo
from qip_shared.requests import stage_update_request, status_update_request
from qip_shared.timeutil import duration_ms, utc_now
from qip_validate.adapters import Adapters
from qip_validate.core import (
    ValidationResult,
    check_byte_size,
    sniff_format,
    validate_image,
)
from qip_validate.errors import StaleWriteError

SERVICE = "qip-validate"
STAGE = StageName.VALIDATION
FIRST_READ_BYTES = 64 * 1024
"""The first ranged read: enough for the magic bytes, and the whole of most small images."""

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace="QIP", service=SERVICE)

# One-slot hand-over from set_dependencies to the cached factory.
_injected: list[Adapters] = []


@functools.cache
def dependencies() -> Adapters:
    """The clients, built once per process and lazily (moto must be active first)."""
    return _injected.pop() if _injected else Adapters.from_env()


def set_dependencies(adapters: Adapters) -> None:
    """Inject adapters (tests, local runtime); `dependencies.cache_clear()` resets."""
    dependencies.cache_clear()
    _injected[:] = [adapters]
    dependencies()


@dataclass(frozen=True)
class LocalContext:
    """Stands in for the Lambda context when the local runtime passes none (or a partial one)."""

    function_name: str = SERVICE
    memory_limit_in_mb: int = 0
    invoked_function_arn: str = f"local:{SERVICE}"
    aws_request_id: str = "local"

    @classmethod
    def around(cls, context: Any) -> Any:
        """`context` if it has what the logger reads, else a local stand-in borrowing its fields."""
        fields = ("function_name", "memory_limit_in_mb", "invoked_function_arn", "aws_request_id")
        if context is not None and all(hasattr(context, f) for f in fields):
            return context
        return cls(**{f: getattr(context, f) for f in fields if hasattr(context, f)})


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Validate one uploaded image and return `ValidateOutput` as JSON (context may be None)."""
    output: dict[str, Any] = _lambda_handler(event, LocalContext.around(context))
    return output


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def _lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    metrics.add_dimension(name="stage", value=STAGE.value)
    started = time.monotonic()
    error_context = {
        "stage": STAGE.value,
        "attempt": _attempt(event),
        "executionArn": event.get("executionArn"),
    }
    try:
        state = _parse(event)
        logger.append_keys(imageKey=state.image_key)
        output = validate(state, dependencies(), execution_arn=event.get("executionArn"))
    except InvalidImageError as exc:
        logger.error(
            "image rejected",
            extra={
                **error_context,
                "errorType": type(exc).__name__,
                "reason": exc.reason.value,
                "errorMessage": exc.message,
            },
        )
        raise
    except Exception as exc:
        logger.exception(
            "validation failed",
            extra={
                **error_context,
                "errorType": type(exc).__name__,
                "errorCode": getattr(exc, "code", None),
            },
        )
        metrics.add_metric(name="PipelineFailures", unit=MetricUnit.Count, value=1)
        raise
    finally:
        metrics.add_metric(
            name="StageExecutionTime",
            unit=MetricUnit.Milliseconds,
            value=round((time.monotonic() - started) * 1000),
        )
    return output.to_json_dict()


def _parse(event: dict[str, Any]) -> PipelineState:
    """The stage input; a malformed one will never get better, so it is a permanent error."""
    try:
        return PipelineState.model_validate(event)
    except ValidationError as exc:
        raise PermanentError(
            f"malformed stage input: {exc.error_count()} errors", code="BAD_INPUT"
        ) from None


def _attempt(event: dict[str, Any]) -> int | None:
    """The attempt number, when the state machine passes its retry count along."""
    value = event.get("retryCount", event.get("attempt"))
    return int(value) + 1 if isinstance(value, int) else None


def validate(
    state: PipelineState, adapters: Adapters, *, execution_arn: str | None = None
) -> ValidateOutput:
    """The whole stage for one image, with injected adapters."""
    settings = adapters.settings
    started_at = utc_now()
    in_progress = StageInfo(
        status=StageStatus.IN_PROGRESS, timestamp=started_at, started_at=started_at
    )
    try:
        adapters.update_record(
            stage_update_request(
                settings.table_name, state.image_key, STAGE, in_progress, updated_at=started_at
            )
        )
    except StaleWriteError:
        return _already_done(state, adapters)

    try:
        result = _check_object(state, adapters)
    except InvalidImageError as rejection:
        _reject(state, adapters, rejection, started_at, execution_arn)
        raise
    except QipError as exc:
        _record_failure(state, adapters, started_at, exc)
        raise

    completed_at = utc_now()
    done = StageInfo(
        status=StageStatus.COMPLETED,
        timestamp=completed_at,
        started_at=started_at,
        completed_at=completed_at,
        duration_ms=duration_ms(started_at, completed_at),
        width=result.width,
        height=result.height,
        format=result.format.value,
    )
    try:
        adapters.update_record(
            stage_update_request(
                settings.table_name, state.image_key, STAGE, done, updated_at=completed_at
            )
        )
    except StaleWriteError:
        # Another run finished the stage (or the record) in between: the record decides.
        return _already_done(state, adapters)
    _publish_completed(state, result, completed_at, execution_arn, adapters)
    logger.info(
        "image accepted",
        extra={"format": result.format.value, "width": result.width, "height": result.height},
    )
    return _output(state, result)


def _check_object(state: PipelineState, adapters: Adapters) -> ValidationResult:
    """Read only what each check needs: size from the header, magic from a first range."""
    settings = adapters.settings
    bucket, key, version = state.bucket, state.image_key, state.version_id
    size = adapters.object_size(bucket, key, version)
    check_byte_size(size, max_bytes=settings.max_bytes)
    if size == 0:
        return validate_image(b"", max_bytes=settings.max_bytes, max_pixels=settings.max_pixels)
    data = adapters.read_range(bucket, key, version, 0, min(size, FIRST_READ_BYTES) - 1)
    sniff_format(data)
    if len(data) < size:
        data += adapters.read_range(bucket, key, version, len(data))
    return validate_image(data, max_bytes=settings.max_bytes, max_pixels=settings.max_pixels)


def _output(state: PipelineState, result: ValidationResult) -> ValidateOutput:
    return ValidateOutput(
        image_key=state.image_key,
        bucket=state.bucket,
        valid=True,
        format=result.format,
        width=result.width,
        height=result.height,
        frames=result.frames,
    )


def _already_done(state: PipelineState, adapters: Adapters) -> ValidateOutput:
    """Answer a refused stage write from the record: replay a rejection or a completed check."""
    record = adapters.get_record(state.image_key)
    if record is None:
        raise PermanentError("no record for this image", code="RECORD_NOT_FOUND")
    if record.status is ImageStatus.REJECTED:
        logger.info("record already rejected; replaying the rejection")
        raise _recorded_rejection(record)
    stage = record.stages.get(STAGE)
    if stage is not None and stage.status is StageStatus.COMPLETED:
        # The check is pure and cheap: re-run it to answer, writing and publishing nothing.
        logger.info("validation already completed; answering without writing")
        return _output(state, _check_object(state, adapters))
    raise PermanentError(
        f"record is {record.status.value}; validation needs PROCESSING", code="RECORD_NOT_READY"
    )


def _recorded_rejection(record: ImageRecord) -> InvalidImageError:
    reason = record.rejection_reason or RejectionReason.CORRUPT
    return InvalidImageError(reason, record.error_message or "the image was rejected")


def _reject(
    state: PipelineState,
    adapters: Adapters,
    rejection: InvalidImageError,
    started_at: str,
    execution_arn: str | None,
) -> None:
    """Record REJECTED with its reason (one conditional write), then notify and count it."""
    failed_at = utc_now()
    failed = StageInfo(
        status=StageStatus.FAILED,
        timestamp=failed_at,
        started_at=started_at,
        duration_ms=duration_ms(started_at, failed_at),
        error_message=rejection.message,
    )
    try:
        adapters.update_record(
            status_update_request(
                adapters.settings.table_name,
                state.image_key,
                ImageStatus.REJECTED,
                updated_at=failed_at,
                fields={
                    "rejectionReason": rejection.reason.value,
                    "errorMessage": rejection.message,
                },
                stage=(STAGE, failed),
            )
        )
    except StaleWriteError:
        # Already rejected (or finished) by another run: that run notified; write nothing.
        logger.info("record no longer open; rejection not recorded again")
        return
    metrics.add_metric(name="ValidationFailures", unit=MetricUnit.Count, value=1)
    metrics.add_metadata(key="reason", value=rejection.reason.value)
    event = ProcessingEvent(
        detail_type=EventDetailType.IMAGE_REJECTED,
        detail=ProcessingEventDetail(
            image_key=state.image_key,
            bucket=state.bucket,
            timestamp=failed_at,
            status=ImageStatus.REJECTED.value,
            stage=STAGE,
            execution_arn=execution_arn,
            reason=rejection.reason,
            error_message=rejection.message,
        ),
    )
    notification = Notification(
        event_type=NotificationType.PROCESSING_REJECTED,
        image_key=state.image_key,
        timestamp=failed_at,
        stage=STAGE,
        status=ImageStatus.REJECTED.value,
        reason=rejection.reason,
        error_message=rejection.message,
    )
    _publish(adapters, event, notification)


def _record_failure(
    state: PipelineState, adapters: Adapters, started_at: str, error: QipError
) -> None:
    """Best effort: mark the stage FAILED; the state machine's HandleError owns the status."""
    failed_at = utc_now()
    failed = StageInfo(
        status=StageStatus.FAILED,
        timestamp=failed_at,
        started_at=started_at,
        duration_ms=duration_ms(started_at, failed_at),
        error_message=error.message[:1000],
    )
    try:
        adapters.update_record(
            stage_update_request(
                adapters.settings.table_name, state.image_key, STAGE, failed, updated_at=failed_at
            )
        )
    except (StaleWriteError, QipError):
        logger.warning("could not record the stage failure", extra={"stage": STAGE.value})


def _publish_completed(
    state: PipelineState,
    result: ValidationResult,
    timestamp: str,
    execution_arn: str | None,
    adapters: Adapters,
) -> None:
    event = ProcessingEvent(
        detail_type=EventDetailType.STAGE_COMPLETED,
        detail=ProcessingEventDetail(
            image_key=state.image_key,
            bucket=state.bucket,
            timestamp=timestamp,
            status=StageStatus.COMPLETED.value,
            stage=STAGE,
            execution_arn=execution_arn,
            metadata={
                "format": result.format.value,
                "width": result.width,
                "height": result.height,
                "frames": result.frames,
            },
        ),
    )
    notification = Notification(
        event_type=NotificationType.STAGE_COMPLETED,
        image_key=state.image_key,
        timestamp=timestamp,
        stage=STAGE,
        status=StageStatus.COMPLETED.value,
    )
    _publish(adapters, event, notification)


def _publish(adapters: Adapters, event: ProcessingEvent, notification: Notification) -> None:
    """Best effort: the record is already written, so a lost event must not change the outcome."""
    try:
        adapters.publish(event, notification)
    except QipError as exc:
        logger.exception(
            "event publishing failed",
            extra={"stage": STAGE.value, "errorType": type(exc).__name__, "errorCode": exc.code},
        )
        metrics.add_metric(name="PublishFailures", unit=MetricUnit.Count, value=1)
