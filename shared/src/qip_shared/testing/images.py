"""Image builders and JPEG checks for the stages' tests.

Needs Pillow (the `imaging` extra). A conftest exposes the fixtures by importing them, e.g.
`from qip_shared.testing.images import images, manifest`; `solid_image` and `animation` build
the small images validate's and metadata's `make_image` / `make_animation` fixtures return.
"""

from __future__ import annotations

import io
import json
import os
import struct
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import qip_shared.imaging  # noqa: F401  (registers the HEIF codec the builders encode with)

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


def solid_colour(mode: str, alpha: int = 255) -> Any:
    """A fill colour for `mode` (one value for single-band modes, RGB(A)/CMYK tuples otherwise)."""
    bands = len(Image.new(mode, (1, 1)).getbands())
    return 90 if bands == 1 else tuple([90, 140, 200, alpha][:bands])


def solid_image(
    fmt: str,
    size: tuple[int, int],
    mode: str = "RGB",
    *,
    noise: bool = False,
    alpha: int = 255,
) -> bytes:
    """A small `fmt` image of one colour (or of random, incompressible pixels with `noise`)."""
    if noise:
        image = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3)).convert(mode)
    else:
        image = Image.new(mode, size, solid_colour(mode, alpha))
    if fmt == "JPEG" and image.mode not in ("RGB", "L", "CMYK"):
        image = image.convert("RGB")
    if fmt == "GIF" and image.mode not in ("P", "L"):
        image = image.convert("P")
    return encode(image, fmt)


def animation(fmt: str, size: tuple[int, int], frames: int) -> bytes:
    """A real animated GIF or WebP with `frames` distinct frames of `size`."""
    pictures = [
        Image.new("RGB", size, ((i * 37) % 256, (i * 91) % 256, (i * 53) % 256))
        for i in range(frames)
    ]
    return encode(pictures[0], fmt, save_all=True, append_images=pictures[1:], duration=40)


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
