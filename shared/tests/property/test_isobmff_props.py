"""Property tests of qip_shared.isobmff (issue 17: HEIF/AVIF headers judged before any decode).

Property 3: Invalid file rejection — a hostile container must end as a typed rejection, so the
header reader raises only HeifHeaderError on any bytes. The orientation properties are issue 17's
own ("irot/imir applied"), checked against Pillow's transposes rather than our own table.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from qip_shared.imaging import upright_size
from qip_shared.isobmff import HeifHeader, HeifHeaderError, read_heif_header
from qip_shared.testing.isobmff import clap, heif_file, imir, irot, ispe

# What each property does to the stored picture, as Pillow spells it.
ROTATE = {0: None, 1: Image.Transpose.ROTATE_90, 2: Image.Transpose.ROTATE_180}
ROTATE[3] = Image.Transpose.ROTATE_270
MIRROR = {0: Image.Transpose.FLIP_TOP_BOTTOM, 1: Image.Transpose.FLIP_LEFT_RIGHT}
EXIF_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
transforms = st.lists(
    st.one_of(
        st.tuples(st.just("irot"), st.integers(0, 3)),
        st.tuples(st.just("imir"), st.integers(0, 1)),
    ),
    max_size=5,
)
VALID = heif_file(ispe(64, 48), clap(60, 40), irot(1), imir(1))


def read_or_refuse(data: bytes) -> HeifHeader | None:
    """The header, or None when the reader refused it with its own error."""
    try:
        return read_heif_header(data)
    except HeifHeaderError:
        return None


# Property 3: Invalid file rejection — any bytes give a header or HeifHeaderError, nothing else.
@given(st.binary(max_size=512))
def test_any_bytes_give_a_header_or_the_header_error(data: bytes) -> None:
    read_or_refuse(data)


# Property 3: Invalid file rejection — a valid header with bytes overwritten anywhere still gives
# a header with a positive size, or HeifHeaderError.
@given(st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), max_size=6))
def test_mutated_headers_give_a_sane_header_or_the_header_error(
    edits: list[tuple[int, int]],
) -> None:
    data = bytearray(VALID)
    for position, value in edits:
        data[position] = value
    header = read_or_refuse(bytes(data))
    if header is not None:
        assert header.width >= 1
        assert header.height >= 1
        assert 1 <= header.displayed_width <= max(header.width, header.height)
        assert 1 <= header.orientation <= 8


# Property 3: Invalid file rejection — a real AVIF (iloc, av1C, the AV1 sequence header) with
# bytes overwritten in its header or first media bytes gives a header or HeifHeaderError.
@given(st.lists(st.tuples(st.integers(0, 799), st.integers(0, 255)), min_size=1, max_size=6))
def test_mutated_avif_headers_give_a_header_or_the_header_error(
    corpus_dir: Path, edits: list[tuple[int, int]]
) -> None:
    data = bytearray((corpus_dir / "concert.avif").read_bytes())
    for position, value in edits:
        data[position] = value
    header = read_or_refuse(bytes(data))
    if header is not None and header.coded_frame is not None:
        assert min(header.coded_frame) >= 1


# Issue 17, irot/imir applied: for any sequence of irot/imir, showing the stored picture by the
# header's EXIF orientation gives the same pixels as applying each property in turn.
@given(transforms, st.integers(1, 6), st.integers(1, 6))
def test_the_orientation_is_the_composition_of_irot_and_imir(
    steps: list[tuple[str, int]], width: int, height: int
) -> None:
    properties = [irot(value) if kind == "irot" else imir(value) for kind, value in steps]
    header = read_heif_header(heif_file(ispe(width, height), *properties))
    stored = Image.frombytes("L", (width, height), bytes(range(width * height)))
    expected = stored
    for kind, value in steps:
        method = ROTATE[value] if kind == "irot" else MIRROR[value]
        expected = expected if method is None else expected.transpose(method)
    by_orientation = EXIF_TRANSPOSE.get(header.orientation)
    shown = stored if by_orientation is None else stored.transpose(by_orientation)
    assert shown.tobytes() == expected.tobytes()
    assert header.displayed_size == expected.size == upright_size(stored.size, header.orientation)
