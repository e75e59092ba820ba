"""Validate Lambda: accept or reject the uploaded object before anything else touches it.

Input: the execution state (`PipelineState`). Output: `ValidateOutput.to_json_dict()`.
Order: stages.validation IN_PROGRESS → head_object (TOO_LARGE before any download) → the
first bytes (magic) → the rest → `core.validate_image` → stages.validation COMPLETED (with
width/height/format; the record and the output also get the upload's `contentSha256`, hashed
here once because this stage reads the whole object) → StageCompleted event +
STAGE_COMPLETED notification.
Any other failure marks stages.validation FAILED (best effort) and raises the shared class.
A rejection writes status REJECTED (rejectionReason, errorMessage, stages.validation FAILED) in
one conditional update, publishes ImageRejected + PROCESSING_REJECTED, counts
ValidationFailures and re-raises InvalidImageError, which the state machine catches by name.
Re-runs are idempotent: a refused stage write means the record is finished or the stage is
done; the record decides (a REJECTED record re-raises its rejection, writing nothing).
"""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit

from qip_shared.aws import StaleWriteError
from qip_shared.enums import (
    EventDetailType,
    ImageStatus,
    NotificationType,
    RejectionReason,
    StageName,
    StageStatus,
)
from qip_shared.errors import InvalidImageError, PermanentError
from qip_shared.events import Notification, ProcessingEvent, ProcessingEventDetail
from qip_shared.pipeline import PipelineState, ValidateOutput
from qip_shared.record import ImageRecord, StageInfo
from qip_shared.requests import status_update_request
from qip_shared.stage import Stage, StageDone, emit_processing_duration
from qip_shared.timeutil import duration_ms, utc_now
from qip_validate.adapters import Adapters
from qip_validate.core import (
    ValidationResult,
    check_byte_size,
    content_sha256,
    sniff_format,
    validate_image,
)

SERVICE = "qip-validate"
STAGE = StageName.VALIDATION
FIRST_READ_BYTES = 64 * 1024
"""The first ranged read: enough for the magic bytes, and the whole of most small images."""

stage: Stage[Adapters] = Stage(service=SERVICE, stage=STAGE, build=Adapters.from_env)
logger, tracer, metrics = stage.logger, stage.tracer, stage.metrics
dependencies, set_dependencies = stage.dependencies, stage.inject


def validate(
    state: PipelineState, adapters: Adapters, *, execution_arn: str | None = None
) -> ValidateOutput:
    """The whole stage for one image, with injected adapters."""

    def fail(error: Exception, started_at: str) -> None:
        if isinstance(error, InvalidImageError):
            _reject(state, adapters, error, started_at, execution_arn)
        else:
            stage.record_failure(state, adapters, started_at, error)

    return stage.run(
        state,
        adapters,
        work=lambda: _accept(state, adapters),
        already_done=lambda: _already_done(state, adapters),
        fail=fail,
        execution_arn=execution_arn,
    )


def _accept(state: PipelineState, adapters: Adapters) -> StageDone[ValidateOutput]:
    """Check the object; what the COMPLETED stage and its event carry."""
    result, sha256 = _check_object(state, adapters)
    logger.info(
        "image accepted",
        extra={"format": result.format.value, "width": result.width, "height": result.height},
    )
    return StageDone(
        output=_output(state, result, sha256),
        record_fields={"contentSha256": sha256},
        stage_fields={
            "width": result.width,
            "height": result.height,
            "format": result.format.value,
        },
        event_metadata={
            "format": result.format.value,
            "width": result.width,
            "height": result.height,
            "frames": result.frames,
        },
    )


def _check_object(state: PipelineState, adapters: Adapters) -> tuple[ValidationResult, str]:
    """Read only what each check needs: size from the header, magic from a first range.

    Also the SHA-256 of the whole object: this is the one stage that reads all of it.
    """
    settings = adapters.settings
    bucket, key, version = state.bucket, state.image_key, state.version_id
    size = adapters.object_size(bucket, key, version)
    check_byte_size(size, max_bytes=settings.max_bytes)
    if size == 0:
        # Always raises: an empty file is no image.
        validate_image(b"", max_bytes=settings.max_bytes, max_pixels=settings.max_pixels)
    data = adapters.read_range(bucket, key, version, 0, min(size, FIRST_READ_BYTES) - 1)
    sniff_format(data)
    if len(data) < size:
        data += adapters.read_range(bucket, key, version, len(data))
    result = validate_image(data, max_bytes=settings.max_bytes, max_pixels=settings.max_pixels)
    return result, content_sha256(data)


def _output(state: PipelineState, result: ValidationResult, sha256: str) -> ValidateOutput:
    return ValidateOutput(
        image_key=state.image_key,
        bucket=state.bucket,
        valid=True,
        format=result.format,
        width=result.width,
        height=result.height,
        frames=result.frames,
        content_sha256=sha256,
    )


def _already_done(state: PipelineState, adapters: Adapters) -> ValidateOutput:
    """Answer a refused stage write from the record: replay a rejection or a completed check."""
    record = adapters.get_record(state.image_key)
    if record is None:
        raise PermanentError("no record for this image", code="RECORD_NOT_FOUND")
    if record.status is ImageStatus.REJECTED:
        logger.info("record already rejected; replaying the rejection")
        raise _recorded_rejection(record)
    recorded = record.stages.get(STAGE)
    if recorded is not None and recorded.status is StageStatus.COMPLETED:
        # The check is pure and cheap: re-run it to answer, writing and publishing nothing.
        logger.info("validation already completed; answering without writing")
        return _output(state, *_check_object(state, adapters))
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
    emit_processing_duration(ImageStatus.REJECTED, state.upload_timestamp, failed_at)
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
    stage.publish(adapters, event, notification)


handler = stage.handler(validate)
