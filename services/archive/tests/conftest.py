"""Fixtures for archive's tests: sample state, and a moto account with the resources it touches."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from qip_shared.config import QipSettings
from qip_shared.enums import ImageStatus
from qip_shared.keys import resized_key, thumbnail_key
from qip_shared.record import ImageRecord

os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "QIP")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_DEV", "false")

EVENTS_DIR = Path(__file__).resolve().parents[1] / "events"
UPLOAD_BUCKET = "qip-uploads"
ARCHIVE_BUCKET = "qip-archive"
TABLE = "qip-images"
REGION = "us-east-1"
# One session for every test: its loaded service models make each new client ~10x cheaper.
SESSION = boto3.Session(region_name=REGION)


@pytest.fixture
def sample_state() -> dict[str, Any]:
    """The sample event in `events/archive_input.json`."""
    loaded: dict[str, Any] = json.loads((EVENTS_DIR / "archive_input.json").read_text())
    return loaded


def create_table(dynamodb: Any) -> None:
    """The image table as the platform defines it (key imageKey, status GSI)."""
    dynamodb.create_table(
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


class Account:
    """A moto account with buckets, table, topic (with a queue subscribed) and clients."""

    def __init__(self) -> None:
        self.session = SESSION
        self.s3 = SESSION.client("s3")
        self.dynamodb = SESSION.client("dynamodb")
        self.sns = SESSION.client("sns")
        self.sqs = SESSION.client("sqs")
        self.events = SESSION.client("events")
        self.s3.create_bucket(Bucket=UPLOAD_BUCKET)
        self.s3.create_bucket(Bucket=ARCHIVE_BUCKET)
        create_table(self.dynamodb)
        self.topic_arn = self.sns.create_topic(Name="qip-notifications")["TopicArn"]
        self.queue_url = self.sqs.create_queue(QueueName="notifications-tap")["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        self.sns.subscribe(
            TopicArn=self.topic_arn,
            Protocol="sqs",
            Endpoint=queue_arn,
            Attributes={"RawMessageDelivery": "true"},
        )

    def settings(self, **overrides: Any) -> QipSettings:
        """Settings pointing at this account's resources."""
        values: dict[str, Any] = {
            "table_name": TABLE,
            "upload_bucket": UPLOAD_BUCKET,
            "archive_bucket": ARCHIVE_BUCKET,
            "topic_arn": self.topic_arn,
        }
        values.update(overrides)
        return QipSettings(**values)

    def put_record(self, record: ImageRecord) -> None:
        """Write a record as it would be before archive runs."""
        self.dynamodb.put_item(TableName=TABLE, Item=record.to_item())

    def record(self, image_key: str) -> ImageRecord:
        """Read a record back."""
        item = self.dynamodb.get_item(
            TableName=TABLE, Key={"imageKey": {"S": image_key}}, ConsistentRead=True
        )["Item"]
        return ImageRecord.from_item(item)

    def archive_keys(self) -> list[str]:
        """Every key in the archive bucket."""
        listing = self.s3.list_objects_v2(Bucket=ARCHIVE_BUCKET)
        return sorted(o["Key"] for o in listing.get("Contents", []))

    def notifications(self) -> list[dict[str, Any]]:
        """The SNS messages published so far (drained from the subscribed queue)."""
        received = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
        return [json.loads(m["Body"]) for m in received.get("Messages", [])]


@pytest.fixture
def aws() -> Iterator[Account]:
    """A fresh moto account for one test."""
    with mock_aws():
        yield Account()


@pytest.fixture
def staged_image(aws: Account) -> Callable[..., dict[str, Any]]:
    """Put an upload, its outputs and a PROCESSING record in place; return the archive input."""

    def make(
        image_key: str = "uploads/2026/11/26/0b8f2f0e-4a43-4d1c-9a52-6f0e4f7c2d11.jpg",
        *,
        upload_timestamp: str = "2026-11-26T06:40:00.000Z",
        with_resize: bool = True,
        with_thumbnail: bool = True,
        status: ImageStatus = ImageStatus.PROCESSING,
    ) -> dict[str, Any]:
        body = b"\xff\xd8\xff original bytes"
        put = aws.s3.put_object(
            Bucket=UPLOAD_BUCKET, Key=image_key, Body=body, ContentType="image/jpeg"
        )
        state: dict[str, Any] = {
            "imageKey": image_key,
            "bucket": UPLOAD_BUCKET,
            "uploadTimestamp": upload_timestamp,
            "contentType": "image/jpeg",
            "size": len(body),
            "versionId": put.get("VersionId", "null"),
            "etag": put["ETag"].strip('"'),
            "processed": [],
        }
        if with_resize:
            key = resized_key(image_key)
            aws.s3.put_object(Bucket=UPLOAD_BUCKET, Key=key, Body=b"resized")
            state["processed"].append(
                {"imageKey": image_key, "resizedKey": key, "width": 4, "height": 3, "bytes": 7}
            )
        if with_thumbnail:
            key = thumbnail_key(image_key)
            aws.s3.put_object(Bucket=UPLOAD_BUCKET, Key=key, Body=b"thumb")
            state["processed"].append(
                {"imageKey": image_key, "thumbnailKey": key, "width": 2, "height": 2, "bytes": 5}
            )
        aws.put_record(
            ImageRecord(
                image_key=image_key,
                upload_timestamp=upload_timestamp,
                size=len(body),
                content_type="image/jpeg",
                status=status,
                bucket=UPLOAD_BUCKET,
            )
        )
        return state

    return make
