"""Fixtures for archive's tests: sample state, and a moto account with the resources it touches."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from qip_archive import handler as archive_handler
from qip_shared.enums import ImageStatus
from qip_shared.keys import resized_key, thumbnail_key
from qip_shared.record import ImageRecord
from qip_shared.testing.moto import MotoAccount, stage_adapters

EVENTS_DIR = Path(__file__).resolve().parents[1] / "events"
UPLOAD_BUCKET = "qip-uploads"
ARCHIVE_BUCKET = "qip-archive"
REGION = "us-east-1"
# One session for every test: its loaded service models make each new client ~10x cheaper.
SESSION = boto3.Session(region_name=REGION)


@pytest.fixture
def sample_state() -> dict[str, Any]:
    """The sample event in `events/archive_input.json`."""
    loaded: dict[str, Any] = json.loads((EVENTS_DIR / "archive_input.json").read_text())
    return loaded


class Account(MotoAccount):
    """The shared moto account with the archive bucket, records written as they are."""

    put_record = MotoAccount.put_item

    def __init__(self) -> None:
        super().__init__(archive_bucket=ARCHIVE_BUCKET, session=SESSION)

    def archive_keys(self) -> list[str]:
        """Every key in the archive bucket."""
        listing = self.s3.list_objects_v2(Bucket=ARCHIVE_BUCKET)
        return sorted(o["Key"] for o in listing.get("Contents", []))


@pytest.fixture(scope="session")
def stage_handler() -> ModuleType:
    """The handler module the shared fixtures inject adapters into."""
    return archive_handler


@pytest.fixture
def aws(stage_handler: ModuleType) -> Iterator[Account]:
    """A fresh moto account for one test, archive's adapters injected."""
    with mock_aws():
        created = Account()
        stage_handler.set_dependencies(stage_adapters(stage_handler, created))
        try:
            yield created
        finally:
            stage_handler.dependencies.cache_clear()


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
