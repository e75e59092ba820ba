"""qip_shared.av1: the sequence header's frame size from OBUs, on hand-built and real streams."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from qip_shared.av1 import Av1HeaderError, max_frame_size
from qip_shared.bits import BitReader, BitstreamError
from qip_shared.isobmff import read_heif_header
from qip_shared.testing.images import encode

TEMPORAL_DELIMITER = bytes([0x12, 0x00])  # type 2, has_size_field, size 0


def bits_to_bytes(fields: list[tuple[int, int]]) -> bytes:
    """Pack (value, width) fields big-endian, padded with zero bits to whole bytes."""
    text = "".join(format(value, f"0{width}b") for value, width in fields)
    text += "0" * (-len(text) % 8)
    return int(text, 2).to_bytes(len(text) // 8, "big") if text else b""


def obu(obu_type: int, payload: bytes, *, extension: bool = False) -> bytes:
    """An OBU with a size field (and an optional extension byte)."""
    header = bytes([(obu_type << 3) | (0x04 if extension else 0) | 0x02])
    return header + (b"\x00" if extension else b"") + leb128(len(payload)) + payload


def leb128(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def reduced_header(width: int, height: int) -> bytes:
    """A reduced still-picture sequence header (as AVIF stills carry)."""
    return bits_to_bytes(
        [(0, 3), (1, 1), (1, 1), (8, 5), (15, 4), (15, 4), (width - 1, 16), (height - 1, 16)]
    )


def full_header(width: int, height: int) -> bytes:
    """A full sequence header with timing info, a decoder model and two operating points."""
    fields = [(0, 3), (0, 1), (0, 1)]
    fields += [(1, 1), (1, 32), (30, 32), (1, 1), (0b00101, 5)]  # timing, uvlc 4 (00101)
    fields += [(1, 1), (9, 5), (1, 32), (4, 5), (4, 5)]  # decoder model: buffer delay 10 bits
    fields += [(1, 1), (1, 5)]  # initial display delay present; two operating points
    fields += [(0x101, 12), (9, 5), (1, 1), (1, 1), (3, 10), (4, 10), (0, 1), (1, 1), (2, 4)]
    fields += [(0x001, 12), (4, 5), (0, 1), (0, 1)]
    fields += [(12, 4), (11, 4), (width - 1, 13), (height - 1, 12)]
    return bits_to_bytes(fields)


def test_bit_reader_reads_fields_and_uvlc() -> None:
    reader = BitReader(bytes([0b1010_0000, 0b1001_1000]))
    assert reader.bits(3) == 0b101
    assert reader.bits(4) == 0
    assert reader.uvlc() == 1  # "0 1 0": one leading zero, then the bit 0
    assert reader.uvlc() == 2  # "0 1 1"
    with pytest.raises(BitstreamError):
        BitReader(b"\x00").bits(9)


@pytest.mark.parametrize("size", [(1, 1), (400, 267), (65536, 65536), (8192, 1)])
def test_a_reduced_still_picture_header(size: tuple[int, int]) -> None:
    obus = TEMPORAL_DELIMITER + obu(1, reduced_header(*size))
    assert max_frame_size(obus) == size


def test_a_full_header_with_timing_a_decoder_model_and_operating_points() -> None:
    assert max_frame_size(obu(1, full_header(5000, 3000))) == (5000, 3000)


def test_an_extension_byte_and_other_obus_before_the_header_are_skipped() -> None:
    padding = obu(15, b"\x00" * 40)
    obus = padding + obu(1, reduced_header(32, 16), extension=True)
    assert max_frame_size(obus) == (32, 16)


def test_an_obu_without_a_size_field_runs_to_the_end() -> None:
    assert max_frame_size(bytes([1 << 3]) + reduced_header(10, 20)) == (10, 20)


def test_no_sequence_header_is_none() -> None:
    assert max_frame_size(TEMPORAL_DELIMITER * 3) is None
    assert max_frame_size(b"") is None


@pytest.mark.parametrize(
    "obus",
    [
        obu(1, reduced_header(64, 64))[:-2],  # the OBU claims more than remains
        bytes([0x0A]) + b"\xff" * 9,  # an OBU size over eight bytes
        bytes([0x0A, 0x80]),  # an OBU size cut short
        obu(1, reduced_header(64, 64)[:3]),  # the header cut inside the sizes
        obu(1, full_header(64, 64)[:12]),  # cut inside the operating points
    ],
)
def test_cut_or_lying_streams_are_refused(obus: bytes) -> None:
    with pytest.raises(Av1HeaderError):
        max_frame_size(obus)


def test_the_corpus_avif_codes_its_claimed_size(corpus_dir: Path) -> None:
    header = read_heif_header((corpus_dir / "concert.avif").read_bytes())
    assert header.coded_frame == (400, 267) == (header.width, header.height)


# Issue 17 (AVIF in): the frame size read from libavif's own output is the size it encoded.
@given(st.integers(1, 96), st.integers(1, 96))
def test_libavif_streams_code_the_encoded_size(width: int, height: int) -> None:
    data = encode(Image.new("RGB", (width, height), (30, 60, 90)), "AVIF", quality=30)
    assert read_heif_header(data).coded_frame == (width, height)


# Property 3: Invalid file rejection — any bytes give a size, None or Av1HeaderError.
@given(st.binary(max_size=64))
def test_any_bytes_give_a_size_none_or_the_header_error(data: bytes) -> None:
    try:
        size = max_frame_size(data)
    except Av1HeaderError:
        return
    assert size is None or (size[0] >= 1 and size[1] >= 1)
