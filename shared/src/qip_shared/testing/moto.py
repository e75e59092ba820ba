"""An embedded AWS account (moto) for the stage services' tests, loaded as a pytest plugin.

A service's `tests/conftest.py` loads it and names its handler module:

    pytest_plugins = ["qip_shared.testing.moto"]

    @pytest.fixture(scope="session")
    def stage_handler() -> ModuleType:
        return resize_handler

Fixtures: `aws` (a fresh account per test, the handler's adapters injected), `account` (one
account per module, taps drained and adapters injected per test), `upload` (an object and its
PROCESSING record, from the service's `sample_state`), `invoke` (call the handler as the
runtime would), `lambda_logs` (the JSON lines the handler logged). A conftest may
override `moto_options` (session scope) to name an event bus or an archive bucket.
"""

from __future__ import annotations

import functools
import io
import json
import os
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from qip_shared import config
from qip_shared.config import QipSettings
from qip_shared.enums import ImageStatus
from qip_shared.record import TABLE_PARTITION_KEY, ImageRecord, table_create_request
from qip_shared.timeutil import utc_now

# Powertools reads these when the handler's logger and metrics are built.
for _name, _value in {
    config.ENV_METRICS_NAMESPACE: config.METRICS_NAMESPACE,
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_DEV": "false",
}.items():
    os.environ.setdefault(_name, _value)

REGION = "us-east-1"
UPLOAD_BUCKET = "qip-uploads"
TABLE = "qip-images"
EVENT_SOURCE_PATTERN = json.dumps({"source": ["image-processor"]})


def create_table(dynamodb: Any, table_name: str = TABLE) -> None:
    """The image table as the platform defines it (key imageKey, every index)."""
    dynamodb.create_table(**table_create_request(table_name))


class MotoAccount:
    """Upload bucket, table, topic and event bus, the topic and bus each tapped by SQS queues.

    Create it inside `mock_aws()`. `event_bus` None uses the default bus; `archive_bucket`
    creates that bucket too; `session` lends its (already loaded) service models to clients.
    """

    def __init__(
        self,
        *,
        event_bus: str | None = None,
        archive_bucket: str | None = None,
        session: boto3.Session | None = None,
    ) -> None:
        factory: Any = session or boto3
        self.session = session
        self.s3 = factory.client("s3", region_name=REGION)
        self.dynamodb = factory.client("dynamodb", region_name=REGION)
        self.sns = factory.client("sns", region_name=REGION)
        self.sqs = factory.client("sqs", region_name=REGION)
        self.events = factory.client("events", region_name=REGION)
        self.bucket = UPLOAD_BUCKET
        self.table = TABLE
        self.event_bus = event_bus
        self.archive_bucket = archive_bucket
        self.s3.create_bucket(Bucket=UPLOAD_BUCKET)
        if archive_bucket:
            self.s3.create_bucket(Bucket=archive_bucket)
        create_table(self.dynamodb)
        self.topic_arn: str = self.sns.create_topic(Name="qip-notifications")["TopicArn"]
        self.notification_queue = self._queue("notifications-tap")
        self.sns.subscribe(
            TopicArn=self.topic_arn,
            Protocol="sqs",
            Endpoint=self._queue_arn(self.notification_queue),
            Attributes={"RawMessageDelivery": "true"},
        )
        bus = {"EventBusName": event_bus} if event_bus else {}
        if event_bus:
            self.events.create_event_bus(Name=event_bus)
        self.event_queue = self._queue("events-tap")
        self.events.put_rule(Name="qip-events-tap", EventPattern=EVENT_SOURCE_PATTERN, **bus)
        self.events.put_targets(
            Rule="qip-events-tap",
            Targets=[{"Id": "tap", "Arn": self._queue_arn(self.event_queue)}],
            **bus,
        )
        self.adapters: Any = None
        """The service's adapters for this account, once a fixture has built them."""

    def _queue(self, name: str) -> str:
        return str(self.sqs.create_queue(QueueName=name)["QueueUrl"])

    def _queue_arn(self, url: str) -> str:
        attributes = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return str(attributes["Attributes"]["QueueArn"])

    def settings(self, **overrides: Any) -> QipSettings:
        """Settings pointing at this account's resources (with `overrides`)."""
        values: dict[str, Any] = {
            "table_name": TABLE,
            "upload_bucket": UPLOAD_BUCKET,
            "topic_arn": self.topic_arn,
        }
        if self.event_bus:
            values["event_bus_name"] = self.event_bus
        if self.archive_bucket:
            values["archive_bucket"] = self.archive_bucket
        values.update(overrides)
        return QipSettings(**values)

    # --- S3 ---------------------------------------------------------------------------------

    def put_upload(self, key: str, body: bytes) -> None:
        """Upload an object to the upload bucket."""
        self.s3.put_object(Bucket=UPLOAD_BUCKET, Key=key, Body=body)

    put_object = put_upload

    def get_object(self, key: str) -> dict[str, Any]:
        """An object of the upload bucket, with its body read into `data`."""
        response: dict[str, Any] = self.s3.get_object(Bucket=UPLOAD_BUCKET, Key=key)
        response["data"] = response["Body"].read()
        return response

    # --- DynamoDB ---------------------------------------------------------------------------

    def put_item(self, record: ImageRecord) -> ImageRecord:
        """Write a record as it is."""
        self.dynamodb.put_item(TableName=TABLE, Item=record.to_item())
        return record

    def seed_record(self, key: str, status: ImageStatus = ImageStatus.PROCESSING) -> None:
        """A record as the trigger leaves it (claimed for processing by default)."""
        self.put_item(
            ImageRecord(
                image_key=key,
                upload_timestamp=utc_now(),
                size=1,
                content_type="image/jpeg",
                status=status,
                bucket=UPLOAD_BUCKET,
            )
        )

    def put_record(self, state: dict[str, Any], status: ImageStatus) -> ImageRecord:
        """Write the record the trigger would have written for a stage input `state`."""
        return self.put_item(
            ImageRecord(
                image_key=state["imageKey"],
                upload_timestamp=state["uploadTimestamp"],
                size=state["size"],
                content_type=state["contentType"],
                status=status,
                bucket=state["bucket"],
            )
        )

    def raw_item(self, image_key: str) -> dict[str, Any] | None:
        """The record's raw item (to compare before/after a re-run), None when absent."""
        item: dict[str, Any] | None = self.dynamodb.get_item(
            TableName=TABLE, Key={TABLE_PARTITION_KEY: {"S": image_key}}, ConsistentRead=True
        ).get("Item")
        return item

    def record(self, image_key: str) -> ImageRecord | None:
        """The record as stored now, None when absent."""
        item = self.raw_item(image_key)
        return ImageRecord.from_item(item) if item else None

    # --- the taps ---------------------------------------------------------------------------

    def drain(self, queue_url: str) -> list[dict[str, Any]]:
        """Every message body (parsed JSON) waiting in a tap queue, deleting them."""
        bodies: list[dict[str, Any]] = []
        while True:
            response = self.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
            messages = response.get("Messages", [])
            if not messages:
                return bodies
            for message in messages:
                bodies.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])

    def notifications(self) -> list[dict[str, Any]]:
        """The SNS messages published since the last call."""
        return self.drain(self.notification_queue)

    def bus_events(self) -> list[dict[str, Any]]:
        """The EventBridge events (full envelopes) put since the last call."""
        return self.drain(self.event_queue)


def stage_adapters(handler_module: ModuleType, account: MotoAccount, **overrides: Any) -> Any:
    """The service's adapters (its handler module's `Adapters`) for `account`'s resources."""
    return handler_module.Adapters.from_settings(account.settings(**overrides), account.session)


def read_json_lines(text: str) -> list[dict[str, Any]]:
    """The JSON objects among some log lines (other lines are skipped)."""
    parsed: list[dict[str, Any]] = []
    for line in text.splitlines():
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            parsed.append(value)
    return parsed


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def moto_options() -> dict[str, Any]:
    """Options of the `MotoAccount` the fixtures create (override in a conftest)."""
    return {}


@pytest.fixture(scope="session")
def account_class(moto_options: dict[str, Any]) -> Callable[[], MotoAccount]:
    """Builds a moto account like `aws`'s (for module-scoped accounts; inside `mock_aws`)."""
    return functools.partial(MotoAccount, **moto_options)


@pytest.fixture
def aws(stage_handler: ModuleType, moto_options: dict[str, Any]) -> Iterator[MotoAccount]:
    """A fresh moto account for one test; the stage's dependencies point at it."""
    with mock_aws():
        created = MotoAccount(**moto_options)
        created.adapters = stage_adapters(stage_handler, created)
        stage_handler.set_dependencies(created.adapters)
        try:
            yield created
        finally:
            stage_handler.dependencies.cache_clear()


@pytest.fixture(scope="module")
def module_account(moto_options: dict[str, Any]) -> Iterator[MotoAccount]:
    """One moto account per test module (clients are slow to build; keys are unique per test)."""
    with mock_aws():
        yield MotoAccount(**moto_options)


@pytest.fixture
def account(module_account: MotoAccount, stage_handler: ModuleType) -> Iterator[MotoAccount]:
    """The module's moto account with empty tap queues, the stage's adapters injected."""
    if module_account.adapters is None:
        module_account.adapters = stage_adapters(stage_handler, module_account)
    module_account.notifications()
    module_account.bus_events()
    stage_handler.set_dependencies(module_account.adapters)
    try:
        yield module_account
    finally:
        stage_handler.dependencies.cache_clear()


@pytest.fixture
def use_settings(aws: MotoAccount, stage_handler: ModuleType) -> Callable[..., Any]:
    """Re-inject the stage's adapters with some settings overridden (e.g. max_bytes)."""

    def use(**overrides: Any) -> Any:
        adapters = stage_adapters(stage_handler, aws, **overrides)
        stage_handler.set_dependencies(adapters)
        return adapters

    return use


@pytest.fixture
def upload(aws: MotoAccount, sample_state: dict[str, Any]) -> Callable[..., dict[str, Any]]:
    """Put `body` under a key with a record (PROCESSING); return the stage's input event.

    Needs the service's `sample_state` fixture (its sample stage input).
    """

    def put(
        body: bytes,
        *,
        key: str | None = None,
        status: ImageStatus = ImageStatus.PROCESSING,
        content_type: str = "image/jpeg",
    ) -> dict[str, Any]:
        state = {
            **sample_state,
            "imageKey": key or sample_state["imageKey"],
            "size": len(body),
            "contentType": content_type,
        }
        aws.put_object(state["imageKey"], body)
        aws.put_record(state, status)
        return state

    return put


@pytest.fixture
def invoke(stage_handler: ModuleType) -> Callable[..., dict[str, Any]]:
    """Call the Lambda handler as the runtime would (JSON-able event, optional context)."""

    def call(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        result: dict[str, Any] = stage_handler.handler(json.loads(json.dumps(event)), context)
        return result

    return call


def processing_durations(lines: list[dict[str, Any]]) -> list[tuple[str, float, list[str]]]:
    """(status, ms, dimension names) of each `ImageProcessingDuration` EMF document printed."""
    found = []
    for line in lines:
        for directive in line.get("_aws", {}).get("CloudWatchMetrics", []):
            names = {metric["Name"] for metric in directive["Metrics"]}
            if "ImageProcessingDuration" in names:
                [dimensions] = directive["Dimensions"]
                [value] = line["ImageProcessingDuration"]
                found.append((line["status"], value, sorted(dimensions)))
    return found


@pytest.fixture
def lambda_logs(
    stage_handler: ModuleType, capsys: pytest.CaptureFixture[str]
) -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The JSON lines the handler printed so far: its logs and its EMF metrics."""
    # The logger's stream was bound at import time, so point it at a buffer of our own.
    log_handler = stage_handler.logger.registered_handler
    buffer = io.StringIO()
    previous = log_handler.setStream(buffer)

    def read() -> list[dict[str, Any]]:
        lines = buffer.getvalue() + "\n" + capsys.readouterr().out
        buffer.seek(0)
        buffer.truncate()
        return read_json_lines(lines)

    try:
        yield read
    finally:
        log_handler.setStream(previous)
