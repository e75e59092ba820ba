"""Fixtures for metadata's tests: image and EXIF builders, the corpus manifest, a moto account."""

from __future__ import annotations

import io
import json
import os
import struct
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from PIL import Image

from qip_metadata import handler as metadata_handler
from qip_metadata.adapters import Adapters
from qip_shared.config import QipSettings
from qip_shared.enums import ImageStatus
from qip_shared.record import ImageRecord

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
    return 90 if bands == 1 else tuple([90, 140, 200, 128][:bands])  # alpha: half transparent


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


# --- EXIF ------------------------------------------------------------------------------------

ASCII, SHORT, LONG, RATIONAL, UNDEFINED = 2, 3, 4, 5, 7
Entry = tuple[int, int, Any]  # (tag, type, value): str/bytes, or a list of ints / (num, den)


def _encode(kind: int, value: Any) -> tuple[int, bytes]:
    """EXIF count and little-endian bytes of one value."""
    if kind in (ASCII, UNDEFINED):
        raw = value.encode("utf-8", "surrogatepass") if isinstance(value, str) else bytes(value)
        raw = raw + b"\0" if kind == ASCII else raw
        return len(raw), raw
    if kind == SHORT:
        return len(value), b"".join(struct.pack("<H", v) for v in value)
    if kind == LONG:
        return len(value), b"".join(struct.pack("<I", v) for v in value)
    if kind == RATIONAL:
        return len(value), b"".join(struct.pack("<II", n, d) for n, d in value)
    raise ValueError(kind)


def tiff_exif(
    ifd0: list[Entry], exif_ifd: list[Entry] | None = None, gps_ifd: list[Entry] | None = None
) -> bytes:
    """A little-endian TIFF/EXIF block (with the `Exif\\0\\0` prefix) holding the given IFDs."""
    ifd0 = list(ifd0)
    if exif_ifd is not None:
        ifd0.append((0x8769, LONG, [0]))
    if gps_ifd is not None:
        ifd0.append((0x8825, LONG, [0]))
    ifds = [ifd0] + [i for i in (exif_ifd, gps_ifd) if i is not None]
    offsets, position = [], 8
    for ifd in ifds:
        offsets.append(position)
        position += 2 + 12 * len(ifd) + 4
    data_area, data_start = b"", position
    pointer_targets = dict(zip([0x8769, 0x8825][: len(ifds) - 1], offsets[1:], strict=False))
    if exif_ifd is None and gps_ifd is not None:
        pointer_targets = {0x8825: offsets[1]}
    out = b"II*\x00" + struct.pack("<I", 8)
    for ifd in ifds:
        out += struct.pack("<H", len(ifd))
        for tag, kind, given in sorted(ifd, key=lambda e: e[0]):
            is_pointer = tag in pointer_targets and kind == LONG and given == [0]
            count, raw = _encode(kind, [pointer_targets[tag]] if is_pointer else given)
            if len(raw) <= 4:
                field = raw.ljust(4, b"\0")
            else:
                field = struct.pack("<I", data_start + len(data_area))
                data_area += raw + (b"\0" if len(raw) % 2 else b"")
            out += struct.pack("<HHI", tag, kind, count) + field
        out += struct.pack("<I", 0)
    return b"Exif\x00\x00" + out + data_area


@pytest.fixture(scope="session")
def exif_block() -> Callable[..., bytes]:
    """Build a raw EXIF block: `exif_block(ifd0, exif_ifd=None, gps_ifd=None)`."""
    return tiff_exif


@pytest.fixture(scope="session")
def with_exif() -> Callable[..., bytes]:
    """Encode a small image carrying an EXIF block: `with_exif(fmt, size, exif, mode="RGB")`."""

    def make(fmt: str, size: tuple[int, int], exif: bytes, mode: str = "RGB") -> bytes:
        return encode(Image.new(mode, size, _colour(mode)), fmt, exif=exif)

    return make


def png_with_late_exif(png: bytes, exif: bytes) -> bytes:
    """Insert an eXIf chunk after the image data (before IEND), where Pillow's open misses it."""
    body = exif[6:] if exif.startswith(b"Exif\x00\x00") else exif
    chunk = len(body).to_bytes(4, "big") + b"eXIf" + body
    chunk += zlib.crc32(b"eXIf" + body).to_bytes(4, "big")
    iend = png.rindex(b"IEND") - 4
    return png[:iend] + chunk + png[iend:]


@pytest.fixture(scope="session")
def late_exif_png() -> Callable[[bytes, bytes], bytes]:
    """`late_exif_png(png, exif)`: the PNG with an eXIf chunk after IDAT."""
    return png_with_late_exif


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
    """Parametrize `corpus_name` over the files validate accepts (the only ones metadata sees)."""
    if "corpus_name" in metafunc.fixturenames:
        accepted = [n for n, e in corpus_manifest().items() if e["status"] == "COMPLETED"]
        metafunc.parametrize("corpus_name", sorted(accepted))


# --- AWS ------------------------------------------------------------------------------------


@pytest.fixture
def sample_state() -> dict[str, Any]:
    """The sample event in `events/metadata_input.json`."""
    loaded: dict[str, Any] = json.loads((EVENTS_DIR / "metadata_input.json").read_text())
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
    """A fresh moto account for one test; metadata's dependencies point at it."""
    with mock_aws():
        account = Account()
        metadata_handler.set_dependencies(Adapters.from_settings(account.settings()))
        yield account
        metadata_handler.dependencies.cache_clear()


@pytest.fixture
def use_settings(aws: Account) -> Callable[..., Adapters]:
    """Re-inject metadata's adapters with some settings overridden (e.g. max_bytes)."""

    def use(**overrides: Any) -> Adapters:
        adapters = Adapters.from_settings(aws.settings(**overrides))
        metadata_handler.set_dependencies(adapters)
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
    log_handler = metadata_handler.logger.registered_handler
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
