"""validate_image: format sniffing, byte and pixel limits, cheap decode, typed rejections."""

from __future__ import annotations

import io
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from PIL import GifImagePlugin, Image, ImageFile, JpegImagePlugin, PngImagePlugin, WebPImagePlugin

from qip_shared.config import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS
from qip_shared.enums import ImageFormat, RejectionReason
from qip_shared.errors import InvalidImageError, PermanentError
from qip_validate.core import (
    ValidationResult,
    count_gif_frames,
    sniff_format,
    validate_image,
    webp_header,
)

LIMITS = {"max_bytes": DEFAULT_MAX_BYTES, "max_pixels": DEFAULT_MAX_PIXELS}
BOMBS = ["bomb-30000x30000.png", "flood-12000x12000.png", "65536-uint32-limit.png"]


def reason_of(data: bytes, **limits: int) -> RejectionReason | None:
    """The rejection reason, or None when the image is accepted."""
    try:
        validate_image(data, **{**LIMITS, **limits})
    except InvalidImageError as exc:
        return exc.reason
    return None


@pytest.fixture
def decode_spy(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every pixel decode (`load`) of any plugin, so a test can require there was none."""
    calls: list[str] = []
    classes = [
        ImageFile.ImageFile,
        JpegImagePlugin.JpegImageFile,
        PngImagePlugin.PngImageFile,
        GifImagePlugin.GifImageFile,
        WebPImagePlugin.WebPImageFile,
    ]
    for cls in classes:
        original = cls.__dict__.get("load")
        if original is None:
            continue

        def spy(self: Any, _original: Any = original, _name: str = cls.__name__) -> Any:
            calls.append(_name)
            return _original(self)

        monkeypatch.setattr(cls, "load", spy)
    return calls


# --- the corpus ---------------------------------------------------------------------------


def test_every_corpus_file_gets_its_manifest_verdict(
    corpus_name: str, corpus_dir: Path, manifest: dict[str, dict[str, Any]]
) -> None:
    expected = manifest[corpus_name]
    data = (corpus_dir / corpus_name).read_bytes()
    if expected["status"] == "COMPLETED":
        result = validate_image(data, **LIMITS)
        assert result.width * result.height > 0
        assert result.frames >= 1
    else:
        with pytest.raises(InvalidImageError) as caught:
            validate_image(data, **LIMITS)
        assert caught.value.reason.value == expected["reason"]
        assert caught.value.code == expected["reason"]
        assert caught.value.message


def test_rejection_is_a_permanent_error() -> None:
    with pytest.raises(PermanentError):
        validate_image(b"plain text, not an image", **LIMITS)


@pytest.mark.parametrize("name", BOMBS)
def test_bombs_are_refused_from_the_header_without_decoding(
    name: str, corpus_dir: Path, decode_spy: list[str]
) -> None:
    data = (corpus_dir / name).read_bytes()
    tracemalloc.start()
    try:
        with pytest.raises(InvalidImageError) as caught:
            validate_image(data, **LIMITS)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert caught.value.reason is RejectionReason.TOO_MANY_PIXELS
    assert peak < 50 * 1024 * 1024, f"validating {name} allocated {peak} bytes"
    assert decode_spy == []


def test_pillow_global_limit_is_left_alone(corpus_dir: Path) -> None:
    before = Image.MAX_IMAGE_PIXELS
    for name in BOMBS:
        reason_of((corpus_dir / name).read_bytes())
    assert before == Image.MAX_IMAGE_PIXELS


# --- generated hostile files -----------------------------------------------------------------


def test_gif_with_thousands_of_frames_is_too_many_pixels_cheaply(
    hostile: dict[str, Any], decode_spy: list[str]
) -> None:
    data = hostile["gif_flood"]((400, 400), 5000)  # 800 MP in total, ~80 KB on disk
    started = time.perf_counter()
    assert reason_of(data) is RejectionReason.TOO_MANY_PIXELS
    assert time.perf_counter() - started < 1.0
    assert decode_spy == []


def test_gif_frame_flood_counts_frames_until_the_cap(hostile: dict[str, Any]) -> None:
    data = hostile["gif_flood"]((10, 10), 3000)
    assert count_gif_frames(data) == 3000
    assert count_gif_frames(data, stop_after=7) == 7
    # 10x10 canvas x 3000 frames = 300,000 pixels: the cap decides on the total.
    assert reason_of(data, max_pixels=299_999) is RejectionReason.TOO_MANY_PIXELS
    assert validate_image(data, max_bytes=DEFAULT_MAX_BYTES, max_pixels=300_000).frames == 3000


def test_webp_with_thousands_of_frames_is_too_many_pixels_cheaply(
    make_animation: Any, hostile: dict[str, Any], decode_spy: list[str]
) -> None:
    data = hostile["webp_flood"](make_animation("WEBP", (200, 200), 2), 4000)  # 160 MP
    assert webp_header(data) == (200, 200, 4000)
    started = time.perf_counter()
    assert reason_of(data) is RejectionReason.TOO_MANY_PIXELS
    assert time.perf_counter() - started < 1.0
    assert decode_spy == []


def test_jpeg_claiming_65500_squared_is_refused_from_the_header(
    make_image: Any, hostile: dict[str, Any], decode_spy: list[str]
) -> None:
    data = hostile["jpeg_with_size"](make_image("JPEG", (16, 16)), 65500, 65500)
    with pytest.raises(Image.DecompressionBombError, match="4290250000 pixels"):
        Image.open(io.BytesIO(data))  # the patched header really claims 65500 x 65500
    tracemalloc.start()
    try:
        assert reason_of(data) is RejectionReason.TOO_MANY_PIXELS
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50 * 1024 * 1024
    assert decode_spy == []


@pytest.mark.parametrize("size", [(0, 0), (16, 0), (0, 16)])
def test_zero_size_headers_are_corrupt(
    make_image: Any, hostile: dict[str, Any], size: tuple[int, int]
) -> None:
    data = hostile["jpeg_with_size"](make_image("JPEG", (16, 16)), *size)
    assert reason_of(data) is RejectionReason.CORRUPT


def test_jpeg_header_just_over_a_small_cap(make_image: Any, hostile: dict[str, Any]) -> None:
    data = hostile["jpeg_with_size"](make_image("JPEG", (16, 16)), 3000, 3000)
    assert reason_of(data, max_pixels=8_999_999) is RejectionReason.TOO_MANY_PIXELS


def test_pillow_warning_band_is_decided_by_our_cap(
    corpus_dir: Path, make_image: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 144 MP is between Pillow's warning (89 MP) and error (179 MP) thresholds.
    data = (corpus_dir / "flood-12000x12000.png").read_bytes()
    assert reason_of(data, max_pixels=143_999_999) is RejectionReason.TOO_MANY_PIXELS
    # Scale Pillow's thresholds down (restored after the test) to exercise the band cheaply:
    # the warning never escapes (conftest makes it an error) and our cap alone decides.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    in_band = make_image("PNG", (40, 40))  # 1,600 px: Pillow would only warn
    assert reason_of(in_band, max_pixels=1600) is None
    assert reason_of(in_band, max_pixels=1599) is RejectionReason.TOO_MANY_PIXELS
    over_band = make_image("PNG", (50, 50))  # 2,500 px: Pillow refuses outright
    assert reason_of(over_band, max_pixels=10_000) is RejectionReason.TOO_MANY_PIXELS


# --- formats, bytes, pixels ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pillow_format", "mode", "expected"),
    [
        ("JPEG", "RGB", ImageFormat.JPEG),
        ("JPEG", "L", ImageFormat.JPEG),
        ("JPEG", "CMYK", ImageFormat.JPEG),
        ("PNG", "RGBA", ImageFormat.PNG),
        ("PNG", "P", ImageFormat.PNG),
        ("PNG", "I;16", ImageFormat.PNG),
        ("GIF", "P", ImageFormat.GIF),
        ("WEBP", "RGB", ImageFormat.WEBP),
        ("WEBP", "RGBA", ImageFormat.WEBP),
    ],
)
def test_accepts_each_supported_format(
    make_image: Any, pillow_format: str, mode: str, expected: ImageFormat
) -> None:
    result = validate_image(make_image(pillow_format, (37, 23), mode), **LIMITS)
    assert result == ValidationResult(format=expected, width=37, height=23, frames=1)


@pytest.mark.parametrize("pillow_format", ["BMP", "TIFF", "ICO", "PPM"])
def test_other_image_formats_are_unsupported(make_image: Any, pillow_format: str) -> None:
    assert reason_of(make_image(pillow_format, (8, 8))) is RejectionReason.UNSUPPORTED_FORMAT


@pytest.mark.parametrize(
    "data", [b"", b"\xff", b"GIF8", b"<svg xmlns='http://www.w3.org/2000/svg'/>", b"RIFF1234WAVE"]
)
def test_empty_short_or_foreign_data_is_unsupported(data: bytes) -> None:
    assert reason_of(data) is RejectionReason.UNSUPPORTED_FORMAT


def test_sniff_format_reads_only_the_magic() -> None:
    assert sniff_format(b"\xff\xd8\xff\xe0") is ImageFormat.JPEG
    assert sniff_format(b"\x89PNG\r\n\x1a\n") is ImageFormat.PNG
    assert sniff_format(b"GIF87a") is ImageFormat.GIF
    assert sniff_format(b"RIFF\x00\x00\x00\x00WEBP") is ImageFormat.WEBP
    with pytest.raises(InvalidImageError):
        sniff_format(b"\x89PNG\r\n")  # a cut signature is not PNG


def test_byte_limit(make_image: Any) -> None:
    data = make_image("PNG", (64, 64), noise=True)
    assert reason_of(data, max_bytes=len(data) - 1) is RejectionReason.TOO_LARGE
    assert reason_of(data, max_bytes=len(data)) is None


def test_byte_limit_comes_before_format(make_image: Any) -> None:
    assert reason_of(b"x" * 2048, max_bytes=1024) is RejectionReason.TOO_LARGE


def test_pixel_cap_is_inclusive(make_image: Any) -> None:
    data = make_image("PNG", (100, 50))
    assert reason_of(data, max_pixels=4999) is RejectionReason.TOO_MANY_PIXELS
    assert reason_of(data, max_pixels=5000) is None


@pytest.mark.parametrize("pillow_format", ["GIF", "WEBP", "PNG"])
def test_animation_total_pixels_count_every_frame(make_animation: Any, pillow_format: str) -> None:
    data = make_animation(pillow_format, (10, 10), 3)
    result = validate_image(data, max_bytes=DEFAULT_MAX_BYTES, max_pixels=300)
    assert (result.width, result.height, result.frames) == (10, 10, 3)
    assert reason_of(data, max_pixels=299) is RejectionReason.TOO_MANY_PIXELS


# --- corrupt data -------------------------------------------------------------------------------


@pytest.mark.parametrize("pillow_format", ["JPEG", "PNG", "WEBP", "GIF"])
def test_truncated_pixel_data_is_corrupt(make_image: Any, pillow_format: str) -> None:
    data = make_image(pillow_format, (96, 96), noise=True)
    assert reason_of(data[: len(data) // 2]) is RejectionReason.CORRUPT


@pytest.mark.parametrize(
    "magic",
    [b"\xff\xd8\xff\xe0", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"RIFF\x10\x00\x00\x00WEBPVP8 "],
)
def test_garbage_after_a_valid_magic_is_corrupt(magic: bytes) -> None:
    assert reason_of(magic + b"<html><body>not really</body></html>" * 4) is (
        RejectionReason.CORRUPT
    )


def test_html_polyglot_is_corrupt(corpus_dir: Path) -> None:
    assert reason_of((corpus_dir / "html-polyglot.gif").read_bytes()) is RejectionReason.CORRUPT


def test_unexpected_pillow_failure_becomes_corrupt(
    make_image: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(self: Any) -> None:
        raise ValueError("decoder bug")

    monkeypatch.setattr(PngImagePlugin.PngImageFile, "load_end", explode)
    with pytest.raises(InvalidImageError) as caught:
        validate_image(make_image("PNG", (8, 8)), **LIMITS)
    assert caught.value.reason is RejectionReason.CORRUPT
    assert "ValueError" in caught.value.message


def test_truncated_images_are_never_loaded_leniently(make_image: Any) -> None:
    data = make_image("PNG", (96, 96), noise=True)
    reason_of(data[: len(data) // 2])
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


# --- cheap decode -------------------------------------------------------------------------------


def test_jpeg_is_decoded_at_reduced_scale(make_image: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    requested: list[tuple[str | None, tuple[int, int] | None]] = []
    original = JpegImagePlugin.JpegImageFile.draft

    def spy(self: Any, mode: str | None, size: tuple[int, int] | None) -> Any:
        requested.append((mode, size))
        answer = original(self, mode, size)
        assert self.decoderconfig[0] == 8  # libjpeg decodes at 1/8 scale
        return answer

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    result = validate_image(make_image("JPEG", (640, 480), noise=True), **LIMITS)
    assert (result.width, result.height) == (640, 480)  # the header size, not the draft's
    assert len(requested) == 1


def test_png_first_frame_is_fully_decoded(make_image: Any, decode_spy: list[str]) -> None:
    validate_image(make_image("PNG", (32, 32)), **LIMITS)
    assert "PngImageFile" in decode_spy or "ImageFile" in decode_spy
