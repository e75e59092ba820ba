"""The lifecycle every pipeline stage shares, so each service's handler stays thin.

Needs the `lambda` extra. A service builds one `Stage` at import time and supplies its work:

    stage = Stage(service="qip-resize", stage=StageName.RESIZE, build=Adapters.from_env)
    logger, dependencies, set_dependencies = stage.logger, stage.dependencies, stage.inject

    def process(state, adapters, *, execution_arn=None) -> ResizeOutput:
        return stage.run(state, adapters, work=..., already_done=..., execution_arn=execution_arn)

    handler = stage.handler(process)

`Stage.handler` is the Lambda boundary (parse, log keys, metrics, structured error log, the
exception class names the state machine knows); `Stage.run` is the record lifecycle
(IN_PROGRESS, work, COMPLETED or FAILED, StageCompleted event and notification).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from aws_lambda_powertools import Metrics, single_metric
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import ValidationError

from qip_shared import config
from qip_shared.aws import StageAdapters, StaleWriteError
from qip_shared.boundary import Dependencies, LocalContext, function_logger, function_tracer
from qip_shared.enums import (
    EventDetailType,
    ImageStatus,
    NotificationType,
    StageName,
    StageStatus,
)
from qip_shared.errors import InvalidImageError, PermanentError, QipError, RetryableError
from qip_shared.events import Notification, ProcessingEvent, ProcessingEventDetail
from qip_shared.pipeline import ExecutionContext, PipelineState, TaskInput
from qip_shared.record import StageInfo
from qip_shared.requests import stage_update_request
from qip_shared.timeutil import duration_ms, parse_timestamp, utc_now

ERROR_MESSAGE_LIMIT = 1000
"""Longest error message recorded on a stage (DynamoDB items are capped; the log has it all)."""

AdaptersT = TypeVar("AdaptersT", bound=StageAdapters)


class JsonModel(Protocol):
    """A stage output: a contract model that renders itself as camelCase JSON."""

    def to_json_dict(self) -> dict[str, Any]:
        """The model as the JSON the state machine passes on."""
        ...


JsonModelT = TypeVar("JsonModelT", bound=JsonModel)


@dataclass(frozen=True)
class StageDone(Generic[JsonModelT]):
    """What a stage's work produced: its output and what to record and announce about it."""

    output: JsonModelT
    stage_fields: Mapping[str, Any] = field(default_factory=dict)
    """Extra `StageInfo` fields of the COMPLETED stage (width, height, format, details)."""
    record_fields: Mapping[str, Any] = field(default_factory=dict)
    """Record attributes (camelCase) written with the COMPLETED stage (e.g. `resizedKey`)."""
    event_metadata: dict[str, Any] | None = None
    """The StageCompleted event's `metadata`."""
    notification_fields: Mapping[str, Any] = field(default_factory=dict)
    """Extra `Notification` fields; `processing_duration` defaults to the stage's duration."""
    completed_at: str | None = None
    """When the work finished, if the work needed the moment itself (default: now)."""


def attempt_number(event: Mapping[str, Any]) -> int | None:
    """The attempt number, when the state machine passes its retry count along."""
    execution = event.get("execution")
    if isinstance(execution, Mapping):
        event = execution
    value = event.get("retryCount", event.get("attempt"))
    return int(value) + 1 if isinstance(value, int) and not isinstance(value, bool) else None


def as_contract_error(err: Exception) -> Exception:
    """The exception to raise at the Lambda boundary: subclasses become their shared class.

    Step Functions matches the class *name* and knows only InvalidImageError, PermanentError
    and RetryableError, so e.g. `RecordNotFoundError` leaves as a plain `PermanentError`.
    """
    if isinstance(err, InvalidImageError) or type(err) in (PermanentError, RetryableError):
        return err
    if isinstance(err, PermanentError):
        return PermanentError(err.message, code=err.code)
    if isinstance(err, RetryableError):
        return RetryableError(err.message, code=err.code)
    return err


def parse_state(event: Mapping[str, Any]) -> PipelineState:
    """The stage input; a malformed one will never get better, so it is a permanent error."""
    return parse_task_input(event).state


def parse_task_input(event: Mapping[str, Any]) -> TaskInput:
    """The state and execution context (`{"state", "execution"}`, or a bare state, old style)."""
    try:
        if isinstance(event, Mapping) and "state" in event and "execution" in event:
            return TaskInput.model_validate(event)
        execution = ExecutionContext(
            execution_id=event.get("executionArn") if isinstance(event, Mapping) else None,
            retry_count=(attempt_number(event) or 1) - 1 if isinstance(event, Mapping) else 0,
        )
        return TaskInput(state=PipelineState.model_validate(event), execution=execution)
    except ValidationError as err:
        raise PermanentError(
            f"malformed stage input: {err.error_count()} errors", code="BAD_INPUT"
        ) from None


def context_keys(execution: ExecutionContext) -> dict[str, Any]:
    """The log keys of an execution context (design "Error Logging": execution id, attempt)."""
    keys: dict[str, Any] = {"attempt": execution.attempt}
    if execution.execution_id:
        keys["executionArn"] = execution.execution_id
    if execution.execution_name:
        keys["executionName"] = execution.execution_name
    return keys


def emit_processing_duration(status: ImageStatus, upload_timestamp: str, terminal_at: str) -> None:
    """`ImageProcessingDuration`: ms from upload to `status`, once per image, where it ends.

    Its own EMF document with the dimensions `service` (always the pipeline's) and `status`, so
    there is one metric per terminal status, whichever function wrote it (validate, archive, the
    failing stage, the trigger, the sweeper); nothing when a timestamp does not parse.
    """
    try:
        elapsed = parse_timestamp(terminal_at) - parse_timestamp(upload_timestamp)
    except ValueError:
        return
    dimensions = {"service": config.PROCESSING_DURATION_SERVICE, "status": status.value}
    with single_metric(
        name=config.PROCESSING_DURATION_METRIC,
        unit=MetricUnit.Milliseconds,
        value=max(0, round(elapsed.total_seconds() * 1000)),
        namespace=config.metrics_namespace(),
        default_dimensions=dimensions,
    ):
        pass


def ends_the_image(err: Exception, execution: ExecutionContext) -> bool:
    """Whether a stage's error ends the image FAILED: HandleError follows, with no retry left.

    A rejection is validate's to time; a permanent error is never retried; any other error
    ends the image on the last attempt its retrier allows (when the task passes its budget).
    """
    if isinstance(err, InvalidImageError):
        return False
    return isinstance(err, PermanentError) or execution.is_last_attempt(err)


class Stage(Generic[AdaptersT]):
    """One stage's Lambda runtime: powertools objects, injectable adapters, the lifecycle."""

    def __init__(self, *, service: str, stage: StageName, build: Callable[[], AdaptersT]) -> None:
        self.service = service
        self.stage = stage
        self.logger = function_logger(service)
        self.tracer = function_tracer(service)
        # Powertools keeps metric state per process, not per instance: a default dimension set
        # here would be overwritten when several stages share a process (the local runtime), so
        # the stage dimension is added on each invocation instead.
        self.metrics = Metrics(namespace=config.metrics_namespace(), service=service)
        self.dependencies: Dependencies[AdaptersT] = Dependencies(build)

    def inject(self, adapters: AdaptersT | None) -> None:
        """Inject adapters (tests, local runtime); None goes back to building from the env."""
        self.dependencies.inject(adapters)

    # --- the Lambda boundary ----------------------------------------------------------------

    def handler(
        self, process: Callable[..., JsonModel]
    ) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
        """The Lambda handler running `process(state, adapters, execution_arn=...)`."""

        @self.logger.inject_lambda_context(clear_state=True)
        @self.tracer.capture_lambda_handler
        @self.metrics.log_metrics
        def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
            started = time.monotonic()
            self.metrics.add_dimension(name="stage", value=self.stage.value)
            state: PipelineState | None = None
            try:
                task = parse_task_input(event)
                state = task.state
                self.logger.append_keys(
                    imageKey=state.image_key, stage=self.stage.value, **context_keys(task.execution)
                )
                output = process(
                    state, self.dependencies(), execution_arn=task.execution.execution_id
                )
            except Exception as err:
                self._log_failure(err, event)
                if state is not None and ends_the_image(err, task.execution):
                    emit_processing_duration(ImageStatus.FAILED, state.upload_timestamp, utc_now())
                contract_error = as_contract_error(err)
                if contract_error is err:
                    raise
                raise contract_error from err
            finally:
                self.metrics.add_metric(
                    name="StageExecutionTime",
                    unit=MetricUnit.Milliseconds,
                    value=round((time.monotonic() - started) * 1000),
                )
            return output.to_json_dict()

        def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
            """Run the stage on one execution state; `context` may be None (local runtime)."""
            result: dict[str, Any] = lambda_handler(
                event, LocalContext.around(context, self.service)
            )
            return result

        return handler

    def _log_failure(self, err: Exception, event: Any) -> None:
        """Structured error log (design "Error Logging"); imageKey is already appended."""
        extra: dict[str, Any] = {"stage": self.stage.value, "errorType": type(err).__name__}
        if isinstance(err, QipError):
            extra["errorCode"] = err.code
        if isinstance(event, dict):
            attempt = attempt_number(event)
            if attempt is not None:
                extra["attempt"] = attempt
            execution = event.get("execution")
            arn = execution.get("executionId") if isinstance(execution, dict) else None
            arn = arn or event.get("executionArn")
            if arn:
                extra["executionArn"] = arn
        if isinstance(err, InvalidImageError):
            # A rejection is an outcome, not a fault: no stack trace, no failure metric.
            extra.update(reason=err.reason.value, errorMessage=err.message)
            self.logger.error("image rejected", extra=extra)
            return
        self.logger.exception(f"{self.stage.value} failed", extra=extra)
        # Per attempt: a retry may still succeed. Failed images are counted as PipelineFailures
        # where their FAILED status is written (the state machine's HandleError, the sweeper).
        self.metrics.add_metric(name="StageAttemptFailures", unit=MetricUnit.Count, value=1)

    # --- the record lifecycle ---------------------------------------------------------------

    def run(
        self,
        state: PipelineState,
        adapters: AdaptersT,
        *,
        work: Callable[[], StageDone[JsonModelT]],
        already_done: Callable[[], JsonModelT],
        complete: Callable[[StageInfo, StageDone[JsonModelT]], None] | None = None,
        fail: Callable[[Exception, str], None] | None = None,
        execution_arn: str | None = None,
    ) -> JsonModelT:
        """IN_PROGRESS, `work`, COMPLETED (or FAILED), then announce; returns the output.

        A refused stage write (the stage is done or the record finished) answers with
        `already_done()` instead. `complete` replaces the COMPLETED stage write (it raises
        `StaleWriteError` when refused); `fail(error, started_at)` replaces the best-effort
        FAILED stage write (validate records a rejection instead).
        """
        started_at = utc_now()
        in_progress = StageInfo(
            status=StageStatus.IN_PROGRESS, timestamp=started_at, started_at=started_at
        )
        execution = {"executionArn": execution_arn} if execution_arn else None
        try:
            self.write_stage(adapters, state.image_key, in_progress, extra=execution)
        except StaleWriteError:
            self.logger.info("stage already recorded or record finished; answering from it")
            return already_done()
        try:
            done = work()
        except Exception as err:
            if fail is None:
                self.record_failure(state, adapters, started_at, err)
            else:
                fail(err, started_at)
            raise
        completed_at = done.completed_at or utc_now()
        elapsed = duration_ms(started_at, completed_at)
        info = StageInfo(
            status=StageStatus.COMPLETED,
            timestamp=completed_at,
            started_at=started_at,
            completed_at=completed_at,
            duration_ms=elapsed,
            **done.stage_fields,
        )
        try:
            if complete is None:
                self.write_stage(adapters, state.image_key, info, extra=done.record_fields)
            else:
                complete(info, done)
                emit_processing_duration(
                    ImageStatus.COMPLETED, state.upload_timestamp, completed_at
                )
        except StaleWriteError:
            # Another run finished the stage (or the record) in between: the record decides.
            self.logger.info("record moved on meanwhile; stage completion not recorded")
            return already_done()
        self.announce(state, adapters, done, completed_at, elapsed, execution_arn=execution_arn)
        return done.output

    def write_stage(
        self,
        adapters: AdaptersT,
        image_key: str,
        info: StageInfo,
        *,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        """Record this stage's status (and `extra` record fields); `StaleWriteError` if refused."""
        adapters.update_record(
            stage_update_request(
                adapters.settings.table_name,
                image_key,
                self.stage,
                info,
                updated_at=info.timestamp,
                extra=extra or None,
            )
        )

    def record_failure(
        self, state: PipelineState, adapters: AdaptersT, started_at: str, err: Exception
    ) -> None:
        """Best effort: mark the stage FAILED; the state machine's HandleError owns the status."""
        failed_at = utc_now()
        failed = StageInfo(
            status=StageStatus.FAILED,
            timestamp=failed_at,
            started_at=started_at,
            duration_ms=duration_ms(started_at, failed_at),
            error_message=str(err)[:ERROR_MESSAGE_LIMIT],
        )
        try:
            self.write_stage(adapters, state.image_key, failed)
        except (StaleWriteError, QipError):
            self.logger.warning(
                "could not record the stage failure", extra={"stage": self.stage.value}
            )

    def announce(
        self,
        state: PipelineState,
        adapters: AdaptersT,
        done: StageDone[JsonModelT],
        completed_at: str,
        elapsed: int,
        *,
        execution_arn: str | None = None,
    ) -> None:
        """StageCompleted event + STAGE_COMPLETED notification (best effort, counted if lost)."""
        event = ProcessingEvent(
            detail_type=EventDetailType.STAGE_COMPLETED,
            detail=ProcessingEventDetail(
                image_key=state.image_key,
                bucket=state.bucket,
                timestamp=completed_at,
                status=StageStatus.COMPLETED.value,
                stage=self.stage,
                execution_arn=execution_arn,
                metadata=done.event_metadata,
            ),
        )
        notification = Notification(
            event_type=NotificationType.STAGE_COMPLETED,
            image_key=state.image_key,
            timestamp=completed_at,
            stage=self.stage,
            status=StageStatus.COMPLETED.value,
            **{"processing_duration": elapsed, **done.notification_fields},
        )
        self.publish(adapters, event, notification)

    def publish(
        self, adapters: AdaptersT, event: ProcessingEvent, notification: Notification
    ) -> None:
        """Best effort: the record is already written, so a lost event must not fail the image."""
        try:
            adapters.publish(event, notification)
        except QipError as err:
            self.logger.exception(
                "event publishing failed",
                extra={
                    "stage": self.stage.value,
                    "errorType": type(err).__name__,
                    "errorCode": err.code,
                },
            )
            self.metrics.add_metric(name="PublishFailures", unit=MetricUnit.Count, value=1)
