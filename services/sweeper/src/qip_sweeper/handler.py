"""Sweeper Lambda, run on a schedule: end FAILED the records their execution left PROCESSING.

Per run: query the status index for PROCESSING records claimed before the cutoff (execution
timeout + grace, `qip_shared.limits`) → describe each one's execution → if it can no longer
finish the record, write FAILED with the reason (conditional on status and claim, so a second
sweeper run or a late HandleError cannot double it) → ProcessingFailed event and
PROCESSING_FAILED notification, as the state machine would have sent. The failed image is
counted (`PipelineFailures`) and timed (`ImageProcessingDuration`) here, where FAILED is written.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from qip_shared.aws import StaleWriteError
from qip_shared.boundary import Dependencies, LocalContext, function_tracer
from qip_shared.enums import ImageStatus
from qip_shared.errors import QipError
from qip_shared.keys import execution_arn
from qip_shared.record import ImageRecord
from qip_shared.stage import emit_processing_duration
from qip_shared.timeutil import format_timestamp
from qip_sweeper.adapters import Adapters
from qip_sweeper.core import (
    claimed_at,
    cutoff,
    failure_announcements,
    failure_message,
    sweep_request,
    verdict,
)

SERVICE = "qip-sweeper"
STAGE = "sweeper"

logger = Logger(service=SERVICE)
tracer = function_tracer(SERVICE)
metrics = Metrics(namespace="QIP", service=SERVICE)

# The adapters of this process: injected (tests, local runtime) or built once from the env.
dependencies: Dependencies[Adapters] = Dependencies(Adapters.from_env)
set_dependencies = dependencies.inject


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Sweep once (the schedule's event carries nothing we need); `context` may be None."""
    result: dict[str, Any] = _handle(event, LocalContext.around(context, SERVICE))
    return result


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def _handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    del event, context
    metrics.add_dimension(name="stage", value=STAGE)
    adapters = dependencies()
    now = adapters.clock()
    newest = cutoff(now, adapters.sweep.sweep_after)
    checked = swept = 0
    for record in adapters.stuck_records(newest):
        if checked >= adapters.sweep.max_records:
            break  # the next run takes the rest
        if claimed_at(record) > newest:
            continue  # uploaded long ago but claimed again recently (a reprocess)
        checked += 1
        try:
            swept += sweep(record, adapters)
        except QipError as err:
            logger.exception(
                "could not sweep record; left for the next run",
                extra={"imageKey": record.image_key, "errorCode": err.code},
            )
    metrics.add_metric(name="RecordsSwept", unit=MetricUnit.Count, value=swept)
    logger.info("sweep done", extra={"checked": checked, "swept": swept, "cutoff": newest})
    return {"checked": checked, "swept": swept}


def _execution_status(record: ImageRecord, adapters: Adapters) -> str | None:
    """What Step Functions says about the record's execution (None: it cannot tell)."""
    arn = record.execution_arn
    machine = adapters.settings.state_machine_arn
    if arn is None and record.execution_name and machine:
        arn = execution_arn(machine, record.execution_name)
    return adapters.execution_status(arn) if arn else None


def sweep(record: ImageRecord, adapters: Adapters) -> bool:
    """End one record FAILED if its execution can no longer do it; True when this run did."""
    status = _execution_status(record, adapters)
    reason = verdict(record, status, adapters.clock(), adapters.sweep.sweep_after)
    keys = {"imageKey": record.image_key, "executionArn": record.execution_arn}
    if reason is None:
        logger.info("record left alone", extra={**keys, "executionStatus": status})
        return False
    message = failure_message(record, reason, adapters.sweep.sweep_after)
    now = format_timestamp(adapters.clock())
    try:
        adapters.update_record(
            sweep_request(adapters.settings.table_name, record, reason, message, now)
        )
    except StaleWriteError:
        logger.info("record moved on meanwhile; not swept", extra=keys)
        return False
    logger.warning("record swept", extra={**keys, "reason": reason.value, "errorMessage": message})
    metrics.add_metric(name="PipelineFailures", unit=MetricUnit.Count, value=1)
    emit_processing_duration(ImageStatus.FAILED, record.upload_timestamp, now)
    event, notification = failure_announcements(
        record, message, now, adapters.settings.upload_bucket
    )
    try:
        adapters.publish(event, notification)
    except QipError as err:
        # The record is final: a lost announcement is counted, never retried into a loop.
        logger.exception("announcing the sweep failed", extra={**keys, "errorCode": err.code})
        metrics.add_metric(name="PublishFailures", unit=MetricUnit.Count, value=1)
    return True
