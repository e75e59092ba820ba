"""Property tests of qip_thumbnail.core (issue 3's thumbnail rules; not among the design's 12)."""

from __future__ import annotations

import io

from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from qip_thumbnail.core import make_thumbnail


def source(raw: tuple[int, int], orientation: int, fmt: str, mode: str) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    image = Image.new(mode, raw)
    if fmt == "JPEG" and mode not in ("RGB", "L", "CMYK"):
        image = image.convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, fmt, exif=exif.tobytes())
    return buffer.getvalue()


# Issue 3, thumbnail: "exactly 200x200, centre square crop of the upright image, same colour
# and privacy rules" — for any size, orientation, format and mode the output is a 200x200
# 8-bit RGB JPEG with no EXIF.
@given(
    raw=st.tuples(st.integers(1, 900), st.integers(1, 900)),
    orientation=st.integers(1, 8),
    fmt=st.sampled_from(["JPEG", "PNG", "WEBP"]),
    mode=st.sampled_from(["RGB", "RGBA", "L", "LA", "CMYK", "P"]),
)
def test_thumbnail_is_always_200x200_rgb_without_exif(
    raw: tuple[int, int], orientation: int, fmt: str, mode: str
) -> None:
    if fmt != "JPEG" and mode == "CMYK":
        mode = "RGB"  # PNG and WebP have no CMYK

    result = make_thumbnail(source(raw, orientation, fmt, mode))

    assert (result.width, result.height) == (200, 200)
    image = Image.open(io.BytesIO(result.data))
    assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (200, 200))
    assert not image.getexif()
    assert b"Exif" not in result.data
