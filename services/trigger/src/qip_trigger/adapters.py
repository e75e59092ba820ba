"""The AWS calls trigger makes: S3 head and ranged get, DynamoDB, Step Functions, events."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from qip_shared.config import QipSettings
from qip_shared.events import Notification, ProcessingEvent
from qip_shared.record import ImageRecord
from qip_trigger.core import DEFAULT_CLAIM_LEASE, SNIFF_BYTES, S3Upload, candidate_keys
from qip_trigger.errors import classify, error_code, is_conditional_check_failed

# The SDK retries transient faults itself (handlers never sleep).
BOTO_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5})

# Trigger-only settings (not in QipSettings): the claim lease, and the queue's maxReceiveCount,
# which tells the handler that a delivery is the last before the DLQ.
ENV_CLAIM_LEASE_SECONDS = "QIP_CLAIM_LEASE_SECONDS"
ENV_MAX_RECEIVE_COUNT = "QIP_MAX_RECEIVE_COUNT"
DEFAULT_MAX_RECEIVE_COUNT = 3

_MISSING = frozenset({"404", "NoSuchKey", "NotFound", "NoSuchVersion"})


class ConditionRefusedError(Exception):
    """A conditional record write was refused: the record is not in the state the write needs."""


@dataclass(frozen=True)
class TriggerSettings:
    """Trigger's own knobs."""

    claim_lease: timedelta = DEFAULT_CLAIM_LEASE
    max_receive_count: int = DEFAULT_MAX_RECEIVE_COUNT

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TriggerSettings:
        """Read `QIP_CLAIM_LEASE_SECONDS` and `QIP_MAX_RECEIVE_COUNT`."""
        env = os.environ if environ is None else environ
        lease = float(env.get(ENV_CLAIM_LEASE_SECONDS, DEFAULT_CLAIM_LEASE.total_seconds()))
        receives = int(env.get(ENV_MAX_RECEIVE_COUNT, DEFAULT_MAX_RECEIVE_COUNT))
        return cls(claim_lease=timedelta(seconds=lease), max_receive_count=max(1, receives))


@dataclass(frozen=True)
class ObjectHead:
    """What S3 says about an uploaded object."""

    bucket: str
    key: str
    content_type: str
    size: int
    etag: str | None
    version_id: str | None
    metadata: Mapping[str, str] = field(default_factory=dict)


def utc_clock() -> datetime:
    """The current time (tests inject their own clock)."""
    return datetime.now(UTC)


@dataclass
class Adapters:
    """Clients and settings trigger needs; tests build one around moto clients."""

    settings: QipSettings
    s3: Any
    dynamodb: Any
    stepfunctions: Any
    events: Any
    sns: Any
    trigger: TriggerSettings = field(default_factory=TriggerSettings)
    clock: Callable[[], datetime] = field(default=utc_clock)

    @classmethod
    def from_env(cls) -> Adapters:
        """Read the settings from the environment and create the clients."""
        return cls.from_settings(QipSettings.from_env(), TriggerSettings.from_env())

    @classmethod
    def from_settings(
        cls,
        settings: QipSettings,
        trigger: TriggerSettings | None = None,
        session: boto3.Session | None = None,
    ) -> Adapters:
        """Create the clients for some settings (from `session`, default boto3's)."""
        factory: Any = session or boto3
        return cls(
            settings=settings,
            s3=factory.client("s3", config=BOTO_CONFIG),
            dynamodb=factory.client("dynamodb", config=BOTO_CONFIG),
            stepfunctions=factory.client("stepfunctions", config=BOTO_CONFIG),
            events=factory.client("events", config=BOTO_CONFIG),
            sns=factory.client("sns", config=BOTO_CONFIG),
            trigger=trigger or TriggerSettings(),
        )

    # S3

    def head(self, upload: S3Upload) -> ObjectHead | None:
        """The object an event names (trying the literal key, then its URL-decoded forms)."""
        for key in candidate_keys(upload.raw_key):
            request: dict[str, Any] = {"Bucket": upload.bucket, "Key": key}
            if upload.real_version:
                request["VersionId"] = upload.real_version
            try:
                response = self.s3.head_object(**request)
            except ClientError as exc:
                if error_code(exc) in _MISSING:
                    continue
                raise classify(exc, "head object") from exc
            except BotoCoreError as exc:
                raise classify(exc, "head object") from exc
            return ObjectHead(
                bucket=upload.bucket,
                key=key,
                content_type=str(response.get("ContentType") or ""),
                size=int(response.get("ContentLength", upload.size)),
                etag=str(response.get("ETag", "")).strip('"') or None,
                # The version the event names (None when unversioned: never pass "null" on).
                version_id=upload.real_version,
                metadata=dict(response.get("Metadata") or {}),
            )
        return None

    def first_bytes(self, bucket: str, key: str, version_id: str | None) -> bytes:
        """The first bytes of an object (`Range: bytes=0-31`), enough to sniff its format."""
        request: dict[str, Any] = {
            "Bucket": bucket,
            "Key": key,
            "Range": f"bytes=0-{SNIFF_BYTES - 1}",
        }
        if version_id:
            request["VersionId"] = version_id
        try:
            body = self.s3.get_object(**request)["Body"]
            try:
                data: bytes = body.read(SNIFF_BYTES)
            finally:
                body.close()
        except ClientError as exc:
            if error_code(exc) == "InvalidRange":
                return b""  # an empty object has no first byte
            raise classify(exc, "ranged get") from exc
        except BotoCoreError as exc:
            raise classify(exc, "ranged get") from exc
        return data[:SNIFF_BYTES]

    # DynamoDB

    def create_record(self, request: dict[str, Any]) -> bool:
        """Create the record if absent; False when it already exists."""
        try:
            self.dynamodb.put_item(**request)
        except ClientError as exc:
            if is_conditional_check_failed(exc):
                return False
            raise classify(exc, "record create") from exc
        except BotoCoreError as exc:
            raise classify(exc, "record create") from exc
        return True

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

    # Step Functions

    def start_execution(self, name: str, payload: str) -> str | None:
        """Start the pipeline; the new ARN, or None when `name` already exists."""
        try:
            response = self.stepfunctions.start_execution(
                stateMachineArn=self.settings.state_machine_arn, name=name, input=payload
            )
        except ClientError as exc:
            if error_code(exc) == "ExecutionAlreadyExists":
                return None
            raise
        return str(response["executionArn"])

    # Events

    def publish(self, event: ProcessingEvent, notification: Notification | None) -> None:
        """Publish an EventBridge event and, if given, an SNS notification."""
        response = self.events.put_events(
            Entries=[event.to_put_events_entry(self.settings.event_bus_name)]
        )
        if response.get("FailedEntryCount"):
            raise PublishRefusedError(str(response.get("Entries")))
        if notification is not None and self.settings.topic_arn:
            self.sns.publish(**notification.to_publish_request(self.settings.topic_arn))


class PublishRefusedError(Exception):
    """EventBridge accepted the call but refused the entry."""
