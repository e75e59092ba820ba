"""The processing queue's message contract beyond the body (the body is the S3 event as is).

`qip dlq redrive` marks every message it replays with the SQS message attribute
`REPROCESS_ATTRIBUTE` = "true": an explicit reprocess request. The trigger honours it only for a
record it failed itself because the pipeline never started (see `qip_trigger.core.next_action`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

REPROCESS_ATTRIBUTE = "qipReprocess"
_TRUE = "true"


def reprocess_attributes() -> dict[str, dict[str, str]]:
    """The `MessageAttributes` entry (SQS `send_message` shape) that marks a reprocess request."""
    return {REPROCESS_ATTRIBUTE: {"DataType": "String", "StringValue": _TRUE}}


def is_reprocess_request(message_attributes: Mapping[str, Any] | None) -> bool:
    """Whether a Lambda SQS record's `messageAttributes` carry the reprocess mark."""
    attribute = (message_attributes or {}).get(REPROCESS_ATTRIBUTE)
    if not isinstance(attribute, Mapping):
        return False
    return attribute.get("dataType") == "String" and attribute.get("stringValue") == _TRUE
