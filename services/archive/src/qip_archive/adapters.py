"""The AWS calls archive makes: S3 copies and delete, DynamoDB writes, EventBridge and SNS."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from qip_archive.core import PlannedCopy
from qip_archive.errors import classify, is_conditional_check_failed
from qip_shared.config import QipSettings
from qip_shared.events import Notification, ProcessingEvent
from qip_shared.record import ImageRecord

# The SDK retries transient faults itself (handlers never sleep).
BOTO_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5})


class ConditionRefusedError(Exception):
    """A conditional record write was refused: the record is not in the state the write needs."""


@dataclass
class Adapters:
    """Clients and settings archive needs; tests build one around moto clients."""

    settings: QipSettings
    s3: Any
    dynamodb: Any
    events: Any
    sns: Any

    @classmethod
    def from_env(cls) -> Adapters:
        """Read the settings from the environment and create the clients."""
        return cls.from_settings(QipSettings.from_env())

    @classmethod
    def from_settings(cls, settings: QipSettings, session: boto3.Session | None = None) -> Adapters:
        """Create the clients for some settings (from `session`, default boto3's)."""
        factory: Any = session or boto3
        return cls(
            settings=settings,
            s3=factory.client("s3", config=BOTO_CONFIG),
            dynamodb=factory.client("dynamodb", config=BOTO_CONFIG),
            events=factory.client("events", config=BOTO_CONFIG),
            sns=factory.client("sns", config=BOTO_CONFIG),
        )

    def update_record(self, request: dict[str, Any]) -> ImageRecord:
        """Run a conditional `update_item`; ConditionRefusedError when its condition fails."""
        try:
            response = self.dynamodb.update_item(**request)
        except ClientError as exc:
            if is_conditional_check_failed(exc):
                raise ConditionRefusedError(request["Key"]["imageKey"]["S"]) from exc
            raise classify(exc, "record update") from exc
        except BotoCoreError as exc:
            raise classify(exc, "record update") from exc
        return ImageRecord.from_item(response["Attributes"])

    def get_record(self, image_key: str) -> ImageRecord | None:
        """The record of an image (strongly consistent), or None."""
        try:
            response = self.dynamodb.get_item(
                TableName=self.settings.table_name,
                Key={"imageKey": {"S": image_key}},
                ConsistentRead=True,
            )
        except (ClientError, BotoCoreError) as exc:
            raise classify(exc, "record read") from exc
        item = response.get("Item")
        return ImageRecord.from_item(item) if item else None

    def copy(self, planned: PlannedCopy) -> None:
        """One server-side copy into the archive (the bytes never leave S3)."""
        try:
            self.s3.copy_object(**planned.copy_request())
        except (ClientError, BotoCoreError) as exc:
            raise classify(exc, f"copy of {planned.kind.value}") from exc

    def delete_upload(self, bucket: str, key: str, version_id: str | None) -> None:
        """Delete the archived upload (that exact version when the bucket is versioned)."""
        request: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if version_id:
            request["VersionId"] = version_id
        try:
            self.s3.delete_object(**request)
        except (ClientError, BotoCoreError) as exc:
            raise classify(exc, "upload delete") from exc

    def publish(self, event: ProcessingEvent, notification: Notification) -> None:
        """Publish the stage's EventBridge event and SNS notification."""
        entry = event.to_put_events_entry(self.settings.event_bus_name)
        try:
            response = self.events.put_events(Entries=[entry])
            if response.get("FailedEntryCount"):
                raise PublishRefusedError(str(response.get("Entries")))
            if self.settings.topic_arn:
                self.sns.publish(**notification.to_publish_request(self.settings.topic_arn))
        except (ClientError, BotoCoreError) as exc:
            raise classify(exc, "publish") from exc


class PublishRefusedError(Exception):
    """EventBridge accepted the call but refused the entry."""
