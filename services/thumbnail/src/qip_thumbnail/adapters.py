"""The AWS calls thumbnail makes: read the upload, write the JPEG, record the stage, announce it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from qip_shared.config import QipSettings
from qip_shared.enums import StageName
from qip_shared.events import Notification, ProcessingEvent
from qip_shared.record import ImageRecord, StageInfo
from qip_shared.requests import stage_update_request
from qip_shared.timeutil import utc_now
from qip_thumbnail.errors import error_code, from_aws_error

# The SDK retries transient errors itself; handlers never sleep.
CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5})
JPEG_CONTENT_TYPE = "image/jpeg"


@dataclass(frozen=True)
class Adapters:
    """boto3 clients and settings; built once per process, or injected by tests."""

    settings: QipSettings
    s3: Any
    dynamodb: Any
    sns: Any
    events: Any

    @classmethod
    def from_env(cls, settings: QipSettings | None = None) -> Adapters:
        """Clients for the current environment (call only once moto/AWS is reachable)."""
        return cls(
            settings=settings or QipSettings.from_env(),
            s3=boto3.client("s3", config=CLIENT_CONFIG),
            dynamodb=boto3.client("dynamodb", config=CLIENT_CONFIG),
            sns=boto3.client("sns", config=CLIENT_CONFIG),
            events=boto3.client("events", config=CLIENT_CONFIG),
        )

    def get_object(self, bucket: str, key: str) -> bytes:
        """The whole object (validate has already capped its size)."""
        try:
            response = self.s3.get_object(Bucket=bucket, Key=key)
            body: bytes = response["Body"].read()
        except (ClientError, BotoCoreError) as err:
            raise from_aws_error(err, f"s3 get_object {bucket}") from err
        return body

    def put_jpeg(self, bucket: str, key: str, data: bytes) -> None:
        """Write (or overwrite: the key is deterministic) a JPEG object."""
        try:
            self.s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType=JPEG_CONTENT_TYPE)
        except (ClientError, BotoCoreError) as err:
            raise from_aws_error(err, f"s3 put_object {bucket}") from err

    def record_stage(
        self,
        image_key: str,
        stage: StageName,
        info: StageInfo,
        *,
        extra: Mapping[str, Any] | None = None,
    ) -> bool:
        """Record the stage's status; False when the transition guard refused it."""
        request = stage_update_request(
            self.settings.table_name, image_key, stage, info, updated_at=utc_now(), extra=extra
        )
        try:
            self.dynamodb.update_item(**request)
        except ClientError as err:
            if error_code(err) == "ConditionalCheckFailedException":
                return False
            raise from_aws_error(err, "dynamodb update_item") from err
        except BotoCoreError as err:
            raise from_aws_error(err, "dynamodb update_item") from err
        return True

    def get_record(self, image_key: str) -> ImageRecord | None:
        """The image's record (strongly consistent), or None when there is none."""
        try:
            response = self.dynamodb.get_item(
                TableName=self.settings.table_name,
                Key={"imageKey": {"S": image_key}},
                ConsistentRead=True,
            )
        except (ClientError, BotoCoreError) as err:
            raise from_aws_error(err, "dynamodb get_item") from err
        item = response.get("Item")
        return ImageRecord.from_item(item) if item else None

    def put_event(self, event: ProcessingEvent) -> None:
        """Publish a ProcessingEvent on the configured bus."""
        try:
            response = self.events.put_events(
                Entries=[event.to_put_events_entry(self.settings.event_bus_name)]
            )
        except (ClientError, BotoCoreError) as err:
            raise from_aws_error(err, "events put_events") from err
        if response.get("FailedEntryCount", 0):
            entry = response["Entries"][0]
            raise from_aws_error(
                ClientError(
                    {
                        "Error": {
                            "Code": entry.get("ErrorCode", ""),
                            "Message": entry.get("ErrorMessage", ""),
                        }
                    },
                    "PutEvents",
                ),
                "events put_events",
            )

    def publish(self, notification: Notification) -> None:
        """Publish a notification on the configured topic."""
        try:
            self.sns.publish(**notification.to_publish_request(self.settings.topic_arn))
        except (ClientError, BotoCoreError) as err:
            raise from_aws_error(err, "sns publish") from err
