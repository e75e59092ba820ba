"""Fixtures for validate's tests: image builders, the corpus manifest, a moto account."""

from __future__ import annotations

import json
import os
import struct
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from PIL import Image

from qip_shared.testing import moto as stage_fixtures
from qip_shared.testing.images import animation, manifest, solid_image  # noqa: F401
from qip_validate import handler as validate_handler

# The moto account, handler and corpus fixtures every stage shares (see `stage_handler`).
aws, account_class, use_settings, upload, lambda_logs = (
    stage_fixtures.aws,
    stage_fixtures.account_class,
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
    return solid_image


@pytest.fixture(scope="session")
def make_animation() -> Callable[..., bytes]:
    """A real animated GIF or WebP with `frames` distinct frames of `size`."""
    return animation


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


def corpus_manifest() -> dict[str, dict[str, Any]]:
    """The manifest, readable at collection time (for parametrize)."""
    root = Path(__file__).resolve().parents[3]
    corpus = Path(os.environ.get("QIP_CORPUS_DIR", root / "corpus"))
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


@pytest.fixture(scope="session")
def stage_handler() -> ModuleType:
    """The handler module the shared fixtures inject adapters into and invoke."""
    return validate_handler


@pytest.fixture(scope="session")
def moto_options() -> dict[str, Any]:
    """The moto accounts of these tests put events on a bus of their own."""
    return {"event_bus": EVENT_BUS}
