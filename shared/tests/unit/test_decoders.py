"""qip_shared.imaging's HEIF and AVIF decoding: which decoders start, orientation, depth, alpha."""

from __future__ import annotations

import io
import struct
from pathlib import Path
from typing import Any

import pillow_heif
import pytest
from PIL import Image

from qip_shared import imaging
from qip_shared.imaging import (
    LIBHEIF_VERSION,
    MIN_LIBHEIF_VERSION,
    UnsafeDecoderError,
    decode_upright,
    register_decoders,
)
from qip_shared.isobmff import read_heif_header
from qip_shared.testing.images import (
    QUADRANTS,
    close,
    encode,
    oriented,
    quadrant_colours,
    quadrant_image,
)

UPRIGHT = (64, 48)


# --- which decoders start --------------------------------------------------------------------


def test_heif_and_avif_are_registered_with_a_patched_libheif() -> None:
    Image.init()  # Pillow loads its own plugins lazily
    assert "HEIF" in Image.OPEN
    assert "AVIF" in Image.OPEN
    assert imaging._version_tuple(LIBHEIF_VERSION) >= MIN_LIBHEIF_VERSION
    assert register_decoders() == LIBHEIF_VERSION  # registering again is harmless


@pytest.mark.parametrize("version", ["1.23.0", "1.23.3", "1.19.8", "1.17.6", "0.9", "unknown"])
def test_a_libheif_older_than_the_security_fixes_is_refused(
    monkeypatch: pytest.MonkeyPatch, version: str
) -> None:
    monkeypatch.setattr(pillow_heif, "libheif_version", lambda: version)
    with pytest.raises(UnsafeDecoderError, match=rf"libheif {version}, older than 1\.23\.4"):
        register_decoders()


@pytest.mark.parametrize("version", ["1.23.4", "1.23.7", "1.24.0", "2.0.0", "1.23.10-rc1"])
def test_a_libheif_with_the_fixes_is_accepted(
    monkeypatch: pytest.MonkeyPatch, version: str
) -> None:
    monkeypatch.setattr(pillow_heif, "libheif_version", lambda: version)
    assert register_decoders() == version


def test_a_pillow_without_avif_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imaging.features, "check", lambda feature: feature != "avif")
    with pytest.raises(UnsafeDecoderError, match="without AVIF"):
        register_decoders()


def test_the_decoder_is_named_for_lineage() -> None:
    assert imaging.decoder_version("HEIF") == (
        f"pillow-heif {pillow_heif.__version__} HEIF (libheif {LIBHEIF_VERSION})"
    )


# --- orientation: irot/imir, once -----------------------------------------------------------


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_irot_and_imir_are_applied_once(fmt: str, orientation: int) -> None:
    # The encoders write irot/imir for the orientation; pillow-heif also keeps the EXIF tag.
    data = oriented(quadrant_image(UPRIGHT), orientation, fmt)
    decoded = decode_upright(data, UPRIGHT)
    assert decoded.image.size == decoded.source_size == UPRIGHT
    assert decoded.image.info == {}
    for actual, expected in zip(quadrant_colours(decoded.image), QUADRANTS, strict=True):
        assert close(actual, expected), (orientation, quadrant_colours(decoded.image))


def test_a_heic_exif_orientation_without_irot_is_not_applied() -> None:
    # pillow-heif writes EXIF orientation 6 and irot 3; with the irot angle zeroed only the
    # EXIF tag remains, which HEIF readers must ignore: the picture shows as stored.
    data = oriented(quadrant_image(UPRIGHT), 6, "HEIF")
    at = data.index(b"irot")
    data = data[: at + 4] + b"\x00" + data[at + 5 :]
    exif = Image.Exif()
    exif.load(pillow_heif.open_heif(io.BytesIO(data)).info["exif"])
    assert exif[0x0112] == 6
    decoded = decode_upright(data, UPRIGHT)
    stored = quadrant_image(UPRIGHT).transpose(Image.Transpose.ROTATE_90)
    assert decoded.image.size == stored.size
    for actual, expected in zip(
        quadrant_colours(decoded.image), quadrant_colours(stored), strict=True
    ):
        assert close(actual, expected)


def test_an_avif_xmp_orientation_is_not_applied() -> None:
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:Description tiff:Orientation="6"/></x:xmpmeta>'
    data = encode(quadrant_image(UPRIGHT), "AVIF", xmp=xmp)
    assert Image.open(io.BytesIO(data)).getexif().get(0x0112) == 6  # what Pillow alone would do
    decoded = decode_upright(data, UPRIGHT)
    assert decoded.image.size == UPRIGHT
    for actual, expected in zip(quadrant_colours(decoded.image), QUADRANTS, strict=True):
        assert close(actual, expected)


# --- pixels: primary image, depth, alpha -----------------------------------------------------


def test_the_primary_image_of_a_multi_image_file_is_decoded() -> None:
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    pictures = [Image.new("RGB", (32 + 16 * i, 32), c) for i, c in enumerate(colours)]
    data = encode(pictures[0], "HEIF", save_all=True, append_images=pictures[1:], primary_index=1)
    decoded = decode_upright(data, (64, 64))
    assert decoded.image.size == (48, 32)
    assert close(decoded.image.getpixel((5, 5)), colours[1], tolerance=8)  # type: ignore[arg-type]


def ramp_heif(bits: int, monkeypatch: pytest.MonkeyPatch) -> tuple[bytes, list[int]]:
    """A 64x16 grey ramp over the whole 16-bit range, saved as a `bits`-bit HEIC."""
    values = [round(x * 65535 / 63) for x in range(64)]
    row = b"".join(struct.pack("<HHH", v, v, v) for v in values)
    monkeypatch.setattr(pillow_heif.options, "SAVE_HDR_TO_12_BIT", bits == 12)
    heif = pillow_heif.from_bytes(mode="RGB;16", size=(64, 16), data=row * 16)
    buffer = io.BytesIO()
    heif.save(buffer, quality=-1)
    return buffer.getvalue(), values


@pytest.mark.parametrize("bits", [10, 12])
def test_deep_heic_is_scaled_to_eight_bits_not_clipped(
    bits: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, values = ramp_heif(bits, monkeypatch)
    assert read_heif_header(data).bit_depth == bits
    image = decode_upright(data, (64, 16)).image
    decoded = [image.getpixel((x, 8))[0] for x in range(64)]  # type: ignore[index]
    # Clipping would saturate everything above 255/1023 (or /4095) of the range.
    assert all(abs(d - v / 257) <= 2 for d, v in zip(decoded, values, strict=True)), decoded
    assert decoded[32] < 140


def test_ten_bit_alpha_is_flattened_on_white(corpus_dir: Path) -> None:
    data = (corpus_dir / "RGBA_10__128x128.heif").read_bytes()
    with Image.open(io.BytesIO(data)) as source:
        source.load()
        rgba = source.convert("RGBA")
    assert rgba.getchannel("A").getextrema() == (1, 255)  # nearly transparent to opaque
    on_white = Image.new("RGB", rgba.size, (255, 255, 255))
    on_white.paste(rgba, mask=rgba.getchannel("A"))
    decoded = decode_upright(data, (128, 128)).image
    assert decoded.mode == "RGB"
    for y in range(0, 128, 8):
        for x in range(0, 128, 8):
            assert close(decoded.getpixel((x, y)), on_white.getpixel((x, y)), tolerance=2)  # type: ignore[arg-type]
    on_black = Image.new("RGB", rgba.size)
    on_black.paste(rgba, mask=rgba.getchannel("A"))
    assert decoded.tobytes() != on_black.tobytes()


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("zPug_3.heic", (64, 64)),
        ("L_exif_xmp_iptc.heic", (64, 64)),
        ("RGBA_10__128x128.heif", (128, 128)),
        ("concert.avif", (400, 267)),
    ],
)
def test_corpus_files_decode_to_their_shown_size_without_metadata(
    corpus_dir: Path, name: str, shown: tuple[int, int]
) -> None:
    decoded = decode_upright((corpus_dir / name).read_bytes(), shown)
    assert decoded.image.size == decoded.source_size == shown
    assert decoded.image.mode == "RGB"
    assert decoded.image.info == {}


@pytest.mark.parametrize("name", ["corrupted.heic"])
def test_a_corrupt_heic_is_a_decode_error(corpus_dir: Path, name: str) -> None:
    with pytest.raises(imaging.ImageDecodeError):
        decode_upright((corpus_dir / name).read_bytes(), (64, 64))


def test_only_the_accepted_decoders_see_the_bytes(monkeypatch: Any) -> None:
    assert set(imaging.DECODABLE_FORMATS) == {"JPEG", "PNG", "GIF", "WEBP", "HEIF", "AVIF"}


def test_a_tiled_heic_like_a_phones_is_decoded_whole_and_upright(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Phones write a grid of 512x512 HEVC tiles with irot; 256 keeps the test small.
    monkeypatch.setattr(pillow_heif.options, "GRID_TILE_SIZE", 256)
    data = oriented(quadrant_image((1000, 750)), 6, "HEIF")
    header = read_heif_header(data)
    assert (header.width, header.height, header.orientation) == (750, 1000, 6)
    assert header.coded_frame is None  # a grid's tiles are coded, not the grid itself
    decoded = decode_upright(data, (1000, 750))
    assert decoded.image.size == (1000, 750)
    for actual, expected in zip(quadrant_colours(decoded.image), QUADRANTS, strict=True):
        assert close(actual, expected)
