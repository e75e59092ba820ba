"""Fixtures for validate's tests: image builders, the corpus manifest, a moto account."""

from __future__ import annotations

import io
import json
import os
import struct
import warnings
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
from qip_validate import handler as validate_handler
from qip_validate.adapters import Adapters

os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "QIP")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_DEV", "false")

EVENTS_DIR = Path(__file__).resolve().parents[1] / "events"
UPLOAD_BUCKET = "qip-uploads"
TABLE = "qip-images"
EVENT_BUS = "qip-events"
REGION = "us-east-1"
MB = 1024 * 1024


# --- images -------------------------------------------------------------------------------


def encode(image: Image.Image, fmt: str, **params: Any) -> bytes:
    """Encode a Pillow image to bytes."""
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def make_image() -> Callable[..., bytes]:
    """Build a small image: `make_image("PNG", (w, h), mode="RGB", noise=False)`."""

    def make(fmt: str, size: tuple[int, int], mode: str = "RGB", *, noise: bool = False) -> bytes:
        if noise:
            raw = Image.frombytes(
                "RGB", size, os.urandom(size[0] * size[1] * 3)
            )  # incompressible pixels
            image = raw.convert(mode)
        else:
            image = Image.new(mode, size, _colour(mode))
        if fmt == "JPEG" and image.mode not in ("RGB", "L", "CMYK"):
            image = image.convert("RGB")
        if fmt == "GIF" and image.mode not in ("P", "L"):
            image = image.convert("P")
        return encode(image, fmt)

    return make


def _colour(mode: str) -> Any:
    bands = len(Image.new(mode, (1, 1)).getbands())
    return 90 if bands == 1 else tuple([90, 140, 200, 255][:bands])


@pytest.fixture(scope="session")
def make_animation() -> Callable[..., bytes]:
    """A real animated GIF or WebP with `frames` distinct frames of `size`."""

    def make(fmt: str, size: tuple[int, int], frames: int) -> bytes:
        images = [
            Image.new("RGB", size, ((i * 37) % 256, (i * 91) % 256, (i * 53) % 256))
            for i in range(frames)
        ]
        return encode(images[0], fmt, save_all=True, append_images=images[1:], duration=40)

    return make


def gif_flood(canvas: tuple[int, int], frames: int) -> bytes:
    """A GIF whose logical screen is `canvas` with `frames` 1x1 frames (tiny file, huge total)."""
    header = b"GIF89a" + struct.pack("<HHBBB", canvas[0], canvas[1], 0x80, 0, 0)
    palette = b"\x00\x00\x00\xff\xff\xff"
    # A 1x1 frame: descriptor, LZW min code size 2, one data sub-block, terminator.
    frame = b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00"
    return header + palette + frame * frames + b"\x3b"


def webp_flood(animation: bytes, frames: int) -> bytes:
    """Repeat the first ANMF chunk of an animated WebP until it has `frames` frames."""
    pos, chunks, anmf = 12, [], None
    while pos + 8 <= len(animation):
        fourcc = animation[pos : pos + 4]
        length = int.from_bytes(animation[pos + 4 : pos + 8], "little")
        chunk = animation[pos : pos + 8 + length + (length & 1)]
        if fourcc == b"ANMF":
            anmf = anmf or chunk
        else:
            chunks.append(chunk)
        pos += len(chunk)
    assert anmf is not None, "not an animated WebP"
    body = b"WEBP" + b"".join(chunks) + anmf * frames
    return b"RIFF" + len(body).to_bytes(4, "little") + body


def jpeg_with_size(jpeg: bytes, width: int, height: int) -> bytes:
    """Patch the SOF header of a baseline/progressive JPEG to claim `width` x `height`."""
    pos = 2
    while pos + 4 <= len(jpeg):
        marker = jpeg[pos + 1]
        length = int.from_bytes(jpeg[pos + 2 : pos + 4], "big")
        if marker in (0xC0, 0xC1, 0xC2):
            patched = bytearray(jpeg)
            patched[pos + 5 : pos + 7] = height.to_bytes(2, "big")
            patched[pos + 7 : pos + 9] = width.to_bytes(2, "big")
            return bytes(patched)
        pos += 2 + length
    raise AssertionError("no SOF marker")


@pytest.fixture(scope="session")
def hostile() -> dict[str, Callable[..., bytes]]:
    """Builders of hostile files: `gif_flood`, `webp_flood`, `jpeg_with_size`."""
    return {"gif_flood": gif_flood, "webp_flood": webp_flood, "jpeg_with_size": jpeg_with_size}


@pytest.fixture(scope="session")
def manifest(corpus_dir: Path) -> dict[str, dict[str, Any]]:
    """The corpus manifest: file name -> status, reason, displayed_size."""
    loaded: dict[str, dict[str, Any]] = json.loads((corpus_dir / "manifest.json").read_text())
    return loaded


def corpus_manifest() -> dict[str, dict[str, Any]]:
    """The manifest, readable at collection time (for parametrize)."""
    root = Path(__file__).resolve().parents[3]
    corpus = Path(os.environ.get("QIP_CORPUS_DIR", root.parent / "shared" / "corpus"))
    path = corpus / "manifest.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize `corpus_name` over every file of the manifest."""
    if "corpus_name" in metafunc.fixturenames:
        metafunc.parametrize("corpus_name", sorted(corpus_manifest()))


@pytest.fixture(autouse=True)
def _no_stray_warnings() -> Iterator[None]:
    """A DecompressionBombWarning escaping validate would be a bug: make it an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        yield


# --- AWS ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sample_state() -> dict[str, Any]:
    """The sample event in `events/validate_input.json` (copy before changing it)."""
    loaded: dict[str, Any] = json.loads((EVENTS_DIR / "validate_input.json").read_text())
    return loaded


@pytest.fixture
def rerun_state() -> dict[str, Any]:
    """The sample re-run event (with executionArn and retryCount)."""
    loaded: dict[str, Any] = json.loads((EVENTS_DIR / "validate_rerun_input.json").read_text())
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
    """A moto account: upload bucket, table, topic and event bus (both tapped by SQS queues)."""

    def __init__(self) -> None:
        self.s3 = boto3.client("s3", region_name=REGION)
        self.dynamodb = boto3.client("dynamodb", region_name=REGION)
        self.sns = boto3.client("sns", region_name=REGION)
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.events = boto3.client("events", region_name=REGION)
        self.s3.create_bucket(Bucket=UPLOAD_BUCKET)
        create_table(self.dynamodb)
        self.topic_arn = self.sns.create_topic(Name="qip-notifications")["TopicArn"]
        self.notification_queue = self._queue("notifications-tap")
        self.sns.subscribe(
            TopicArn=self.topic_arn,
            Protocol="sqs",
            Endpoint=self._queue_arn(self.notification_queue),
            Attributes={"RawMessageDelivery": "true"},
        )
        self.events.create_event_bus(Name=EVENT_BUS)
        self.event_queue = self._queue("events-tap")
        self.events.put_rule(
            Name="qip-events-tap",
            EventBusName=EVENT_BUS,
            EventPattern=json.dumps({"source": ["image-processor"]}),
        )
        self.events.put_targets(
            Rule="qip-events-tap",
            EventBusName=EVENT_BUS,
            Targets=[{"Id": "tap", "Arn": self._queue_arn(self.event_queue)}],
        )

    def _queue(self, name: str) -> str:
        return str(self.sqs.create_queue(QueueName=name)["QueueUrl"])

    def _queue_arn(self, url: str) -> str:
        attributes = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return str(attributes["Attributes"]["QueueArn"])

    def settings(self, **overrides: Any) -> QipSettings:
        """Settings pointing at this account's resources."""
        values: dict[str, Any] = {
            "table_name": TABLE,
            "upload_bucket": UPLOAD_BUCKET,
            "topic_arn": self.topic_arn,
            "event_bus_name": EVENT_BUS,
        }
        values.update(overrides)
        return QipSettings(**values)

    def put_object(self, key: str, body: bytes) -> None:
        """Upload an object to the upload bucket."""
        self.s3.put_object(Bucket=UPLOAD_BUCKET, Key=key, Body=body)

    def put_record(self, state: dict[str, Any], status: ImageStatus) -> ImageRecord:
        """Write the record the trigger would have written for `state`."""
        record = ImageRecord(
            image_key=state["imageKey"],
            upload_timestamp=state["uploadTimestamp"],
            size=state["size"],
            content_type=state["contentType"],
            status=status,
            bucket=state["bucket"],
        )
        self.dynamodb.put_item(TableName=TABLE, Item=record.to_item())
        return record

    def record(self, image_key: str) -> ImageRecord:
        """Read a record back."""
        item = self.dynamodb.get_item(
            TableName=TABLE, Key={"imageKey": {"S": image_key}}, ConsistentRead=True
        )["Item"]
        return ImageRecord.from_item(item)

    def raw_item(self, image_key: str) -> dict[str, Any]:
        """The record's raw item (to compare before/after a re-run)."""
        item: dict[str, Any] = self.dynamodb.get_item(
            TableName=TABLE, Key={"imageKey": {"S": image_key}}, ConsistentRead=True
        )["Item"]
        return item

    def _drain(self, url: str) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        while True:
            received = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
            batch = received.get("Messages", [])
            if not batch:
                return messages
            for message in batch:
                messages.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    def notifications(self) -> list[dict[str, Any]]:
        """The SNS messages published since the last call."""
        return self._drain(self.notification_queue)

    def bus_events(self) -> list[dict[str, Any]]:
        """The EventBridge events put since the last call."""
        return self._drain(self.event_queue)


@pytest.fixture(scope="session")
def account_class() -> type[Account]:
    """The Account class (for module-scoped accounts)."""
    return Account


@pytest.fixture
def aws() -> Iterator[Account]:
    """A fresh moto account for one test; validate's dependencies point at it."""
    with mock_aws():
        account = Account()
        validate_handler.set_dependencies(Adapters.from_settings(account.settings()))
        yield account
        validate_handler.dependencies.cache_clear()


@pytest.fixture
def use_settings(aws: Account) -> Callable[..., Adapters]:
    """Re-inject validate's adapters with some settings overridden (e.g. max_bytes)."""

    def use(**overrides: Any) -> Adapters:
        adapters = Adapters.from_settings(aws.settings(**overrides))
        validate_handler.set_dependencies(adapters)
        return adapters

    return use


@pytest.fixture
def upload(aws: Account, sample_state: dict[str, Any]) -> Callable[..., dict[str, Any]]:
    """Put `body` under a key with a PROCESSING record; return the handler's input event."""

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
def lambda_logs(
    capsys: pytest.CaptureFixture[str],
) -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The JSON lines the handler printed so far: its logs and its EMF metrics."""
    # The logger's stream was bound at import time, so point it at a buffer of our own.
    log_handler = validate_handler.logger.registered_handler
    buffer = io.StringIO()
    previous = log_handler.setStream(buffer)  # type: ignore[attr-defined]

    def read() -> list[dict[str, Any]]:
        lines = buffer.getvalue().splitlines() + capsys.readouterr().out.splitlines()
        buffer.seek(0)
        buffer.truncate()
        parsed = []
        for line in lines:
            try:
                parsed.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return parsed

    yield read
    log_handler.setStream(previous)  # type: ignore[attr-defined]
