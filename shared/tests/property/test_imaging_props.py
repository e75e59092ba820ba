"""Property tests of qip_shared.imaging (issue 3: the output-image rules of resize/thumbnail).

These are stage-specific invariants, not among the design's 12 correctness properties; each test
names the issue line it checks.
"""

from __future__ import annotations

import io
import math
import struct

from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from qip_shared.imaging import (
    REDUCING_GAP,
    cover_size,
    decode_upright,
    encode_jpeg,
    fit_size,
    upright_size,
)

sizes = st.tuples(st.integers(1, 20_000), st.integers(1, 20_000))
boxes = st.tuples(st.integers(1, 2_000), st.integers(1, 2_000))
orientations = st.integers(1, 8)


def jpeg_markers(data: bytes) -> list[int]:
    """The marker codes of a JPEG's header segments, from SOI up to the first SOS."""
    markers, offset = [], 2
    while offset < len(data):
        marker = data[offset + 1]
        markers.append(marker)
        if marker == 0xDA:
            break
        (length,) = struct.unpack(">H", data[offset + 2 : offset + 4])
        offset += 2 + length
    return markers


# Issue 3 (resize): "fit inside 1024x768 keeping the displayed aspect ratio, never upscale" —
# fit_size fits the box, never exceeds the source, keeps the aspect within a pixel's rounding,
# and is as large as those rules allow.
@given(size=sizes, box=boxes)
def test_fit_size_fits_keeps_aspect_and_never_upscales(
    size: tuple[int, int], box: tuple[int, int]
) -> None:
    width, height = fit_size(size, box)
    assert 1 <= width <= min(box[0], size[0])
    assert 1 <= height <= min(box[1], size[1])
    # Aspect: one scale s reproduces both sides within half a pixel (a 1 px side may be
    # rounded up from less): the per-side intervals of admissible s must intersect.
    lows, highs = [], []
    for out, src in ((width, size[0]), (height, size[1])):
        lows.append(0.0 if out == 1 else (out - 0.5) / src)
        highs.append((out + 0.5) / src)
    assert max(lows) <= min(highs) + 1e-9
    # Maximal: one side touches the box, or the source fits already and is kept as it is.
    assert width == box[0] or height == box[1] or (width, height) == size


# Issue 3 (thumbnail): "decode at ... the cover size of the crop" — cover_size covers the box,
# keeps the aspect, and is the smallest such size (so the draft picks the smallest scale).
@given(size=sizes, box=boxes)
def test_cover_size_covers_box_minimally(size: tuple[int, int], box: tuple[int, int]) -> None:
    width, height = cover_size(size, box)
    assert width >= box[0]
    assert height >= box[1]
    scale = max(box[0] / size[0], box[1] / size[1])
    assert width <= max(box[0], math.ceil(size[0] * scale))
    assert height <= max(box[1], math.ceil(size[1] * scale))
    assert width == box[0] or height == box[1]


# Issue 3: "decode at the smallest scale that still serves the target (JPEG Image.draft,
# accounting for orientation swapping width/height) ... reduce before resampling
# (reducing_gap)" — for any size, orientation and need, the decoded upright image covers the
# need (or is the whole source) and is no larger than the rules allow: for JPEG the coarsest
# sufficient DCT scale, for other formats an integer reduction keeping REDUCING_GAP x the need.
@given(
    raw=st.tuples(st.integers(1, 400), st.integers(1, 400)),
    orientation=orientations,
    need=st.tuples(st.integers(1, 400), st.integers(1, 400)),
    fmt=st.sampled_from(["JPEG", "PNG"]),
)
def test_decode_upright_picks_the_smallest_sufficient_scale(
    raw: tuple[int, int], orientation: int, need: tuple[int, int], fmt: str
) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    Image.new("RGB", raw, (90, 120, 200)).save(buffer, fmt, exif=exif.tobytes())

    decoded = decode_upright(buffer.getvalue(), need)

    upright = upright_size(raw, orientation)
    assert decoded.source_size == upright
    assert decoded.image.mode == "RGB"
    width, height = decoded.image.size
    assert width >= min(need[0], upright[0])
    assert height >= min(need[1], upright[1])
    scale = round(upright[0] / (decoded.content[2] - decoded.content[0]))
    whole_units = min(upright[0] // need[0], upright[1] // need[1])
    if fmt == "JPEG":
        # libjpeg scales by 1/1, 1/2, 1/4, 1/8; the next coarser one would not cover the need.
        assert scale in {1, 2, 4, 8}
        assert scale == 8 or whole_units < 2 * scale
    else:
        # An integer reduction that still leaves REDUCING_GAP times the need.
        assert scale >= 1
        if scale > 1:
            assert upright[0] / scale >= REDUCING_GAP * need[0] - 1e-9
            assert upright[1] / scale >= REDUCING_GAP * need[1] - 1e-9
        ratio = min(upright[0] / need[0], upright[1] / need[1])
        assert scale == max(1, int(ratio / REDUCING_GAP))
    left, top, right, bottom = decoded.content
    assert 0 <= left < right <= width
    assert 0 <= top < bottom <= height
    assert width - (right - left) < 1
    assert height - (bottom - top) < 1


# Issue 3: "output carries no EXIF/GPS (and no other metadata)" and is an 8-bit sRGB JPEG —
# for any mode and whatever the image's info holds, encode_jpeg writes no APP1..APP15/COM.
@given(
    mode=st.sampled_from(["RGB", "RGBA", "L", "LA", "P", "CMYK", "1"]),
    size=st.tuples(st.integers(1, 64), st.integers(1, 64)),
    comment=st.binary(min_size=1, max_size=50),
)
def test_encoded_jpeg_never_carries_metadata(
    mode: str, size: tuple[int, int], comment: bytes
) -> None:
    image = Image.new(mode, size)
    exif = Image.Exif()
    exif[0x010F] = "Camera"
    image.info.update(comment=comment, exif=exif.tobytes(), icc_profile=b"x" * 20)

    data = encode_jpeg(image)

    assert not [m for m in jpeg_markers(data) if 0xE1 <= m <= 0xEF or m == 0xFE]
    decoded = Image.open(io.BytesIO(data))
    assert (decoded.mode, decoded.size) == ("RGB", size)
