"""validate_image on HEIC/HEIF/AVIF: the pixel cap from `ispe` before any decoder; lying files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pillow_heif.as_plugin
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from qip_shared.config import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS
from qip_shared.enums import ImageFormat, RejectionReason
from qip_shared.errors import InvalidImageError
from qip_shared.testing.images import encode, oriented, quadrant_image
from qip_shared.testing.isobmff import ftyp, heif_file, hvcc, ispe, rewrite_ispe
from qip_validate.core import sniff_format, validate_image

LIMITS = {"max_bytes": DEFAULT_MAX_BYTES, "max_pixels": DEFAULT_MAX_PIXELS}


def reason_of(data: bytes, **limits: int) -> RejectionReason | None:
    """The rejection reason, or None when the image is accepted."""
    try:
        validate_image(data, **{**LIMITS, **limits})
    except InvalidImageError as exc:
        return exc.reason
    return None


@pytest.fixture
def decoder_spy(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every time a decoder is handed the bytes: Pillow's open and libheif's file."""
    calls: list[str] = []
    original_open = Image.open
    original_heif_file = pillow_heif.as_plugin.HeifFile

    def spy_open(*args: Any, **kwargs: Any) -> Any:
        calls.append("Image.open")
        return original_open(*args, **kwargs)

    def spy_heif_file(*args: Any, **kwargs: Any) -> Any:
        calls.append("HeifFile")
        return original_heif_file(*args, **kwargs)

    monkeypatch.setattr(Image, "open", spy_open)
    monkeypatch.setattr(pillow_heif.as_plugin, "HeifFile", spy_heif_file)
    return calls


@pytest.fixture(scope="module")
def heic() -> bytes:
    """A real 64x48 HEIC (64x64 coded, clap-cropped) whose boxes the tests rewrite."""
    return encode(quadrant_image((64, 48)), "HEIF")


# --- accepted ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fmt", "size", "frames"),
    [
        ("zPug_3.heic", ImageFormat.HEIC, (64, 64), 3),
        ("L_exif_xmp_iptc.heic", ImageFormat.HEIC, (64, 64), 1),
        ("RGBA_10__128x128.heif", ImageFormat.HEIC, (128, 128), 1),
        ("concert.avif", ImageFormat.AVIF, (400, 267), 1),
    ],
)
def test_corpus_containers_are_accepted_with_their_header_facts(
    corpus_dir: Path, name: str, fmt: ImageFormat, size: tuple[int, int], frames: int
) -> None:
    result = validate_image((corpus_dir / name).read_bytes(), **LIMITS)
    assert (result.format, (result.width, result.height), result.frames) == (fmt, size, frames)


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_the_size_reported_is_the_picture_before_its_rotation(fmt: str) -> None:
    result = validate_image(oriented(quadrant_image((64, 48)), 6, fmt), **LIMITS)
    assert (result.width, result.height) == (48, 64)  # stored turned; shown 64x48


def test_a_generic_mif1_heif_is_heif() -> None:
    data = encode(Image.new("RGB", (16, 16), (9, 99, 199)), "HEIF")
    generic = data[:8] + b"mif1" + data[12:]  # the same file under the structural brand
    assert sniff_format(generic[:64]) is ImageFormat.HEIC  # its compatible brands say heic
    assert validate_image(generic, **LIMITS).format is ImageFormat.HEIC


# --- the pixel cap, before any decoder ------------------------------------------------------


def test_the_corpus_claim_of_1600_megapixels_is_refused_without_a_decoder(
    corpus_dir: Path, decoder_spy: list[str]
) -> None:
    with pytest.raises(InvalidImageError) as caught:
        validate_image((corpus_dir / "heic-claims-40000x40000.heic").read_bytes(), **LIMITS)
    assert caught.value.reason is RejectionReason.TOO_MANY_PIXELS
    assert "40000x40000" in caught.value.message
    assert decoder_spy == []


@pytest.mark.parametrize("claim", [(10_001, 10_000), (0xFFFFFFFF, 0xFFFFFFFF), (1, 100_000_001)])
def test_huge_ispe_claims_are_too_many_pixels_without_a_decoder(
    heic: bytes, claim: tuple[int, int], decoder_spy: list[str]
) -> None:
    assert reason_of(rewrite_ispe(heic, *claim)) is RejectionReason.TOO_MANY_PIXELS
    assert decoder_spy == []


def test_the_cap_counts_the_coded_canvas(heic: bytes, decoder_spy: list[str]) -> None:
    # Coded 64x64 (4096 pixels), shown 64x48: the decoder allocates the coded size.
    assert reason_of(heic, max_pixels=4095) is RejectionReason.TOO_MANY_PIXELS
    assert decoder_spy == []
    assert reason_of(heic, max_pixels=4096) is None
    assert decoder_spy  # accepted files are decoded


def test_an_avif_over_the_cap_is_refused_without_a_decoder(
    corpus_dir: Path, decoder_spy: list[str]
) -> None:
    data = (corpus_dir / "concert.avif").read_bytes()
    assert reason_of(data, max_pixels=400 * 267 - 1) is RejectionReason.TOO_MANY_PIXELS
    assert decoder_spy == []


# --- containers that lie or do not decode ---------------------------------------------------


@pytest.mark.parametrize("claim", [(32, 32), (64, 65), (128, 128), (5000, 5000)])
def test_an_ispe_that_disagrees_with_the_coded_image_is_corrupt(
    heic: bytes, claim: tuple[int, int]
) -> None:
    assert reason_of(rewrite_ispe(heic, *claim)) is RejectionReason.CORRUPT


@pytest.mark.parametrize("claim", [(16, 16), (256, 64), (64, 256)])
def test_a_heic_whose_ispe_claims_less_than_its_sps_codes_is_corrupt_before_decoding(
    claim: tuple[int, int], decoder_spy: list[str]
) -> None:
    # The HEVC decoder would allocate the 256x256 picture the SPS codes before libheif objects
    # (a claim within one coding block of padding, 63 pixels, is left to libheif).
    heic = encode(Image.new("RGB", (256, 256), (40, 80, 120)), "HEIF")
    with pytest.raises(InvalidImageError) as caught:
        validate_image(rewrite_ispe(heic, *claim), **LIMITS)
    assert caught.value.reason is RejectionReason.CORRUPT
    assert "is 256x256 pixels" in caught.value.message
    assert decoder_spy == []


def test_a_coded_picture_over_the_cap_is_too_many_pixels_whatever_ispe_says(
    decoder_spy: list[str],
) -> None:
    # A small claim in front of an SPS coding 20000x20000: the SPS is what gets allocated.
    data = heif_file(ispe(64, 64), hvcc(20_000, 20_000))
    with pytest.raises(InvalidImageError) as caught:
        validate_image(data, **LIMITS)
    assert caught.value.reason is RejectionReason.TOO_MANY_PIXELS
    assert "20000x20000" in caught.value.message
    assert decoder_spy == []


@pytest.mark.parametrize("claim", [(100, 67), (400, 268), (800, 600), (9_000, 9_000)])
def test_an_avif_whose_ispe_disagrees_with_its_av1_stream_is_corrupt_before_decoding(
    corpus_dir: Path, claim: tuple[int, int], decoder_spy: list[str]
) -> None:
    # libavif would scale the 400x267 AV1 frame to any claim: the sequence header decides.
    data = (corpus_dir / "concert.avif").read_bytes()
    with pytest.raises(InvalidImageError) as caught:
        validate_image(rewrite_ispe(data, *claim), **LIMITS)
    assert caught.value.reason is RejectionReason.CORRUPT
    assert "is 400x267 pixels" in caught.value.message
    assert decoder_spy == []


@pytest.mark.parametrize(
    "data",
    [
        ftyp(b"heic", b"mif1") + b"\0" * 64,  # brands, then nothing
        heif_file(ispe(64, 48)),  # a header with no coded image behind it
        ftyp(b"avif", b"mif1") + b"\0\0\0\x10meta",  # a meta box cut short
    ],
)
def test_containers_without_a_decodable_image_are_corrupt(data: bytes) -> None:
    assert reason_of(data) is RejectionReason.CORRUPT


def test_truncated_and_corrupted_files_are_corrupt(corpus_dir: Path, heic: bytes) -> None:
    assert reason_of((corpus_dir / "corrupted.heic").read_bytes()) is RejectionReason.CORRUPT
    for cut in (40, len(heic) // 2, len(heic) - 10):
        assert reason_of(heic[:cut]) is RejectionReason.CORRUPT, cut
    avif = (corpus_dir / "concert.avif").read_bytes()
    assert reason_of(avif[: len(avif) // 2]) is RejectionReason.CORRUPT


FOR_PROPERTIES = {
    "HEIF": encode(quadrant_image((32, 24)), "HEIF"),
    "AVIF": encode(quadrant_image((32, 24)), "AVIF"),
}


# Property 3: Invalid file rejection — a HEIC or AVIF damaged anywhere is accepted or rejected
# with a reason code, never a crash (validate's typed rejections are the only way out).
@given(
    st.sampled_from(sorted(FOR_PROPERTIES)),
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=4),
)
def test_a_damaged_container_ends_as_a_verdict(fmt: str, edits: list[tuple[int, int]]) -> None:
    data = bytearray(FOR_PROPERTIES[fmt])
    for position, value in edits:
        data[position % len(data)] = value
    reason = reason_of(bytes(data))
    assert reason is None or reason in RejectionReason


def test_pillow_is_never_asked_to_open_an_unsniffed_container(decoder_spy: list[str]) -> None:
    mp4 = ftyp(b"isom", b"iso2", b"mp41") + b"\0" * 64
    assert reason_of(mp4) is RejectionReason.UNSUPPORTED_FORMAT
    assert decoder_spy == []


def test_heif_bytes_under_another_signature_are_not_opened_as_heif(heic: bytes) -> None:
    png_named = b"\x89PNG\r\n\x1a\n" + heic
    assert reason_of(png_named) is RejectionReason.CORRUPT
