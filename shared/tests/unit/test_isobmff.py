"""qip_shared.isobmff: ftyp brands, the primary image's ispe/clap/irot/imir, hostile boxes."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from qip_shared.enums import ImageFormat
from qip_shared.isobmff import (
    MAX_BOXES,
    HeifHeader,
    HeifHeaderError,
    ftyp_brands,
    ftyp_format,
    read_heif_header,
)
from qip_shared.signatures import SNIFF_BYTES, sniff_format
from qip_shared.testing.images import encode, oriented, quadrant_image
from qip_shared.testing.isobmff import (
    box,
    clap,
    ftyp,
    full_box,
    heif_file,
    imir,
    irot,
    ispe,
    meta,
)

# --- brands -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("brand", "fmt"),
    [
        *((b, ImageFormat.HEIC) for b in (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis")),
        (b"mif1", ImageFormat.HEIF),
        (b"msf1", ImageFormat.HEIF),
        (b"avif", ImageFormat.AVIF),
        (b"avis", ImageFormat.AVIF),
    ],
)
def test_every_accepted_major_brand_is_recognised(brand: bytes, fmt: ImageFormat) -> None:
    head = ftyp(brand, brand)
    assert ftyp_format(head) is fmt
    assert sniff_format(head) is fmt


def test_a_generic_major_brand_takes_the_codec_from_the_compatible_brands() -> None:
    assert ftyp_format(ftyp(b"mif1", b"miaf", b"avif")) is ImageFormat.AVIF
    assert ftyp_format(ftyp(b"msf1", b"iso8", b"hevc")) is ImageFormat.HEIC
    assert ftyp_format(ftyp(b"miaf", b"MiHB", b"mif1")) is ImageFormat.HEIF
    assert ftyp_format(ftyp(b"MiHE", b"heic")) is ImageFormat.HEIC


@pytest.mark.parametrize(
    "head",
    [
        ftyp(b"isom", b"iso2", b"mp41"),  # an MP4 video
        ftyp(b"qt  "),  # a QuickTime movie
        ftyp(b"crx "),  # a camera raw
        b"\0\0\0\x08ftypheic",  # a box too small to hold a brand
        b"\0\0\0\x18ftyphe",  # cut inside the major brand
        b"\0\0\0\x18moovheic\0\0\0\0",  # not an ftyp box
        b"",
    ],
)
def test_other_files_and_cut_headers_are_not_images(head: bytes) -> None:
    assert ftyp_format(head) is None
    assert sniff_format(head) is None


def test_brands_are_read_only_within_the_ftyp_box_and_the_bytes_given() -> None:
    head = ftyp(b"isom", b"mp41") + box(b"avif")  # "avif" after the ftyp box is not a brand
    assert ftyp_brands(head) == [b"isom", b"mp41"]
    assert ftyp_format(head) is None
    long = ftyp(b"isom", *([b"mp41"] * 20), b"heic")  # the codec brand beyond what is read
    assert ftyp_format(long[:SNIFF_BYTES]) is None
    assert ftyp_format(long) is ImageFormat.HEIC


# --- the primary image --------------------------------------------------------------------------


def test_corpus_headers(corpus_dir: Path) -> None:
    def header(name: str) -> HeifHeader:
        return read_heif_header((corpus_dir / name).read_bytes())

    claims = header("heic-claims-40000x40000.heic")
    assert (claims.width, claims.height, claims.pixels) == (40000, 40000, 1_600_000_000)
    assert header("zPug_3.heic").displayed_size == (64, 64)
    assert header("concert.avif").displayed_size == (400, 267)
    ten_bit = header("RGBA_10__128x128.heif")
    assert (ten_bit.displayed_size, ten_bit.bit_depth) == ((128, 128), 10)
    with pytest.raises(HeifHeaderError, match="claims"):
        header("corrupted.heic")


@pytest.mark.parametrize(
    ("transforms", "orientation", "shown"),
    [
        ((), 1, (64, 48)),
        ((imir(1),), 2, (64, 48)),
        ((irot(2),), 3, (64, 48)),
        ((imir(0),), 4, (64, 48)),
        ((irot(1), imir(0)), 5, (48, 64)),
        ((irot(3),), 6, (48, 64)),
        ((irot(1), imir(1)), 7, (48, 64)),
        ((irot(1),), 8, (48, 64)),
        ((irot(3), imir(0)), 7, (48, 64)),
        ((irot(2), irot(2)), 1, (64, 48)),
        ((imir(1), imir(1)), 1, (64, 48)),
    ],
)
def test_irot_and_imir_give_the_exif_orientation_and_the_shown_size(
    transforms: tuple[bytes, ...], orientation: int, shown: tuple[int, int]
) -> None:
    header = read_heif_header(heif_file(ispe(64, 48), *transforms))
    assert (header.width, header.height) == (64, 48)
    assert header.orientation == orientation
    assert header.displayed_size == shown
    assert header.stored_size == (64, 48)


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_the_orientation_matches_what_libheif_and_libavif_write(fmt: str, orientation: int) -> None:
    # pillow-heif and Pillow's AVIF encoder turn an EXIF orientation into irot/imir boxes.
    header = read_heif_header(oriented(quadrant_image((64, 48)), orientation, fmt))
    assert header.orientation == orientation
    assert header.displayed_size == (64, 48)


def test_clean_aperture_crops_before_rotation() -> None:
    header = read_heif_header(heif_file(ispe(128, 64), clap(100, 50), irot(1)))
    assert (header.width, header.height) == (128, 64)  # the cap counts the coded canvas
    assert header.displayed_size == (50, 100)
    assert header.stored_size == (100, 50)
    # pillow-heif pads a 64x48 picture to a 64x64 coded image and crops it back with clap.
    real = read_heif_header(encode(quadrant_image((64, 48)), "HEIF"))
    assert (real.width, real.height, real.displayed_size) == (64, 64, (64, 48))


def test_larger_and_zero_clean_apertures() -> None:
    assert read_heif_header(heif_file(ispe(64, 48), clap(640, 480))).displayed_size == (64, 48)
    zero = box(b"clap", struct.pack(">IIIIiIiI", 10, 0, 10, 1, 0, 1, 0, 1))
    with pytest.raises(HeifHeaderError, match="denominator"):
        read_heif_header(heif_file(ispe(64, 48), zero))


def test_only_the_primary_items_properties_count() -> None:
    # Item 1 (primary) has the 640x480 size only; item 2 a 1x1 size and a quarter turn.
    properties = (ispe(640, 480), ispe(1, 1), irot(1))
    data = ftyp(b"heic") + meta(properties, {2: bytes([2, 2, 3]), 1: bytes([1, 1])})
    header = read_heif_header(data)
    assert (header.displayed_size, header.orientation) == ((640, 480), 1)
    other = ftyp(b"heic") + meta(properties, {2: bytes([1, 1]), 1: bytes([2, 2, 3])})
    assert read_heif_header(other).displayed_size == (1, 1)


def test_ipma_version_1_and_wide_indices() -> None:
    wide = heif_file(ispe(20, 10), irot(1), ipma_version=1)
    assert read_heif_header(wide).displayed_size == (10, 20)
    # flags & 1: 16-bit indices with the "essential" top bit set.
    props = box(b"ipco", ispe(20, 10) + irot(3))
    ipma = full_box(
        b"ipma", struct.pack(">IHB", 1, 1, 2) + struct.pack(">HH", 0x8001, 0x8002), flags=1
    )
    meta_box = full_box(
        b"meta", full_box(b"pitm", struct.pack(">H", 1)) + box(b"iprp", props + ipma)
    )
    assert read_heif_header(ftyp(b"heic") + meta_box).orientation == 6


def test_large_and_open_ended_box_sizes() -> None:
    data = heif_file()
    meta_at = data.index(b"meta") - 4
    size = struct.unpack(">I", data[meta_at : meta_at + 4])[0]
    # 64-bit largesize: the same box with a 16-byte header.
    large = data[:meta_at] + b"\0\0\0\x01meta" + struct.pack(">Q", size + 8) + data[meta_at + 8 :]
    assert read_heif_header(large).displayed_size == (64, 48)
    # Size 0: the box runs to the end of the file (here the meta box is last).
    last = data[: data.index(b"mdat") - 4]
    open_ended = last[:meta_at] + b"\0\0\0\0" + last[meta_at + 4 :]
    assert read_heif_header(open_ended).displayed_size == (64, 48)


# --- hostile boxes ------------------------------------------------------------------------------


def test_every_truncation_raises_the_header_error_or_reads_the_same_header() -> None:
    data = heif_file(ispe(64, 48), clap(60, 40), irot(1))
    expected = read_heif_header(data)
    for cut in range(len(data)):
        try:
            header = read_heif_header(data[:cut])
        except HeifHeaderError:
            continue
        assert header == expected, cut  # only the empty mdat may be missing


def test_a_box_claiming_more_than_remains_is_refused() -> None:
    data = bytearray(heif_file())
    meta_at = data.index(b"meta") - 4
    data[meta_at : meta_at + 4] = struct.pack(">I", 1 << 30)
    with pytest.raises(HeifHeaderError, match="claims 1073741824 bytes"):
        read_heif_header(bytes(data))
    data[meta_at : meta_at + 4] = struct.pack(">I", 1)  # a 64-bit largesize, cut short below
    with pytest.raises(HeifHeaderError):
        read_heif_header(bytes(data[: meta_at + 12]))


@pytest.mark.parametrize("size", [2, 7])
def test_a_box_smaller_than_its_header_is_refused(size: int) -> None:
    data = bytearray(heif_file())
    meta_at = data.index(b"meta") - 4
    data[meta_at : meta_at + 4] = struct.pack(">I", size)
    with pytest.raises(HeifHeaderError, match=f"claims {size} bytes"):
        read_heif_header(bytes(data))


def test_a_child_box_overrunning_its_parent_is_refused() -> None:
    lying_ispe = struct.pack(">I", 200) + b"ispe" + b"\0" * 12  # claims 200, parent holds 20
    with pytest.raises(HeifHeaderError, match="claims 200 bytes"):
        read_heif_header(heif_file(lying_ispe))


def test_a_cut_short_ispe_is_refused() -> None:
    short = box(b"ispe", b"\0\0\0\0\0\0\0\x40")  # version/flags and a width, no height
    with pytest.raises(HeifHeaderError, match="runs past its box"):
        read_heif_header(heif_file(short))


def test_missing_or_empty_sizes_are_refused() -> None:
    with pytest.raises(HeifHeaderError, match="no spatial extent"):
        read_heif_header(heif_file(irot(1)))
    with pytest.raises(HeifHeaderError, match="0x48"):
        read_heif_header(heif_file(ispe(0, 48)))


def test_no_meta_no_primary_item_or_no_properties_is_refused() -> None:
    with pytest.raises(HeifHeaderError, match="no meta box"):
        read_heif_header(ftyp(b"heic") + box(b"mdat", b"\0" * 16))
    no_pitm = ftyp(b"heic") + full_box(b"meta", box(b"iprp", box(b"ipco", ispe(1, 1))))
    with pytest.raises(HeifHeaderError, match="no primary item"):
        read_heif_header(no_pitm)


def test_a_property_index_past_the_container_is_refused() -> None:
    props = box(b"ipco", ispe(20, 10))
    ipma = full_box(b"ipma", struct.pack(">IHB", 1, 1, 1) + bytes([5]))
    meta_box = full_box(
        b"meta", full_box(b"pitm", struct.pack(">H", 1)) + box(b"iprp", props + ipma)
    )
    with pytest.raises(HeifHeaderError, match="past the property container"):
        read_heif_header(ftyp(b"heic") + meta_box)


def test_an_association_count_larger_than_its_box_is_refused_at_once() -> None:
    props = box(b"ipco", ispe(20, 10))
    ipma = full_box(b"ipma", struct.pack(">IHB", 0xFFFFFFFF, 1, 1) + bytes([1]))
    meta_box = full_box(
        b"meta", full_box(b"pitm", struct.pack(">H", 1)) + box(b"iprp", props + ipma)
    )
    with pytest.raises(HeifHeaderError, match="runs past its box"):
        read_heif_header(ftyp(b"heic") + meta_box)


def test_a_flood_of_boxes_is_refused() -> None:
    flood = box(b"free") * (MAX_BOXES + 1)
    with pytest.raises(HeifHeaderError, match=f"more than {MAX_BOXES} boxes"):
        read_heif_header(heif_file(ispe(64, 48), flood))


def test_huge_claims_are_read_not_believed() -> None:
    # The header reader only reports; validate compares it with the cap before any decode.
    header = read_heif_header(heif_file(ispe(0xFFFFFFFF, 0xFFFFFFFF)))
    assert header.pixels == 0xFFFFFFFF**2


def test_an_av1_item_whose_data_lies_past_the_end_is_refused(corpus_dir: Path) -> None:
    data = (corpus_dir / "concert.avif").read_bytes()
    without_media = data[: data.index(b"mdat") - 4]
    with pytest.raises(HeifHeaderError, match="past the end"):
        read_heif_header(without_media)


def test_an_item_location_with_an_invalid_field_size_is_refused(corpus_dir: Path) -> None:
    data = bytearray((corpus_dir / "concert.avif").read_bytes())
    sizes_at = data.index(b"iloc") + 8  # after type, version and flags
    data[sizes_at] = 0x24  # offset size 2, length size 4: 2 is not an allowed size
    with pytest.raises(HeifHeaderError, match="field of 2 bytes"):
        read_heif_header(bytes(data))
