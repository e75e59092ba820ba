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

from qip_shared.signatures import sniff_format
from qip_trigger.core.claims import (
    DEFAULT_CLAIM_LEASE,
    Action,
    execution_input,
    is_same_object,
    is_superseded,
    never_started,
    new_record,
    next_action,
    pipeline_input,
    redrive_execution_name,
)
from qip_trigger.core.parsing import (
    NULL_VERSION,
    MalformedEventError,
    S3Upload,
    candidate_keys,
    decode_original_name,
    decode_owner,
    is_upload_key,
    parse_event,
    parse_sqs_body,
)
from qip_trigger.core.requests import (
    claim_request,
    fail_request,
    record_execution_request,
    redrive_claim_request,
    reject_request,
    release_request,
    reprocess_claim_request,
    takeover_request,
)
from qip_trigger.core.screening import Rejection, screen, screen_content, screen_declared

__all__ = [
    "DEFAULT_CLAIM_LEASE",
    "NULL_VERSION",
    "Action",
    "MalformedEventError",
    "Rejection",
    "S3Upload",
    "candidate_keys",
    "claim_request",
    "decode_original_name",
    "decode_owner",
    "execution_input",
    "fail_request",
    "is_same_object",
    "is_superseded",
    "is_upload_key",
    "never_started",
    "new_record",
    "next_action",
    "parse_event",
    "parse_sqs_body",
    "pipeline_input",
    "record_execution_request",
    "redrive_claim_request",
    "redrive_execution_name",
    "reject_request",
    "release_request",
    "reprocess_claim_request",
    "screen",
    "screen_content",
    "screen_declared",
    "sniff_format",
    "takeover_request",
]
