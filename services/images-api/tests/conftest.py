"""Fixtures of the images-api suites: moto's DynamoDB (both GSIs) and S3, API Gateway events."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from qip_images_api import handler as images_handler
from qip_images_api.adapters import S3_CONFIG, Adapters, OutputSigner
from qip_images_api.query import ImageQuery
from qip_shared.config import QipSettings
from qip_shared.enums import ImageStatus, StageStatus
from qip_shared.keys import resized_key, thumbnail_key
from qip_shared.record import (
    OWNER_INDEX_NAME,
    OWNER_INDEX_PARTITION_KEY,
    STATUS_INDEX_NAME,
    STATUS_INDEX_PARTITION_KEY,
    STATUS_INDEX_SORT_KEY,
    TABLE_PARTITION_KEY,
    ImageRecord,
    StageInfo,
    Stages,
)
from qip_shared.testing.api import rest_event
from qip_shared.timeutil import format_timestamp

for _name, _value in {
    "POWERTOOLS_METRICS_NAMESPACE": "QIP",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_DEV": "false",
    "AWS_DEFAULT_REGION": "us-east-1",
}.items():
    os.environ.setdefault(_name, _value)

EVENTS_DIR = Path(__file__).resolve().parents[1] / "events"
TABLE = "qip-images"
BUCKET = "qip-uploads"
ALICE = "7d8a2c5e-1111-4a4b-9c9d-0123456789ab"
BOB = "0c1d2e3f-2222-4b5c-8d9e-abcdefabcdef"
BASE = datetime(2026, 11, 26, 6, 0, 0, tzinfo=UTC)
EXPIRES = 120


def create_table(dynamodb: Any) -> None:
    """The image table with the status and owner GSIs, as the stack and local runtime make it."""
    dynamodb.create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": name, "AttributeType": "S"}
            for name in (
                TABLE_PARTITION_KEY,
                STATUS_INDEX_PARTITION_KEY,
                STATUS_INDEX_SORT_KEY,
                OWNER_INDEX_PARTITION_KEY,
            )
        ],
        KeySchema=[{"AttributeName": TABLE_PARTITION_KEY, "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": index,
                "KeySchema": [
                    {"AttributeName": partition, "KeyType": "HASH"},
                    {"AttributeName": STATUS_INDEX_SORT_KEY, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
            for index, partition in (
                (STATUS_INDEX_NAME, STATUS_INDEX_PARTITION_KEY),
                (OWNER_INDEX_NAME, OWNER_INDEX_PARTITION_KEY),
            )
        ],
    )


class Account:
    """moto's table and bucket, and helpers to fill them."""

    def __init__(self) -> None:
        session = boto3.Session(region_name="us-east-1")
        self.dynamodb = session.client("dynamodb")
        self.s3 = session.client("s3", config=S3_CONFIG)
        create_table(self.dynamodb)
        self.s3.create_bucket(Bucket=BUCKET)
        self.count = 0

    def image(
        self,
        owner: str | None,
        status: ImageStatus = ImageStatus.COMPLETED,
        *,
        minutes: int | None = None,
        outputs: bool = True,
    ) -> ImageRecord:
        """Store a record (and, when COMPLETED, its two outputs) and return it."""
        self.count += 1
        key = f"uploads/2026/11/26/00000000-0000-4000-8000-{self.count:012d}.jpg"
        moment = BASE + timedelta(minutes=self.count if minutes is None else minutes)
        done = status is ImageStatus.COMPLETED and outputs
        stamp = format_timestamp(moment)
        stages = (
            Stages(
                resize=StageInfo(status=StageStatus.COMPLETED, timestamp=stamp),
                thumbnail=StageInfo(status=StageStatus.COMPLETED, timestamp=stamp),
            )
            if done
            else Stages()
        )
        record = ImageRecord(
            image_key=key,
            upload_timestamp=stamp,
            size=100,
            content_type="image/jpeg",
            status=status,
            stages=stages,
            owner=owner,
            bucket=BUCKET,
            execution_arn="arn:aws:states:us-east-1:123456789012:execution:qip-pipeline:x",
            claimed_at=stamp,
            resized_key=resized_key(key) if done else None,
            thumbnail_key=thumbnail_key(key) if done else None,
        )
        self.dynamodb.put_item(TableName=TABLE, Item=record.to_item())
        if done:
            for name, output in (("resized", resized_key(key)), ("thumbnail", thumbnail_key(key))):
                self.s3.put_object(Bucket=BUCKET, Key=output, Body=f"{name}:{key}".encode())
        return record


@pytest.fixture
def account() -> Iterator[Account]:
    """A fresh moto account whose adapters the handler uses."""
    with mock_aws():
        made = Account()
        images_handler.set_dependencies(
            Adapters(
                settings=QipSettings(table_name=TABLE, upload_bucket=BUCKET),
                images=ImageQuery(made.dynamodb, TABLE),
                signer=OutputSigner(made.s3, BUCKET, expires_in=EXPIRES),
            )
        )
        try:
            yield made
        finally:
            images_handler.set_dependencies(None)


@pytest.fixture
def load_event() -> Callable[[str], dict[str, Any]]:
    """A fresh copy of a sample event from `events/`."""

    def load(name: str) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads((EVENTS_DIR / name).read_text())
        return copy.deepcopy(loaded)

    return load


def api_event(
    path: str,
    *,
    sub: str | None = ALICE,
    query: dict[str, str] | None = None,
    origin: str | None = None,
) -> dict[str, Any]:
    """A REST proxy event for GET `path` by the Cognito user `sub` (None: no claims)."""
    one = path.startswith("/images/")
    return rest_event(
        path,
        resource="/images/{id+}" if one else "/images",
        path_parameters={"id": path.removeprefix("/images/")} if one else None,
        sub=sub,
        query=query,
        origin=origin,
    )


def call(event: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
    """Invoke the handler; (status, JSON body, headers)."""
    answer = images_handler.handler(event, None)
    headers = dict(answer.get("headers") or {})
    headers.update({k: v[-1] for k, v in (answer.get("multiValueHeaders") or {}).items()})
    return answer["statusCode"], json.loads(answer["body"]), headers


@pytest.fixture
def get() -> Callable[..., tuple[int, dict[str, Any], dict[str, str]]]:
    """`get(path, sub=..., query=..., origin=...)`: call the API as API Gateway would."""

    def request(
        path: str,
        *,
        sub: str | None = ALICE,
        query: dict[str, str] | None = None,
        origin: str | None = None,
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        return call(api_event(path, sub=sub, query=query, origin=origin))

    return request
