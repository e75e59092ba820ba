"""qip_shared.hevc: the SPS picture size from an hvcC record, on hand-built and real streams."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from qip_shared.hevc import HevcHeaderError, _rbsp, picture_size
from qip_shared.isobmff import HEVC_PADDING, read_heif_header
from qip_shared.testing.images import encode
from qip_shared.testing.isobmff import heif_file, hvcc, ispe


def payload(record: bytes) -> bytes:
    """The hvcC box's payload (past size and type)."""
    return record[8:]


@pytest.mark.parametrize(
    ("size", "sub_layers", "chroma"),
    [((64, 64), 0, 1), ((4000, 3008), 0, 1), ((1, 1), 2, 3), ((8192, 4320), 7, 1)],
)
def test_hand_built_parameter_sets(size: tuple[int, int], sub_layers: int, chroma: int) -> None:
    assert picture_size(payload(hvcc(*size, sub_layers=sub_layers, chroma=chroma))) == size


def test_emulation_prevention_bytes_are_removed() -> None:
    assert _rbsp(b"\x00\x00\x03\x01\x00\x00\x03\x00\x00\x03") == b"\x00\x00\x01\x00\x00\x00\x00"
    assert _rbsp(b"\x00\x03\x00") == b"\x00\x03\x00"  # one zero is not a prefix


def test_corpus_and_libheif_streams_code_their_ispe_size_within_padding(corpus_dir: Path) -> None:
    for name in ("zPug_3.heic", "L_exif_xmp_iptc.heic", "RGBA_10__128x128.heif"):
        header = read_heif_header((corpus_dir / name).read_bytes())
        assert header.coded_frame == (header.width, header.height), name
        assert not header.codes_another_size


# Issue 17 (HEIC in): what x265 codes for any size is the ispe size, give or take block padding.
@given(st.integers(1, 80), st.integers(1, 80))
def test_libheif_streams_never_look_like_a_lie(width: int, height: int) -> None:
    header = read_heif_header(encode(Image.new("RGB", (width, height), (9, 9, 9)), "HEIF"))
    assert header.coded_frame is not None
    assert not header.codes_another_size
    assert header.displayed_size == (width, height)


def test_a_coded_picture_larger_than_the_claim_is_a_lie() -> None:
    header = read_heif_header(heif_file(ispe(64, 64), hvcc(64 + HEVC_PADDING + 1, 64)))
    assert header.coded_frame == (128, 64)
    assert header.codes_another_size
    smaller = read_heif_header(heif_file(ispe(64, 64), hvcc(56, 64)))
    assert smaller.codes_another_size  # a stream coding less than the claim lies too


def test_no_parameter_set_is_none() -> None:
    vps_only = bytes([1]) + b"\0" * 21 + bytes([1, 0x80 | 32]) + struct.pack(">HH", 1, 3) + b"@\1\0"
    assert picture_size(vps_only) is None


@pytest.mark.parametrize(
    "record",
    [
        b"\x01" + b"\0" * 10,  # cut inside the configuration header
        bytes([1]) + b"\0" * 21 + bytes([1, 0x80 | 33]),  # an array header cut short
        payload(hvcc(64, 64))[:-4],  # the SPS runs past the record
        payload(hvcc(0, 64)),  # a zero width
    ],
)
def test_cut_or_empty_records_are_refused(record: bytes) -> None:
    with pytest.raises(HevcHeaderError):
        picture_size(record)


# Property 3: Invalid file rejection — any bytes give a size, None or HevcHeaderError.
@given(st.binary(max_size=80))
def test_any_bytes_give_a_size_none_or_the_header_error(data: bytes) -> None:
    try:
        size = picture_size(data)
    except HevcHeaderError:
        return
    assert size is None or min(size) >= 1
