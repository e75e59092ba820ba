"""Trigger Lambda: SQS batch of S3 `Object Created` events → record, screen, claim, start.

Each SQS record is processed on its own (powertools `BatchProcessor`); a record whose handling
raises is reported in `batchItemFailures`, returns to the queue and, after the queue's
maxReceiveCount, lands in the DLQ. When every record of a batch fails the processor raises (its
default), which returns the whole batch too; the local runtime on moto relies on that, since
moto's SQS event-source mapping ignores `batchItemFailures`.

Per record: ignore keys outside `uploads/` → create the record UPLOADED (or read the existing one)
→ reject obvious non-images (REJECTED, no execution) → claim UPLOADED → PROCESSING → start the
execution under its deterministic name → record `executionArn` → publish ProcessingStarted.
A delivery for an image FAILED before its pipeline started, or the dead letter of the pipeline's
own failure path (`qip_shared.messages`) moved back unchanged, claims FAILED → PROCESSING again.
`qip_trigger.core` explains how duplicate and concurrent deliveries start exactly one execution.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from qip_shared import config
from qip_shared.boundary import Dependencies, LocalContext, function_logger, function_tracer
from qip_shared.messages import dead_letter_marker
from qip_trigger.adapters import Adapters
from qip_trigger.ingest import ingest

SERVICE = "qip-trigger"
STAGE = "trigger"

logger = function_logger(SERVICE)
tracer = function_tracer(SERVICE)
metrics = Metrics(namespace=config.metrics_namespace(), service=SERVICE)


# The adapters of this process: injected (tests, local runtime) or built once from the env.
dependencies: Dependencies[Adapters] = Dependencies(Adapters.from_env)
set_dependencies = dependencies.inject


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Process an SQS batch; answer the partial-batch response (`context` may be None)."""
    result: dict[str, Any] = _handle(event, LocalContext.around(context, SERVICE))
    return result


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def _handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    metrics.add_dimension(name="stage", value=STAGE)
    metrics.add_metric(
        name="MessagesReceived", unit=MetricUnit.Count, value=len(event.get("Records", []))
    )
    # A processor per invocation: it keeps per-batch state, and the local runtime may call
    # the handler from several threads.
    processor = BatchProcessor(event_type=EventType.SQS)
    response: dict[str, Any] = dict(
        process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    )
    return response


def record_handler(record: SQSRecord) -> str:
    """Handle one SQS message; raising marks it a batch item failure."""
    receive_count = int(record.attributes.approximate_receive_count or 1)
    dead_letter = dead_letter_marker(record.raw_event.get("messageAttributes"))
    try:
        outcome = ingest(record.body, receive_count, dependencies(), dead_letter=dead_letter)
    except Exception as exc:
        logger.exception(
            "upload not handled; the message returns to the queue",
            extra={
                "stage": STAGE,
                "errorType": type(exc).__name__,
                "attempt": receive_count,
                "messageId": record.message_id,
            },
        )
        raise
    finally:
        logger.remove_keys(["imageKey"])
    logger.info("upload handled", extra={"outcome": outcome.value, "attempt": receive_count})
    return outcome.value
