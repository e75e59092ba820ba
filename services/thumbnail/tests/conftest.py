"""Fixtures for thumbnail's tests: image builders, JPEG inspection, the corpus, a moto account."""

from __future__ import annotations

import io
import json
import os
import struct
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from PIL import Image

from qip_shared.config import QipSettings
from qip_shared.enums import ImageStatus
from qip_shared.record import ImageRecord
from qip_shared.timeutil import utc_now
from qip_thumbnail import handler as thumbnail_handler
from qip_thumbnail.adapters import Adapters

os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "QIP")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_DEV", "false")

EVENTS_DIR = Path(__file__).resolve().parents[1] / "events"
REGION = "us-east-1"
UPLOAD_BUCKET = "qip-uploads"
TABLE = "qip-images"

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)
QUADRANTS = (RED, GREEN, BLUE, WHITE)  # top-left, top-right, bottom-left, bottom-right
# How to store an upright picture so a viewer honouring EXIF orientation N shows it upright
# (EXIF 2.32, tag 0x0112), written from the spec rather than from the code under test.
STORE_FOR_ORIENTATION: dict[int, Image.Transpose | None] = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


# --- images -------------------------------------------------------------------------------


def encode(image: Image.Image, fmt: str, **params: Any) -> bytes:
    """Encode a Pillow image to bytes."""
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def quadrant_image(size: tuple[int, int]) -> Image.Image:
    """An upright RGB picture with red/green/blue/white quadrants (TL, TR, BL, BR)."""
    width, height = size
    image = Image.new("RGB", size, WHITE)
    image.paste(RED, (0, 0, max(1, width // 2), max(1, height // 2)))
    image.paste(GREEN, (width // 2, 0, width, max(1, height // 2)))
    image.paste(BLUE, (0, height // 2, max(1, width // 2), height))
    return image


def oriented(upright: Image.Image, orientation: int, fmt: str = "JPEG", **params: Any) -> bytes:
    """`upright` stored transposed, with the EXIF orientation (and a GPS block) that undo it."""
    method = STORE_FOR_ORIENTATION[orientation]
    stored = upright if method is None else upright.transpose(method)
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "QIP test camera"
    exif[0x8825] = {1: "N", 2: (52.0, 22.0, 1.0), 3: "E", 4: (4.0, 53.0, 2.0)}  # GPS IFD
    return encode(stored, fmt, exif=exif.tobytes(), **params)


def quadrant_colours(image: Image.Image) -> list[tuple[int, ...]]:
    """The colour at the centre of each quadrant (TL, TR, BL, BR)."""
    width, height = image.size
    rgb = image.convert("RGB")
    points = [(width // 4, height // 4), (3 * width // 4, height // 4)]
    points += [(width // 4, 3 * height // 4), (3 * width // 4, 3 * height // 4)]
    return [tuple(rgb.getpixel(p)) for p in points]  # type: ignore[arg-type]


def close(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 48) -> bool:
    """Equal within JPEG/resampling noise."""
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


def jpeg_markers(data: bytes) -> list[int]:
    """The marker codes of a JPEG's header segments, from SOI up to the first SOS."""
    assert data[:2] == b"\xff\xd8", "not a JPEG"
    markers, offset = [], 2
    while offset < len(data):
        assert data[offset] == 0xFF, "broken marker chain"
        marker = data[offset + 1]
        markers.append(marker)
        if marker == 0xDA:
            break
        (length,) = struct.unpack(">H", data[offset + 2 : offset + 4])
        offset += 2 + length
    return markers


def assert_clean_jpeg(data: bytes) -> Image.Image:
    """The bytes are an 8-bit RGB JPEG with no EXIF/GPS, ICC, XMP or comment; returns it."""
    metadata = [hex(m) for m in jpeg_markers(data) if 0xE1 <= m <= 0xEF or m == 0xFE]
    assert not metadata, f"metadata segments in the output: {metadata}"
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG"
    assert image.mode == "RGB"
    assert not image.getexif()
    assert "icc_profile" not in image.info
    return image


class Images:
    """Image builders and checks for the tests (shared through the `images` fixture)."""

    RED, GREEN, BLUE, WHITE, QUADRANTS = RED, GREEN, BLUE, WHITE, QUADRANTS
    encode = staticmethod(encode)
    quadrant_image = staticmethod(quadrant_image)
    oriented = staticmethod(oriented)
    quadrant_colours = staticmethod(quadrant_colours)
    close = staticmethod(close)
    jpeg_markers = staticmethod(jpeg_markers)
    assert_clean_jpeg = staticmethod(assert_clean_jpeg)


@pytest.fixture(scope="session")
def images() -> type[Images]:
    """Builders (`encode`, `quadrant_image`, `oriented`) and checks (`assert_clean_jpeg`...)."""
    return Images


@pytest.fixture(scope="session")
def manifest(corpus_dir: Path) -> dict[str, dict[str, Any]]:
    """The corpus manifest: file name -> status, reason, displayed_size."""
    loaded: dict[str, dict[str, Any]] = json.loads((corpus_dir / "manifest.json").read_text())
    return loaded


# --- AWS ------------------------------------------------------------------------------------


class Account:
    """A moto account: upload bucket, table, topic and bus, each tapped by an SQS queue."""

    def __init__(self) -> None:
        self.s3 = boto3.client("s3", region_name=REGION)
        self.dynamodb = boto3.client("dynamodb", region_name=REGION)
        self.sns = boto3.client("sns", region_name=REGION)
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.events = boto3.client("events", region_name=REGION)
        self.bucket = UPLOAD_BUCKET
        self.s3.create_bucket(Bucket=UPLOAD_BUCKET)
        self.dynamodb.create_table(
            TableName=TABLE,
            BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "imageKey", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "imageKey", "AttributeType": "S"}],
        )
        self.topic_arn = self.sns.create_topic(Name="qip-notifications")["TopicArn"]
        self.notification_queue = self._queue("notifications-tap")
        self.sns.subscribe(
            TopicArn=self.topic_arn,
            Protocol="sqs",
            Endpoint=self._queue_arn(self.notification_queue),
            Attributes={"RawMessageDelivery": "true"},
        )
        self.event_queue = self._queue("events-tap")
        self.events.put_rule(
            Name="qip-events-tap", EventPattern=json.dumps({"source": ["image-processor"]})
        )
        self.events.put_targets(
            Rule="qip-events-tap",
            Targets=[{"Id": "tap", "Arn": self._queue_arn(self.event_queue)}],
        )

    def _queue(self, name: str) -> str:
        return str(self.sqs.create_queue(QueueName=name)["QueueUrl"])

    def _queue_arn(self, url: str) -> str:
        attributes = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return str(attributes["Attributes"]["QueueArn"])

    def settings(self) -> QipSettings:
        """Settings pointing at this account's resources."""
        return QipSettings(table_name=TABLE, upload_bucket=UPLOAD_BUCKET, topic_arn=self.topic_arn)

    def put_upload(self, key: str, body: bytes) -> None:
        """Upload an object to the upload bucket."""
        self.s3.put_object(Bucket=UPLOAD_BUCKET, Key=key, Body=body)

    def get_object(self, key: str) -> dict[str, Any]:
        """An object of the upload bucket, with its body read into `data`."""
        response: dict[str, Any] = self.s3.get_object(Bucket=UPLOAD_BUCKET, Key=key)
        response["data"] = response["Body"].read()
        return response

    def seed_record(self, key: str, status: ImageStatus = ImageStatus.PROCESSING) -> None:
        """A record as the trigger leaves it (claimed for processing by default)."""
        record = ImageRecord(
            image_key=key,
            upload_timestamp=utc_now(),
            size=1,
            content_type="image/jpeg",
            status=status,
            bucket=UPLOAD_BUCKET,
        )
        self.dynamodb.put_item(TableName=TABLE, Item=record.to_item())

    def record(self, key: str) -> ImageRecord | None:
        """The record as stored now."""
        item = self.dynamodb.get_item(
            TableName=TABLE, Key={"imageKey": {"S": key}}, ConsistentRead=True
        ).get("Item")
        return ImageRecord.from_item(item) if item else None

    def drain(self, queue_url: str) -> list[dict[str, Any]]:
        """Every message body (parsed JSON) waiting in a tap queue."""
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
        """SNS messages published so far."""
        return self.drain(self.notification_queue)

    def bus_events(self) -> list[dict[str, Any]]:
        """EventBridge events published so far (full envelopes)."""
        return self.drain(self.event_queue)


@pytest.fixture(scope="module")
def module_account() -> Iterator[tuple[Account, Adapters]]:
    """One moto account per test module (clients are slow to build; keys are unique per test)."""
    with mock_aws():
        created = Account()
        yield created, Adapters.from_env(created.settings())


@pytest.fixture
def account(module_account: tuple[Account, Adapters]) -> Iterator[Account]:
    """The module's moto account with empty tap queues, the handler's adapters injected."""
    created, adapters = module_account
    created.notifications()
    created.bus_events()
    thumbnail_handler.set_dependencies(adapters)
    try:
        yield created
    finally:
        thumbnail_handler.set_dependencies(None)


@pytest.fixture
def sample_state() -> dict[str, Any]:
    """The sample stage input in `events/thumbnail_input.json`, with a fresh upload key."""
    text = (EVENTS_DIR / "thumbnail_input.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    fresh = f"uploads/2026/11/26/{uuid.uuid4()}.jpg"
    replaced: dict[str, Any] = json.loads(text.replace(loaded["imageKey"], fresh))
    return replaced


@pytest.fixture
def invoke() -> Callable[..., dict[str, Any]]:
    """Call the Lambda handler as the runtime would (JSON-able event, optional context)."""

    def call(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        return thumbnail_handler.handler(json.loads(json.dumps(event)), context)

    return call
