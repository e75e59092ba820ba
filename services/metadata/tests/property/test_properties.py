"""Properties of extract_metadata over generated images and EXIF (hypothesis, ci profile)."""

from __future__ import annotations

import io
import math
import unicodedata
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from PIL import Image, ImageOps

from qip_metadata.core import MAX_TEXT_LENGTH, extract_metadata
from qip_shared.errors import PermanentError
from qip_shared.pipeline import ImageMetadata

ASCII, SHORT, RATIONAL, UNDEFINED = 2, 3, 5, 7
sizes = st.tuples(st.integers(1, 48), st.integers(1, 48))


# Requirement (issue 3, metadata): for any image size and EXIF orientation, the displayed
# width/height are the dimensions of the image once oriented (as ImageOps.exif_transpose,
# which decodes, shows it; the metadata itself never decodes).
@given(st.sampled_from(["JPEG", "PNG", "WEBP"]), sizes, st.integers(1, 8))
def test_displayed_dims_are_the_oriented_dims(
    fmt: str, size: tuple[int, int], orientation: int
) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 20, 30)).save(buffer, fmt, exif=exif.tobytes())
    data = buffer.getvalue()

    metadata = extract_metadata(data, store_gps=False)
    with Image.open(io.BytesIO(data)) as image:
        oriented = ImageOps.exif_transpose(image)
    assert (metadata.width, metadata.height) == size
    assert metadata.orientation == orientation
    assert (metadata.display_width, metadata.display_height) == oriented.size


# Requirement (issue 3, metadata): EXIF strings from hostile files come out clean - no
# NULs or control/format characters, no surrounding whitespace, at most MAX_TEXT_LENGTH.
@given(st.binary(max_size=600), st.text(max_size=300), st.binary(max_size=300))
def test_exif_strings_are_always_clean(
    with_exif: Any, exif_block: Any, make: bytes, model: str, software: bytes
) -> None:
    ifd0 = [(0x010F, ASCII, make), (0x0110, ASCII, model), (0x0131, ASCII, software)]
    data = with_exif("JPEG", (8, 8), exif_block(ifd0))
    exif = extract_metadata(data, store_gps=False).exif
    for text in (exif.make, exif.model, exif.software) if exif else ():
        if text is None:
            continue
        assert 0 < len(text) <= MAX_TEXT_LENGTH
        assert text == text.strip()
        assert not any(unicodedata.category(ch).startswith("C") for ch in text)


# Requirement (issue 3, metadata): any rational, including a zero denominator, gives either
# nothing or its finite positive value - never NaN/inf, never a crash.
@given(
    st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1)),
    st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1)),
)
def test_rationals_are_finite_or_absent(
    with_exif: Any, exif_block: Any, exposure: tuple[int, int], aperture: tuple[int, int]
) -> None:
    details = [(0x829A, RATIONAL, [exposure]), (0x829D, RATIONAL, [aperture])]
    data = with_exif("JPEG", (8, 8), exif_block([(0x010F, ASCII, "K")], details))
    exif = extract_metadata(data, store_gps=False).exif
    assert exif is not None
    for value, (num, den) in ((exif.exposure_time, exposure), (exif.f_number, aperture)):
        if den == 0 or num == 0:
            assert value is None
        else:
            assert value is not None
            assert math.isfinite(value)
            assert value == num / den


# Requirement (issue 3, metadata): GPS is stored only when the setting is on (privacy by
# default), and then as the signed decimal degrees of the EXIF position.
@given(
    st.integers(0, 89),
    st.integers(0, 59),
    st.integers(0, 179),
    st.integers(0, 59),
    st.sampled_from(["N", "S"]),
    st.sampled_from(["E", "W"]),
    st.booleans(),
)
def test_gps_only_when_enabled(
    with_exif: Any,
    exif_block: Any,
    lat_deg: int,
    lat_min: int,
    lon_deg: int,
    lon_min: int,
    lat_ref: str,
    lon_ref: str,
    store_gps: bool,
) -> None:
    gps = [
        (1, ASCII, lat_ref),
        (2, RATIONAL, [(lat_deg, 1), (lat_min, 1), (0, 1)]),
        (3, ASCII, lon_ref),
        (4, RATIONAL, [(lon_deg, 1), (lon_min, 1), (0, 1)]),
    ]
    data = with_exif("JPEG", (8, 8), exif_block([(0x010F, ASCII, "G")], None, gps))
    exif = extract_metadata(data, store_gps=store_gps).exif
    assert exif is not None
    if not store_gps:
        assert exif.gps is None
        return
    assert exif.gps is not None
    latitude = (lat_deg + lat_min / 60) * (-1 if lat_ref == "S" else 1)
    longitude = (lon_deg + lon_min / 60) * (-1 if lon_ref == "W" else 1)
    assert math.isclose(exif.gps.latitude, latitude, abs_tol=1e-9)
    assert math.isclose(exif.gps.longitude, longitude, abs_tol=1e-9)


# Requirement (issue 3, metadata): hostile EXIF never crashes extraction - any bytes as the
# EXIF block, or flipped bytes in a real one, still give valid metadata for the image.
@given(st.binary(max_size=400), st.data())
def test_hostile_exif_never_crashes(exif_block: Any, noise: bytes, data: st.DataObject) -> None:
    real = bytearray(
        exif_block(
            [(0x010F, ASCII, "Canon"), (0x0112, SHORT, [3])],
            [(0x829A, RATIONAL, [(1, 60)]), (0x9003, ASCII, "2020:01:02 03:04:05")],
            [(1, ASCII, "N"), (2, RATIONAL, [(1, 1), (2, 1), (3, 1)])],
        )
    )
    for _ in range(data.draw(st.integers(1, 10))):
        real[data.draw(st.integers(6, len(real) - 1))] = data.draw(st.integers(0, 255))
    for block in (b"Exif\x00\x00" + noise, bytes(real)):
        buffer = io.BytesIO()
        Image.new("RGB", (11, 7)).save(buffer, "JPEG", exif=block)
        metadata = extract_metadata(buffer.getvalue(), store_gps=True)
        assert isinstance(metadata, ImageMetadata)
        assert (metadata.width, metadata.height) == (11, 7)
        assert 1 <= metadata.orientation <= 8


# Requirement (issue 3, metadata): whatever the bytes, extraction returns metadata or a
# PermanentError - never another exception.
@given(st.binary(max_size=1024))
def test_any_bytes_give_metadata_or_a_permanent_error(data: bytes) -> None:
    outcome: ImageMetadata | PermanentError
    try:
        outcome = extract_metadata(data, store_gps=True)
    except PermanentError as exc:
        outcome = exc
    if isinstance(outcome, PermanentError):
        assert outcome.code == "UNREADABLE_IMAGE"
    else:
        assert isinstance(outcome, ImageMetadata)
