"""The AWS calls metadata makes: one S3 read, DynamoDB writes, EventBridge and SNS."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from qip_metadata.errors import CONDITIONAL_CHECK_FAILED, StaleWriteError, error_code, map_aws_error
from qip_shared.config import QipSettings
from qip_shared.errors import PermanentError
from qip_shared.events import Notification, ProcessingEvent
from qip_shared.record import TABLE_PARTITION_KEY, ImageRecord

# The SDK retries transient faults itself (handlers never sleep).
BOTO_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5})


@dataclass
class Adapters:
    """Clients and settings metadata needs; tests build one around moto clients."""

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
    def from_settings(cls, settings: QipSettings) -> Adapters:
        """Create the clients for some settings."""
        return cls(
            settings=settings,
            s3=boto3.client("s3", config=BOTO_CONFIG),
            dynamodb=boto3.client("dynamodb", config=BOTO_CONFIG),
            events=boto3.client("events", config=BOTO_CONFIG),
            sns=boto3.client("sns", config=BOTO_CONFIG),
        )

    def read_object(self, bucket: str, key: str, version_id: str | None, max_bytes: int) -> bytes:
        """The object's bytes; PermanentError beyond `max_bytes` (validate refuses those)."""
        try:
            response = self.s3.get_object(Bucket=bucket, Key=key, **_version(version_id))
            length = int(response.get("ContentLength", 0))
            if length > max_bytes:
                response["Body"].close()
                raise PermanentError(
                    f"the object is {length} bytes; the limit is {max_bytes}", code="TOO_LARGE"
                )
            body: bytes = response["Body"].read(max_bytes + 1)
        except (ClientError, BotoCoreError) as exc:
            raise map_aws_error(exc, "s3 get_object") from exc
        if len(body) > max_bytes:
            raise PermanentError(f"the object exceeds {max_bytes} bytes", code="TOO_LARGE")
        return body

    def update_record(self, request: dict[str, Any]) -> ImageRecord:
        """Run a conditional `update_item`; StaleWriteError when its condition fails."""
        try:
            response = self.dynamodb.update_item(**request)
        except ClientError as exc:
            if error_code(exc) == CONDITIONAL_CHECK_FAILED:
                raise StaleWriteError("record update") from exc
            raise map_aws_error(exc, "dynamodb update_item") from exc
        except BotoCoreError as exc:
            raise map_aws_error(exc, "dynamodb update_item") from exc
        return ImageRecord.from_item(response["Attributes"])

    def get_record(self, image_key: str) -> ImageRecord | None:
        """The record of an image (strongly consistent read), or None."""
        try:
            response = self.dynamodb.get_item(
                TableName=self.settings.table_name,
                Key={TABLE_PARTITION_KEY: {"S": image_key}},
                ConsistentRead=True,
            )
        except (ClientError, BotoCoreError) as exc:
            raise map_aws_error(exc, "dynamodb get_item") from exc
        item = response.get("Item")
        return ImageRecord.from_item(item) if item else None

    def publish(self, event: ProcessingEvent, notification: Notification) -> None:
        """Put the EventBridge event and publish the SNS notification."""
        try:
            response = self.events.put_events(
                Entries=[event.to_put_events_entry(self.settings.event_bus_name)]
            )
            if response.get("FailedEntryCount"):
                raise map_aws_error(
                    ClientError(
                        {"Error": {"Code": "PutEventsFailed", "Message": str(response)}},
                        "PutEvents",
                    ),
                    "eventbridge put_events",
                )
            self.sns.publish(**notification.to_publish_request(self.settings.topic_arn))
        except (ClientError, BotoCoreError) as exc:
            raise map_aws_error(exc, "publish") from exc


def _version(version_id: str | None) -> dict[str, str]:
    """`VersionId` when the execution names one (S3 reports "null" for unversioned objects)."""
    return {"VersionId": version_id} if version_id and version_id != "null" else {}
