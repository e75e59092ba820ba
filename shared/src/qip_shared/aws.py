"""The AWS side every stage shares: error classification, the client factory, base adapters.

Needs the `lambda` extra (boto3). Step Functions matches the exception class *name*, so AWS
failures become the shared `RetryableError` / `PermanentError` themselves, never subclasses.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Self, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectionError,
    ConnectTimeoutError,
    ReadTimeoutError,
)

from qip_shared.config import QipSettings
from qip_shared.errors import PermanentError, QipError, RetryableError
from qip_shared.events import Notification, ProcessingEvent
from qip_shared.record import TABLE_PARTITION_KEY, ImageRecord

# The SDK retries transient errors itself; handlers never sleep (architecture.md, "Handlers").
CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5})
CONDITIONAL_CHECK_FAILED = "ConditionalCheckFailedException"
# The environment names of an explicit S3 endpoint (the local runtime sets them).
S3_ENDPOINT_OVERRIDES = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")

# Error codes that go away by trying again: throttling, capacity and server-side faults.
RETRYABLE_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "TransactionConflictException",
        "SlowDown",
        "ServiceUnavailable",
        "InternalError",
        "InternalServerError",
        "InternalFailure",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
# Transport failures that outlived the SDK's own retries: another attempt may get through.
TRANSIENT_TRANSPORT_ERRORS = (
    ConnectionError,
    ConnectTimeoutError,
    ReadTimeoutError,
    ConnectionClosedError,
)

AdaptersT = TypeVar("AdaptersT", bound="StageAdapters")


class StaleWriteError(Exception):
    """A conditional record write was refused: the record moved on. Handled, never raised out."""

    def __init__(self, action: str) -> None:
        super().__init__(f"{action}: the record is not in a state that allows this write")
        self.action = action


def error_code(err: ClientError) -> str:
    """The AWS error code of a `ClientError` ("" when absent)."""
    return str(err.response.get("Error", {}).get("Code", ""))


def is_retryable(err: ClientError) -> bool:
    """Whether a `ClientError` is transient (throttling, capacity, 5xx)."""
    status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return error_code(err) in RETRYABLE_CODES or (isinstance(status, int) and status >= 500)


def is_conditional_check_failed(err: BaseException) -> bool:
    """True for DynamoDB's refusal of a conditional write."""
    return isinstance(err, ClientError) and error_code(err) == CONDITIONAL_CHECK_FAILED


def from_aws_error(err: Exception, action: str) -> QipError:
    """The shared error (`RetryableError` or `PermanentError`) for a failed AWS call of `action`."""
    if isinstance(err, ClientError):
        code = error_code(err) or "ClientError"
        message = f"{action} failed: {code}: {err}"
        if is_retryable(err):
            return RetryableError(message, code=code)
        return PermanentError(message, code=code)
    if isinstance(err, TRANSIENT_TRANSPORT_ERRORS):
        return RetryableError(f"{action} failed: {type(err).__name__}: {err}", code="CONNECTION")
    return PermanentError(f"{action} failed: {type(err).__name__}: {err}", code=type(err).__name__)


def client(service: str, session: boto3.Session | None = None) -> Any:
    """A boto3 client with the standard retry config (from `session`, default boto3's)."""
    factory: Any = session or boto3
    return factory.client(service, config=CLIENT_CONFIG)


def presigning_s3_client(config: Config) -> Any:
    """An S3 client whose presigned URLs name the bucket's region (or the explicit endpoint)."""
    # botocore otherwise signs for the global endpoint, which answers new buckets outside
    # us-east-1 with a redirect a browser cannot follow; the local runtime's endpoint wins.
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    if any(os.environ.get(name) for name in S3_ENDPOINT_OVERRIDES):
        return boto3.client("s3", region_name=region, config=config)
    endpoint = f"https://s3.{region}.amazonaws.com"
    return boto3.client("s3", region_name=region, endpoint_url=endpoint, config=config)


def version_args(version_id: str | None) -> dict[str, str]:
    """`VersionId` when one is named (S3 reports "null" for unversioned objects)."""
    return {"VersionId": version_id} if version_id and version_id != "null" else {}


@dataclass
class StageAdapters:
    """Settings and the clients every stage uses, with the calls they all make; injectable."""

    settings: QipSettings
    s3: Any
    dynamodb: Any
    events: Any
    sns: Any

    @classmethod
    def from_env(cls: type[AdaptersT], settings: QipSettings | None = None) -> AdaptersT:
        """Clients for the current environment (call only once moto/AWS is reachable)."""
        return cls.from_settings(settings or QipSettings.from_env())

    @classmethod
    def from_settings(
        cls: type[AdaptersT], settings: QipSettings, session: boto3.Session | None = None
    ) -> AdaptersT:
        """Create the clients for some settings (from `session`, default boto3's)."""
        return cls(
            settings=settings,
            s3=client("s3", session),
            dynamodb=client("dynamodb", session),
            events=client("events", session),
            sns=client("sns", session),
        )

    # --- S3 ---------------------------------------------------------------------------------

    def head_object(self, bucket: str, key: str, version_id: str | None = None) -> dict[str, Any]:
        """The object's `head_object` answer (nothing is downloaded)."""
        try:
            response: dict[str, Any] = self.s3.head_object(
                Bucket=bucket, Key=key, **version_args(version_id)
            )
        except (ClientError, BotoCoreError) as err:
            raise from_aws_error(err, "s3 head_object") from err
        return response

    def get_object(self, bucket: str, key: str, version_id: str | None = None) -> bytes:
        """The whole object (validate has already capped its size)."""
        try:
            response = self.s3.get_object(Bucket=bucket, Key=key, **version_args(version_id))
            body: bytes = response["Body"].read()
        except (ClientError, BotoCoreError) as err:
            raise from_aws_error(err, "s3 get_object") from err
        return body

    def put_object(self, bucket: str, key: str, data: bytes, content_type: str) -> None:
        """Write (or overwrite: output keys are deterministic) an object."""
        try:
            self.s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)
        except (ClientError, BotoCoreError) as err:
            raise from_aws_error(err, "s3 put_object") from err

    # --- DynamoDB ---------------------------------------------------------------------------

    def update_record(self, request: dict[str, Any]) -> ImageRecord:
        """Run a conditional `update_item`; `StaleWriteError` when its condition fails."""
        try:
            response = self.dynamodb.update_item(**request)
        except ClientError as err:
            if is_conditional_check_failed(err):
                raise StaleWriteError("record update") from err
            raise from_aws_error(err, "dynamodb update_item") from err
        except BotoCoreError as err:
            raise from_aws_error(err, "dynamodb update_item") from err
        return ImageRecord.from_item(response["Attributes"])

    def get_record(self, image_key: str) -> ImageRecord | None:
        """The image's record (strongly consistent read), or None when there is none."""
        try:
            response = self.dynamodb.get_item(
                TableName=self.settings.table_name,
                Key={TABLE_PARTITION_KEY: {"S": image_key}},
                ConsistentRead=True,
            )
        except (ClientError, BotoCoreError) as err:
            raise from_aws_error(err, "dynamodb get_item") from err
        item = response.get("Item")
        return ImageRecord.from_item(item) if item else None

    # --- EventBridge and SNS ----------------------------------------------------------------

    def put_event(self, event: ProcessingEvent) -> None:
        """Put a ProcessingEvent on the configured bus (a refused entry is an error too)."""
        try:
            response = self.events.put_events(
                Entries=[event.to_put_events_entry(self.settings.event_bus_name)]
            )
            if response.get("FailedEntryCount"):
                entry = response.get("Entries", [{}])[0]
                raise ClientError(
                    {
                        "Error": {
                            "Code": entry.get("ErrorCode") or "PutEventsFailed",
                            "Message": entry.get("ErrorMessage") or str(response),
                        }
                    },
                    "PutEvents",
                )
        except (ClientError, BotoCoreError) as err:
            raise from_aws_error(err, "events put_events") from err

    def publish_notification(self, notification: Notification) -> None:
        """Publish a notification on the configured topic (none configured: nothing to do)."""
        if not self.settings.topic_arn:
            return
        try:
            self.sns.publish(**notification.to_publish_request(self.settings.topic_arn))
        except (ClientError, BotoCoreError) as err:
            raise from_aws_error(err, "sns publish") from err

    def publish(self, event: ProcessingEvent, notification: Notification) -> None:
        """Put the EventBridge event, then publish the SNS notification."""
        self.put_event(event)
        self.publish_notification(notification)


def utc_clock() -> datetime:
    """The current time in UTC (tests inject their own clock)."""
    return datetime.now(UTC)


@dataclass
class ExecutionAdapters(StageAdapters):
    """The shared stage calls plus Step Functions and a clock (trigger and sweeper)."""

    stepfunctions: Any = None
    clock: Callable[[], datetime] = field(default=utc_clock)

    @classmethod
    def from_settings(cls, settings: QipSettings, session: boto3.Session | None = None) -> Self:
        """The shared clients plus Step Functions (from `session`, default boto3's)."""
        adapters = super().from_settings(settings, session)
        adapters.stepfunctions = client("stepfunctions", session)
        return adapters
