"""Lambda entry point of the resize stage: read the upload, fit it in 1024x768, write the JPEG."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import ValidationError

from qip_resize.adapters import Adapters
from qip_resize.core import resize_image
from qip_resize.errors import RecordNotFoundError
from qip_shared.enums import EventDetailType, NotificationType, StageName, StageStatus
from qip_shared.errors import PermanentError, QipError
from qip_shared.events import Notification, ProcessingEvent, ProcessingEventDetail
from qip_shared.keys import resized_key
from qip_shared.pipeline import PipelineState, ResizeOutput
from qip_shared.record import StageInfo
from qip_shared.timeutil import duration_ms, utc_now

SERVICE = "qip-resize"
STAGE = StageName.RESIZE

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace="QIP", service=SERVICE)
metrics.set_default_dimensions(stage=STAGE.value)

_injected: Adapters | None = None


@functools.cache
def dependencies() -> Adapters:
    """The adapters of this process: injected ones, else built from the environment once."""
    return _injected if _injected is not None else Adapters.from_env()


def set_dependencies(adapters: Adapters | None) -> None:
    """Inject adapters (tests, local runtime); None goes back to building from the environment."""
    global _injected  # noqa: PLW0603 - one process-wide slot, like the cached clients
    _injected = adapters
    dependencies.cache_clear()


@dataclass(frozen=True)
class LocalContext:
    """The Lambda context fields powertools reads, for callers that pass no context."""

    function_name: str = SERVICE
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = f"arn:aws:lambda:local:000000000000:function:{SERVICE}"
    aws_request_id: str = "local"


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Lambda handler; accepts `context=None` (local runtime, tests)."""
    result: dict[str, Any] = _handle(event, context if context is not None else LocalContext())
    return result


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def _handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        state = PipelineState.model_validate(event)
    except ValidationError as err:
        error = PermanentError(f"invalid stage input: {err}", code="INVALID_INPUT")
        _log_failure(error, event)
        raise error from err
    logger.append_keys(imageKey=state.image_key, stage=STAGE.value)
    try:
        output = process(state, dependencies())
    except Exception as err:  # every failure is logged (Property 6), then re-raised as is
        _log_failure(err, event)
        raise
    return output.to_json_dict()


def process(state: PipelineState, adapters: Adapters) -> ResizeOutput:
    """Run the stage: record IN_PROGRESS, resize, write, record COMPLETED, announce."""
    image_key = state.image_key
    started = utc_now()
    info = StageInfo(status=StageStatus.IN_PROGRESS, timestamp=started, started_at=started)
    # A refused IN_PROGRESS means the stage is COMPLETED or the record finished: redo the
    # (deterministic) output so the key is whole, but leave the record as it is.
    owns_record = adapters.record_stage(image_key, STAGE, info)
    if not owns_record:
        record = adapters.get_record(image_key)
        if record is None:
            raise RecordNotFoundError(f"no record for the image (bucket {state.bucket})")
        stage_info = record.stages.get(STAGE)
        logger.info(
            "stage already recorded; re-running without reopening it",
            extra={
                "recordStatus": record.status.value,
                "stageStatus": stage_info.status.value if stage_info else None,
            },
        )
    output_key = resized_key(image_key)
    try:
        result = resize_image(adapters.get_object(state.bucket, image_key))
        adapters.put_jpeg(state.bucket, output_key, result.data)
    except Exception as err:
        if owns_record:
            _record_failure(adapters, image_key, started, err)
        raise
    completed = utc_now()
    elapsed = duration_ms(started, completed)
    if owns_record and not adapters.record_stage(
        image_key,
        STAGE,
        StageInfo(
            status=StageStatus.COMPLETED,
            timestamp=completed,
            started_at=started,
            completed_at=completed,
            duration_ms=elapsed,
        ),
        extra={"resizedKey": output_key},
    ):
        logger.info("record finished meanwhile; stage completion not recorded")
    metrics.add_metric(name="StageExecutionTime", unit=MetricUnit.Milliseconds, value=elapsed)
    output = ResizeOutput(
        image_key=image_key,
        resized_key=output_key,
        width=result.width,
        height=result.height,
        bytes=len(result.data),
    )
    _announce(adapters, state, output, completed, elapsed)
    logger.info(
        "resized", extra={"width": result.width, "height": result.height, "durationMs": elapsed}
    )
    return output


def _record_failure(adapters: Adapters, image_key: str, started: str, err: Exception) -> None:
    """Best effort: the error itself is what matters, so a failed write is only logged."""
    now = utc_now()
    info = StageInfo(
        status=StageStatus.FAILED, timestamp=now, started_at=started, error_message=str(err)
    )
    try:
        adapters.record_stage(image_key, STAGE, info)
    except QipError:
        logger.exception("could not record the stage failure", extra={"stage": STAGE.value})


def _announce(
    adapters: Adapters, state: PipelineState, output: ResizeOutput, moment: str, elapsed: int
) -> None:
    """StageCompleted on EventBridge and STAGE_COMPLETED on SNS."""
    adapters.put_event(
        ProcessingEvent(
            detail_type=EventDetailType.STAGE_COMPLETED,
            detail=ProcessingEventDetail(
                image_key=state.image_key,
                bucket=state.bucket,
                timestamp=moment,
                status=StageStatus.COMPLETED.value,
                stage=STAGE,
                metadata={
                    "resizedKey": output.resized_key,
                    "width": output.width,
                    "height": output.height,
                },
            ),
        )
    )
    adapters.publish(
        Notification(
            event_type=NotificationType.STAGE_COMPLETED,
            image_key=state.image_key,
            timestamp=moment,
            stage=STAGE,
            status=StageStatus.COMPLETED.value,
            processing_duration=elapsed,
        )
    )


def _log_failure(err: Exception, event: dict[str, Any]) -> None:
    """Structured error log (design "Error Logging"); the key is already appended."""
    extra: dict[str, Any] = {"stage": STAGE.value, "errorType": type(err).__name__}
    if isinstance(err, QipError):
        extra["errorCode"] = err.code
    attempt = event.get("attempt", event.get("retryCount")) if isinstance(event, dict) else None
    if attempt is not None:
        extra["attempt"] = attempt
    execution_arn = event.get("executionArn") if isinstance(event, dict) else None
    if execution_arn:
        extra["executionArn"] = execution_arn
    logger.exception("resize failed", extra=extra)
