"""Metadata Lambda: record the image's properties and EXIF summary, read from its header.

Input: the execution state (`PipelineState`, after validate). Output:
`MetadataOutput.to_json_dict()`.
Order: stages.metadata IN_PROGRESS → read the object → `core.extract_metadata` (GPS only when
QIP_STORE_GPS is on) → stages.metadata COMPLETED with width/height/format and `details` (the
ImageMetadata) → StageCompleted event + STAGE_COMPLETED notification (best effort).
A failure records stages.metadata FAILED (best effort) and raises the shared error class.
Re-runs are idempotent: a refused stage write means the stage is done or the record finished;
a completed stage answers from the record, writing and publishing nothing.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import ValidationError

from qip_metadata.adapters import Adapters
from qip_metadata.core import extract_metadata
from qip_metadata.errors import StaleWriteError
from qip_shared.enums import EventDetailType, NotificationType, StageName, StageStatus
from qip_shared.errors import PermanentError, QipError
from qip_shared.events import Notification, ProcessingEvent, ProcessingEventDetail
from qip_shared.pipeline import ImageMetadata, MetadataOutput, PipelineState
from qip_shared.record import StageInfo
from qip_shared.requests import stage_update_request
from qip_shared.timeutil import duration_ms, utc_now

SERVICE = "qip-metadata"
STAGE = StageName.METADATA

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
    """Extract one image's metadata and return `MetadataOutput` as JSON (context may be None)."""
    output: dict[str, Any] = _lambda_handler(event, LocalContext.around(context))
    return output


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def _lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    metrics.add_dimension(name="stage", value=STAGE.value)
    started = time.monotonic()
    try:
        state = _parse(event)
        logger.append_keys(imageKey=state.image_key)
        output = extract(state, dependencies(), execution_arn=event.get("executionArn"))
    except Exception as exc:
        logger.exception(
            "metadata extraction failed",
            extra={
                "stage": STAGE.value,
                "errorType": type(exc).__name__,
                "errorCode": getattr(exc, "code", None),
                "attempt": _attempt(event),
                "executionArn": event.get("executionArn"),
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


def extract(
    state: PipelineState, adapters: Adapters, *, execution_arn: str | None = None
) -> MetadataOutput:
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
        data = adapters.read_object(
            state.bucket, state.image_key, state.version_id, settings.max_bytes
        )
        metadata = extract_metadata(data, store_gps=settings.store_gps)
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
        width=metadata.width,
        height=metadata.height,
        format=metadata.format.value,
        details=metadata,
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
    _publish_completed(state, metadata, completed_at, execution_arn, adapters)
    logger.info(
        "metadata extracted",
        extra={
            "format": metadata.format.value,
            "width": metadata.width,
            "height": metadata.height,
            "orientation": metadata.orientation,
        },
    )
    return MetadataOutput(image_key=state.image_key, bucket=state.bucket, metadata=metadata)


def _already_done(state: PipelineState, adapters: Adapters) -> MetadataOutput:
    """Answer a refused stage write from the record: a completed stage is the answer."""
    record = adapters.get_record(state.image_key)
    if record is None:
        raise PermanentError("no record for this image", code="RECORD_NOT_FOUND")
    stage = record.stages.get(STAGE)
    if stage is not None and stage.status is StageStatus.COMPLETED:
        logger.info("metadata already recorded; answering from the record")
        metadata = stage.details or _reextract(state, adapters)
        return MetadataOutput(image_key=state.image_key, bucket=state.bucket, metadata=metadata)
    raise PermanentError(
        f"record is {record.status.value}; metadata needs PROCESSING", code="RECORD_NOT_READY"
    )


def _reextract(state: PipelineState, adapters: Adapters) -> ImageMetadata:
    """Extract again without writing (a completed stage recorded without its details)."""
    settings = adapters.settings
    data = adapters.read_object(state.bucket, state.image_key, state.version_id, settings.max_bytes)
    return extract_metadata(data, store_gps=settings.store_gps)


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
                adapters.settings.table_name,
                state.image_key,
                STAGE,
                failed,
                updated_at=failed_at,
            )
        )
    except (StaleWriteError, QipError):
        logger.warning("could not record the stage failure", extra={"stage": STAGE.value})


def _publish_completed(
    state: PipelineState,
    metadata: ImageMetadata,
    timestamp: str,
    execution_arn: str | None,
    adapters: Adapters,
) -> None:
    """Best effort: the record is already written, so a lost event must not fail the image."""
    event = ProcessingEvent(
        detail_type=EventDetailType.STAGE_COMPLETED,
        detail=ProcessingEventDetail(
            image_key=state.image_key,
            bucket=state.bucket,
            timestamp=timestamp,
            status=StageStatus.COMPLETED.value,
            stage=STAGE,
            execution_arn=execution_arn,
            metadata=metadata.to_json_dict(),
        ),
    )
    notification = Notification(
        event_type=NotificationType.STAGE_COMPLETED,
        image_key=state.image_key,
        timestamp=timestamp,
        stage=STAGE,
        status=StageStatus.COMPLETED.value,
    )
    try:
        adapters.publish(event, notification)
    except QipError as exc:
        logger.exception(
            "event publishing failed",
            extra={"stage": STAGE.value, "errorType": type(exc).__name__, "errorCode": exc.code},
        )
        metrics.add_metric(name="PublishFailures", unit=MetricUnit.Count, value=1)
