"""Fixtures for trigger's tests: sample events, and a moto account wired like the platform's
(upload bucket → EventBridge rule → processing queue with a DLQ after 3 receives)."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from qip_shared.config import QipSettings
from qip_shared.record import ImageRecord
from qip_trigger import handler as trigger_handler
from qip_trigger.adapters import Adapters, TriggerSettings

os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "QIP")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_DEV", "false")

EVENTS_DIR = Path(__file__).resolve().parents[1] / "events"
UPLOAD_BUCKET = "qip-uploads"
TABLE = "qip-images"
REGION = "us-east-1"
# One session for every test: its loaded service models make each new client ~10x cheaper.
SESSION = boto3.Session(region_name=REGION)
MAX_RECEIVES = 3

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(64)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)


@pytest.fixture
def load_event() -> Callable[[str], dict[str, Any]]:
    """Read a sample event from `events/`."""

    def load(name: str) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads((EVENTS_DIR / name).read_text())
        return loaded

    return load


def object_created(
    key: str,
    *,
    size: int,
    etag: str = "9b2cf535f27731c974343645a3985328",
    version_id: str = "null",
    bucket: str = UPLOAD_BUCKET,
    time: Any = "2026-11-26T06:40:00Z",
) -> dict[str, Any]:
    """An EventBridge S3 `Object Created` event (AWS's shape)."""
    return {
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "123456789012",
        "time": time,
        "region": REGION,
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {"key": key, "size": size, "etag": etag, "version-id": version_id},
            "reason": "PutObject",
        },
    }


def sqs_record(body: str, *, receive_count: int = 1, message_id: str = "m-1") -> dict[str, Any]:
    """A Lambda SQS event record carrying `body`."""
    return {
        "messageId": message_id,
        "receiptHandle": f"rh-{message_id}",
        "body": body,
        "attributes": {"ApproximateReceiveCount": str(receive_count), "SentTimestamp": "0"},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:123456789012:qip-processing",
        "awsRegion": REGION,
    }


def sqs_event(*bodies: str, receive_count: int = 1) -> dict[str, Any]:
    """A Lambda SQS event with one record per body."""
    return {
        "Records": [
            sqs_record(b, receive_count=receive_count, message_id=f"m-{i}")
            for i, b in enumerate(bodies)
        ]
    }


@pytest.fixture
def make_sqs_event() -> Callable[..., dict[str, Any]]:
    """Build a Lambda SQS event from message bodies."""
    return sqs_event


@pytest.fixture
def make_object_created() -> Callable[..., dict[str, Any]]:
    """Build an EventBridge S3 Object Created event."""
    return object_created


class SerializedDynamoDB:
    """moto does not serialise concurrent conditional writes (DynamoDB does, per item):
    this proxy restores that guarantee for the concurrency tests."""

    def __init__(self, client: Any, lock: threading.Lock) -> None:
        self._client = client
        self._lock = lock

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return method(*args, **kwargs)

        return call


class Account:
    """A moto account with the resources trigger touches, plus observation helpers."""

    def __init__(self) -> None:
        self.s3 = SESSION.client("s3")
        self.dynamodb = SESSION.client("dynamodb")
        self.sqs = SESSION.client("sqs")
        self.sns = SESSION.client("sns")
        self.events = SESSION.client("events")
        self.sfn = SESSION.client("stepfunctions")

        self.s3.create_bucket(Bucket=UPLOAD_BUCKET)
        self.s3.put_bucket_notification_configuration(
            Bucket=UPLOAD_BUCKET,
            NotificationConfiguration={"EventBridgeConfiguration": {}},
        )
        self._create_table()

        self.dlq_url = self.sqs.create_queue(QueueName="qip-processing-dlq")["QueueUrl"]
        dlq_arn = self._queue_arn(self.dlq_url)
        self.queue_url = self.sqs.create_queue(
            QueueName="qip-processing",
            Attributes={
                "VisibilityTimeout": "300",
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVES)}
                ),
            },
        )["QueueUrl"]
        self.events.put_rule(
            Name="qip-upload-created",
            EventPattern=json.dumps(
                {
                    "source": ["aws.s3"],
                    "detail-type": ["Object Created"],
                    "detail": {
                        "bucket": {"name": [UPLOAD_BUCKET]},
                        "object": {"key": [{"prefix": "uploads/"}]},
                    },
                }
            ),
        )
        self.events.put_targets(
            Rule="qip-upload-created",
            Targets=[{"Id": "queue", "Arn": self._queue_arn(self.queue_url)}],
        )

        self.topic_arn = self.sns.create_topic(Name="qip-notifications")["TopicArn"]
        self.tap_url = self.sqs.create_queue(QueueName="notifications-tap")["QueueUrl"]
        self.sns.subscribe(
            TopicArn=self.topic_arn,
            Protocol="sqs",
            Endpoint=self._queue_arn(self.tap_url),
            Attributes={"RawMessageDelivery": "true"},
        )

        # moto does not check the role; a name-shaped ARN keeps IAM out of the test account.
        role = "arn:aws:iam::123456789012:role/qip-pipeline"
        self.state_machine_arn = self.sfn.create_state_machine(
            name="qip-pipeline",
            type="EXPRESS",
            roleArn=role,
            definition=json.dumps(
                {"StartAt": "Noop", "States": {"Noop": {"Type": "Pass", "End": True}}}
            ),
        )["stateMachineArn"]

    def _queue_arn(self, url: str) -> str:
        attributes = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return str(attributes["Attributes"]["QueueArn"])

    def _create_table(self) -> None:
        self.dynamodb.create_table(
            TableName=TABLE,
            BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "imageKey", "KeyType": "HASH"}],
            AttributeDefinitions=[
                {"AttributeName": "imageKey", "AttributeType": "S"},
                {"AttributeName": "status", "AttributeType": "S"},
                {"AttributeName": "uploadTimestamp", "AttributeType": "S"},
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "status-uploadTimestamp-index",
                    "KeySchema": [
                        {"AttributeName": "status", "KeyType": "HASH"},
                        {"AttributeName": "uploadTimestamp", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
        )

    def settings(self, **overrides: Any) -> QipSettings:
        """Settings pointing at this account's resources."""
        values: dict[str, Any] = {
            "table_name": TABLE,
            "upload_bucket": UPLOAD_BUCKET,
            "topic_arn": self.topic_arn,
            "state_machine_arn": self.state_machine_arn,
        }
        values.update(overrides)
        return QipSettings(**values)

    def record(self, image_key: str) -> ImageRecord | None:
        """The record of a key, if any."""
        item = self.dynamodb.get_item(
            TableName=TABLE, Key={"imageKey": {"S": image_key}}, ConsistentRead=True
        ).get("Item")
        return ImageRecord.from_item(item) if item else None

    def executions(self) -> list[dict[str, Any]]:
        """Executions of the pipeline."""
        listed: list[dict[str, Any]] = self.sfn.list_executions(
            stateMachineArn=self.state_machine_arn
        )["executions"]
        return listed

    def notifications(self) -> list[dict[str, Any]]:
        """SNS messages published so far (drained from the subscribed queue)."""
        out: list[dict[str, Any]] = []
        while True:
            got = self.sqs.receive_message(QueueUrl=self.tap_url, MaxNumberOfMessages=10)
            messages = got.get("Messages", [])
            if not messages:
                return out
            for m in messages:
                out.append(json.loads(m["Body"]))
                self.sqs.delete_message(QueueUrl=self.tap_url, ReceiptHandle=m["ReceiptHandle"])

    def receive(self, url: str | None = None, max_messages: int = 10) -> list[dict[str, Any]]:
        """Receive from the processing queue (or `url`) with every attribute."""
        got = self.sqs.receive_message(
            QueueUrl=url or self.queue_url,
            MaxNumberOfMessages=max_messages,
            AttributeNames=["All"],
        )
        messages: list[dict[str, Any]] = got.get("Messages", [])
        return messages

    def upload(self, key: str, body: bytes, content_type: str = "image/jpeg") -> dict[str, Any]:
        """Put an object into the upload bucket (S3 emits its Object Created event)."""
        response: dict[str, Any] = self.s3.put_object(
            Bucket=UPLOAD_BUCKET, Key=key, Body=body, ContentType=content_type
        )
        return response


def lambda_event(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The Lambda SQS event the event-source mapping would build from received messages."""
    records = []
    for m in messages:
        record = sqs_record(
            m["Body"],
            receive_count=int(m["Attributes"]["ApproximateReceiveCount"]),
            message_id=m["MessageId"],
        )
        record["receiptHandle"] = m["ReceiptHandle"]
        records.append(record)
    return {"Records": records}


@pytest.fixture
def to_lambda_event() -> Callable[[list[dict[str, Any]]], dict[str, Any]]:
    """Turn received SQS messages into a Lambda SQS event."""
    return lambda_event


@pytest.fixture
def aws() -> Iterator[Account]:
    """A fresh moto account for one test (state machines are recorded, not run)."""
    with mock_aws(config={"stepfunctions": {"execute_state_machine": False}}):
        yield Account()


class StartCounter:
    """Counts StartExecution API calls: with an Express workflow each call is an execution."""

    def __init__(self) -> None:
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self, **_: Any) -> None:
        with self._lock:
            self.calls += 1


def inject_adapters(
    aws: Account,
    *,
    clock: Callable[[], datetime] | None = None,
    lease_seconds: float = 60,
    serialize_dynamodb: bool = False,
    **overrides: Any,
) -> Adapters:
    """Adapters on moto clients, injected into the handler, counting StartExecution calls."""
    adapters = Adapters.from_settings(
        aws.settings(**overrides),
        session=SESSION,
        trigger=TriggerSettings(
            claim_lease=timedelta(seconds=lease_seconds), max_receive_count=MAX_RECEIVES
        ),
    )
    if clock is not None:
        adapters.clock = clock
    if serialize_dynamodb:
        adapters.dynamodb = SerializedDynamoDB(adapters.dynamodb, threading.Lock())
    counter = StartCounter()
    adapters.stepfunctions.meta.events.register("before-call.sfn.StartExecution", counter)
    adapters.start_counter = counter  # type: ignore[attr-defined]
    trigger_handler.set_dependencies(adapters)
    return adapters


@pytest.fixture
def trigger(aws: Account) -> Iterator[Callable[..., Adapters]]:
    """Inject trigger adapters on this test's account; takes settings overrides."""

    def inject(**kwargs: Any) -> Adapters:
        return inject_adapters(aws, **kwargs)

    yield inject
    trigger_handler.dependencies.cache_clear()


@pytest.fixture
def trigger_on() -> Iterator[Callable[..., Adapters]]:
    """Inject trigger adapters on an account the test made itself (hypothesis tests)."""
    yield inject_adapters
    trigger_handler.dependencies.cache_clear()


@pytest.fixture
def account_factory() -> Callable[[], Account]:
    """Build an Account (call it inside the test's own `mock_aws`)."""
    return Account


def fixed_clock(moment: datetime) -> Callable[[], datetime]:
    """A clock stopped at `moment`."""
    return lambda: moment


@pytest.fixture
def clock_at() -> Callable[[datetime], Callable[[], datetime]]:
    """Make a stopped clock."""
    return fixed_clock


@pytest.fixture
def now() -> datetime:
    """A fixed 'now' for clock-driven tests."""
    return datetime(2026, 11, 26, 6, 40, 5, tzinfo=UTC)
