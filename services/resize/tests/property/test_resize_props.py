"""Property tests of qip_resize.core (issue 3's resize rules; not among the design's 12)."""

from __future__ import annotations

import io

from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from qip_resize.core import resize_image

ORIENTATION_SWAPS = {5, 6, 7, 8}


def source(raw: tuple[int, int], orientation: int, fmt: str) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    Image.new("RGB", raw, (30, 160, 90)).save(buffer, fmt, exif=exif.tobytes())
    return buffer.getvalue()


# Issue 3, resize: "fit inside 1024x768 keeping the displayed aspect ratio, never upscale;
# apply the EXIF orientation first" — for any stored size, orientation and box, the output
# fits the box, is never larger than the displayed source, keeps its aspect within a pixel's
# rounding (never 0 px), and the JPEG written really has the reported size.
@given(
    raw=st.tuples(st.integers(1, 900), st.integers(1, 900)),
    orientation=st.integers(1, 8),
    box=st.one_of(st.just((1024, 768)), st.tuples(st.integers(1, 500), st.integers(1, 500))),
    fmt=st.sampled_from(["JPEG", "PNG"]),
)
def test_output_fits_box_keeps_displayed_aspect_and_never_upscales(
    raw: tuple[int, int], orientation: int, box: tuple[int, int], fmt: str
) -> None:
    shown = (raw[1], raw[0]) if orientation in ORIENTATION_SWAPS else raw

    result = resize_image(source(raw, orientation, fmt), box=box)

    width, height = result.width, result.height
    assert 1 <= width <= min(box[0], shown[0])
    assert 1 <= height <= min(box[1], shown[1])
    # One scale reproduces both sides within half a pixel (a 1 px side may round up from less).
    low = max(
        0.0 if width == 1 else (width - 0.5) / shown[0],
        0.0 if height == 1 else (height - 0.5) / shown[1],
    )
    high = min((width + 0.5) / shown[0], (height + 0.5) / shown[1])
    assert low <= high + 1e-9
    # As large as allowed: touches the box, or is the displayed source itself.
    assert width == box[0] or height == box[1] or (width, height) == shown
    assert Image.open(io.BytesIO(result.data)).size == (width, height)
