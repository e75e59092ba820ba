"""Fixtures for metadata's tests: image and EXIF builders, the corpus manifest, a moto account."""

from __future__ import annotations

import functools
import json
import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from PIL import Image

from qip_metadata import handler as metadata_handler
from qip_shared.testing import moto as stage_fixtures
from qip_shared.testing.images import (
    animation,
    encode,
    manifest,  # noqa: F401  (a fixture)
    solid_colour,
    solid_image,
)

# The moto account, handler and corpus fixtures every stage shares (see `stage_handler`).
aws, use_settings, upload, lambda_logs = (
    stage_fixtures.aws,
    stage_fixtures.use_settings,
    stage_fixtures.upload,
    stage_fixtures.lambda_logs,
)

EVENTS_DIR = Path(__file__).resolve().parents[1] / "events"
UPLOAD_BUCKET = "qip-uploads"
EVENT_BUS = "qip-events"
MB = 1024 * 1024


# --- images -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def make_image() -> Callable[..., bytes]:
    """Build a small image: `make_image("PNG", (w, h), mode="RGB", noise=False)`."""
    # Half-transparent alpha, unlike validate's opaque images.
    return functools.partial(solid_image, alpha=128)


@pytest.fixture(scope="session")
def make_animation() -> Callable[..., bytes]:
    """A real animated GIF or WebP with `frames` distinct frames of `size`."""
    return animation


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
        return encode(Image.new(mode, size, solid_colour(mode, alpha=128)), fmt, exif=exif)

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


def corpus_manifest() -> dict[str, dict[str, Any]]:
    """The manifest, readable at collection time (for parametrize)."""
    root = Path(__file__).resolve().parents[3]
    corpus = Path(os.environ.get("QIP_CORPUS_DIR", root / "corpus"))
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


@pytest.fixture(scope="session")
def stage_handler() -> ModuleType:
    """The handler module the shared fixtures inject adapters into and invoke."""
    return metadata_handler


@pytest.fixture(scope="session")
def moto_options() -> dict[str, Any]:
    """The moto accounts of these tests put events on a bus of their own."""
    return {"event_bus": EVENT_BUS}
