"""EventBridge ProcessingEvent and SNS notification message, with their request shapes."""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field

from qip_shared.base import Contract
from qip_shared.enums import (
    EVENT_SOURCE,
    EventDetailType,
    NotificationType,
    RejectionReason,
    StageName,
)


class ProcessingEventDetail(Contract):
    """The `detail` of a ProcessingEvent (design "ProcessingEvent")."""

    image_key: str
    bucket: str
    timestamp: str
    status: str
    stage: StageName | None = None
    execution_arn: str | None = None
    reason: RejectionReason | None = None
    error_message: str | None = None
    metadata: dict[str, Any] | None = None


class ProcessingEvent(Contract):
    """An event on the EventBridge bus about one image."""

    source: str = EVENT_SOURCE
    detail_type: EventDetailType
    detail: ProcessingEventDetail

    def to_put_events_entry(self, event_bus_name: str) -> dict[str, Any]:
        """The entry for `events.put_events(Entries=[...])`."""
        return {
            "Source": self.source,
            "DetailType": self.detail_type.value,
            "Detail": json.dumps(self.detail.to_json_dict(), separators=(",", ":")),
            "EventBusName": event_bus_name,
        }


class Notification(Contract):
    """The SNS message (design "Message Format"), JSON in the message body."""

    event_type: NotificationType
    image_key: str
    timestamp: str
    stage: StageName | None = None
    status: str | None = None
    processing_duration: int | None = Field(default=None, ge=0)
    stages: list[StageName] | None = None
    reason: RejectionReason | None = None
    error_message: str | None = None
    archived_location: str | None = None

    def to_publish_request(self, topic_arn: str) -> dict[str, Any]:
        """Keyword arguments for `sns.publish`; `eventType` is also a message attribute."""
        return {
            "TopicArn": topic_arn,
            "Message": json.dumps(self.to_json_dict(), separators=(",", ":")),
            "MessageAttributes": {
                "eventType": {"DataType": "String", "StringValue": self.event_type.value},
            },
        }
