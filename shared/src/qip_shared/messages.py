"""The processing queue's message contract: the upload event body, and the dead-letter marker.

The body is always an S3 `Object Created` event as EventBridge delivers it (`upload_event_body`
builds one for a known object). When the pipeline fails an image after its retries, its failure
path sends such a body to the dead-letter queue with the SQS message attribute
`DEAD_LETTER_ATTRIBUTE` = the failed execution's id, and writes the same id on the record
(`deadLetterId`). A message moved back unchanged (SQS's own redrive, `qip dlq redrive`) then
reprocesses the image only while the record is still FAILED with that id: a true duplicate of the
upload event carries no marker, and a second copy of the dead letter finds the id gone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

DEAD_LETTER_ATTRIBUTE = "qipDeadLetter"
UPLOAD_EVENT_SOURCE = "aws.s3"
UPLOAD_EVENT_DETAIL_TYPE = "Object Created"


def upload_event_body(
    *,
    bucket: str,
    key: str,
    size: int,
    version_id: str | None = None,
    etag: str | None = None,
    time: str | None = None,
) -> dict[str, Any]:
    """An S3 `Object Created` event (EventBridge shape) naming one object version."""
    return {
        "source": UPLOAD_EVENT_SOURCE,
        "detail-type": UPLOAD_EVENT_DETAIL_TYPE,
        "time": time,
        "detail": {
            "bucket": {"name": bucket},
            "object": {"key": key, "size": size, "version-id": version_id, "etag": etag},
        },
    }


def dead_letter_attributes(marker: str) -> dict[str, dict[str, str]]:
    """The `MessageAttributes` (SQS `send_message` shape) of a dead letter with its marker."""
    return {DEAD_LETTER_ATTRIBUTE: {"DataType": "String", "StringValue": marker}}


def dead_letter_marker(message_attributes: Mapping[str, Any] | None) -> str | None:
    """The dead-letter marker of a message's attributes (Lambda or SQS API casing), if any."""
    attribute = (message_attributes or {}).get(DEAD_LETTER_ATTRIBUTE)
    if not isinstance(attribute, Mapping):
        return None
    value = attribute.get("stringValue", attribute.get("StringValue"))
    return value if isinstance(value, str) and value else None
