"""Archive Lambda: copy original and outputs to the archive, then complete the record.

Input: the execution state (`PipelineState`). Output: `ArchiveOutput.to_json_dict()`, whose
`archivedLocation` is `s3://{archive_bucket}/archive/YYYY/MM/DD/{imageId}/` (see `core`).
Order: stages.archive IN_PROGRESS → copies → status COMPLETED (with archivedLocation,
resizedKey, thumbnailKey, processingDuration and stages.archive COMPLETED) → optional delete of
the upload (QIP_DELETE_UPLOAD; only after COMPLETED, so a retry can still copy it) → publish.
A re-run on a record already COMPLETED returns the recorded result and changes nothing.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import ValidationError

from qip_archive.adapters import Adapters, ConditionRefusedError
from qip_archive.core import (
    ArchivePlan,
    RecordVerdict,
    build_output,
    completion_fields,
    judge_record,
    output_from_record,
    plan_archive,
    processing_duration,
)
from qip_shared.enums import EventDetailType, ImageStatus, NotificationType, StageName, StageStatus
from qip_shared.errors import PermanentError
from qip_shared.events import Notification, ProcessingEvent, ProcessingEventDetail
from qip_shared.pipeline import ArchiveOutput, PipelineState
from qip_shared.record import StageInfo
from qip_shared.requests import stage_update_request, status_update_request
from qip_shared.timeutil import duration_ms, utc_now

SERVICE = "qip-archive"
STAGE = StageName.ARCHIVE

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
    """Stands in for the Lambda context when the local runtime or a test passes None."""

    function_name: str = SERVICE
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = f"arn:aws:lambda:us-east-1:000000000000:function:{SERVICE}"
    aws_request_id: str = "local"


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Archive one image and return `ArchiveOutput` as JSON (`context` may be None)."""
    result: dict[str, Any] = _handle(event, context if context is not None else LocalContext())
    return result


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def _handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    metrics.add_dimension(name="stage", value=STAGE.value)
    started = time.monotonic()
    try:
        state = _parse(event)
        logger.append_keys(imageKey=state.image_key, stage=STAGE.value)
        output = archive(state, dependencies())
    except Exception as exc:
        logger.exception(
            "archive failed",
            extra={
                "stage": STAGE.value,
                "errorType": type(exc).__name__,
                "errorCode": getattr(exc, "code", None),
                "attempt": _attempt(event),
            },
        )
        metrics.add_metric(name="PipelineFailures", unit=MetricUnit.Count, value=1)
        raise
    metrics.add_metric(
        name="StageExecutionTime",
        unit=MetricUnit.Milliseconds,
        value=round((time.monotonic() - started) * 1000),
    )
    return output.to_json_dict()


def _parse(event: dict[str, Any]) -> PipelineState:
    """The execution state; a malformed one is permanent (retrying cannot fix it)."""
    try:
        return PipelineState.model_validate(event)
    except ValidationError as exc:
        raise PermanentError(
            f"invalid archive input: {exc.error_count()} problem(s)", code="INVALID_INPUT"
        ) from exc


def _attempt(event: dict[str, Any]) -> int | None:
    """The retry count the state machine may pass along, if any."""
    value = event.get("retryCount", event.get("attempt"))
    return int(value) + 1 if isinstance(value, int) else None


def archive(state: PipelineState, adapters: Adapters) -> ArchiveOutput:
    """Archive one image (the whole stage, with injected adapters)."""
    settings = adapters.settings
    try:
        plan = plan_archive(state, settings.archive_bucket)
    except ValueError as exc:
        raise PermanentError(str(exc), code="MISCONFIGURED") from exc

    started_at = utc_now()
    in_progress = StageInfo(
        status=StageStatus.IN_PROGRESS, timestamp=started_at, started_at=started_at
    )
    try:
        adapters.update_record(
            stage_update_request(
                settings.table_name, plan.image_key, STAGE, in_progress, updated_at=started_at
            )
        )
    except ConditionRefusedError:
        return _already_done(plan, adapters)

    for planned in plan.copies:
        adapters.copy(planned)

    completed_at = utc_now()
    duration = processing_duration(state.upload_timestamp, completed_at)
    done = StageInfo(
        status=StageStatus.COMPLETED,
        timestamp=completed_at,
        started_at=started_at,
        completed_at=completed_at,
        duration_ms=duration_ms(started_at, completed_at),
    )
    try:
        adapters.update_record(
            status_update_request(
                settings.table_name,
                plan.image_key,
                ImageStatus.COMPLETED,
                updated_at=completed_at,
                fields=completion_fields(plan, duration),
                stage=(STAGE, done),
            )
        )
    except ConditionRefusedError:
        # A concurrent run finished first: its record is the result.
        return _already_done(plan, adapters)

    _maybe_delete_upload(plan, adapters)
    _publish(plan, duration, completed_at, adapters)
    logger.info("archived", extra={"archivedLocation": plan.archived_location})
    return build_output(plan, duration)


def _already_done(plan: ArchivePlan, adapters: Adapters) -> ArchiveOutput:
    """Answer a refused write: the recorded result if COMPLETED, a permanent error otherwise."""
    record = adapters.get_record(plan.image_key)
    verdict = judge_record(record)
    if verdict is RecordVerdict.ALREADY_COMPLETED and record is not None:
        logger.info("record already completed; returning its result")
        # A delete that failed after completion gets another chance; deleting twice is harmless.
        _maybe_delete_upload(plan, adapters)
        return output_from_record(plan, record)
    status = record.status.value if record else "absent"
    raise PermanentError(f"record is {status}; archive needs PROCESSING", code=verdict.value)


def _maybe_delete_upload(plan: ArchivePlan, adapters: Adapters) -> None:
    """Delete the upload when the setting asks for it (the archive holds the original now)."""
    if adapters.settings.delete_upload:
        adapters.delete_upload(plan.upload_bucket, plan.image_key, plan.upload_version_id)


def _publish(plan: ArchivePlan, duration: int, timestamp: str, adapters: Adapters) -> None:
    """Best effort: the record is already COMPLETED, so a lost event must not fail the image."""
    event = ProcessingEvent(
        detail_type=EventDetailType.STAGE_COMPLETED,
        detail=ProcessingEventDetail(
            image_key=plan.image_key,
            bucket=plan.upload_bucket,
            timestamp=timestamp,
            status=StageStatus.COMPLETED.value,
            stage=STAGE,
            metadata={
                "archivedLocation": plan.archived_location,
                "archivedKeys": plan.archived_keys,
            },
        ),
    )
    notification = Notification(
        event_type=NotificationType.STAGE_COMPLETED,
        image_key=plan.image_key,
        timestamp=timestamp,
        stage=STAGE,
        status=StageStatus.COMPLETED.value,
        processing_duration=duration,
        archived_location=plan.archived_location,
    )
    try:
        adapters.publish(event, notification)
    except Exception:
        logger.exception("publish failed", extra={"errorType": "PublishFailed"})
