"""The output encoders: clean sRGB JPEG, WebP and AVIF with the pipeline's settings.

Pure functions over Pillow images (no I/O, no AWS, no environment). Requires the `imaging` extra.

- `encode_jpeg` writes a baseline sRGB JPEG with no EXIF, ICC, XMP or comment; `encode_webp`
  and `encode_avif` write the same clean pixels as lossy WebP and AVIF; `encode` picks by format.
- `encoder_version` names the encoder and its settings, for the outputs' lineage.
"""

from __future__ import annotations

import io
from functools import cache

import PIL
from PIL import Image, features

from qip_shared.recipe import OutputFormat

JPEG_QUALITY = 85
# WebP and AVIF settings chosen by `benchmarks/encoders.py`: the lowest quality whose mean luma
# SSIM on the corpus's photos reaches JPEG q85's (0.974: WebP q80 0.977 at 0.75x JPEG's bytes,
# AVIF q70 0.976-0.981 at 0.74-0.76x), and AVIF's fastest speed within 3 % of its smallest
# output (speed 9: 241 ms CPU for 10 renders vs 1739 ms at 7 and 3244 ms at 6, +2.5 % bytes).
WEBP_QUALITY = 80
WEBP_METHOD = 4
AVIF_QUALITY = 70
AVIF_SPEED = 9


def encode_jpeg(image: Image.Image, *, quality: int = JPEG_QUALITY) -> bytes:
    """An optimised sRGB JPEG of `image` with no EXIF, ICC profile, XMP or comment."""
    buffer = io.BytesIO()
    _clean_rgb(image).save(buffer, format="JPEG", quality=quality, optimize=True)
    return buffer.getvalue()


def _clean_rgb(image: Image.Image) -> Image.Image:
    """`image` as RGB with an empty `info` (Pillow writes a comment or ICC found there)."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    if rgb.info:
        rgb = rgb.copy()
        rgb.info = {}
    return rgb


def encode_webp(image: Image.Image, *, quality: int = WEBP_QUALITY) -> bytes:
    """A lossy sRGB WebP of `image` with no EXIF, ICC profile or XMP."""
    buffer = io.BytesIO()
    _clean_rgb(image).save(buffer, format="WEBP", quality=quality, method=WEBP_METHOD)
    return buffer.getvalue()


def encode_avif(
    image: Image.Image, *, quality: int = AVIF_QUALITY, speed: int = AVIF_SPEED
) -> bytes:
    """A lossy 8-bit 4:2:0 sRGB AVIF of `image` (Pillow's own plugin), with no metadata."""
    buffer = io.BytesIO()
    _clean_rgb(image).save(buffer, format="AVIF", quality=quality, speed=speed, subsampling="4:2:0")
    return buffer.getvalue()


def encode(image: Image.Image, fmt: OutputFormat) -> bytes:
    """`image` encoded as `fmt` with the pipeline's settings."""
    if fmt is OutputFormat.WEBP:
        return encode_webp(image)
    if fmt is OutputFormat.AVIF:
        return encode_avif(image)
    return encode_jpeg(image)


_ENCODER_FEATURES: dict[OutputFormat, tuple[str, str]] = {
    OutputFormat.JPEG: ("libjpeg-turbo", "libjpeg_turbo"),
    OutputFormat.WEBP: ("libwebp", "webp"),
    OutputFormat.AVIF: ("libavif", "avif"),
}


@cache
def encoder_version(fmt: OutputFormat) -> str:
    """The encoder of an output format and its settings, e.g. `Pillow 13.0.0 libavif 1.4.2 ...`."""
    library, feature = _ENCODER_FEATURES[fmt]
    settings = {
        OutputFormat.JPEG: f"q{JPEG_QUALITY}",
        OutputFormat.WEBP: f"q{WEBP_QUALITY} m{WEBP_METHOD}",
        OutputFormat.AVIF: f"q{AVIF_QUALITY} s{AVIF_SPEED} {_av1_encoder()}",
    }[fmt]
    return f"Pillow {PIL.__version__} {library} {features.version(feature)} {settings}"


def _av1_encoder() -> str:
    """The AV1 codec libavif encodes with (e.g. `aom 3.14.1`)."""
    from PIL import _avif  # noqa: PLC0415 - only present when Pillow has AVIF

    versions: str = _avif.codec_versions()
    encoders = [part.strip() for part in versions.split(",") if "[enc]" in part]
    return encoders[0].replace(" [enc]:", " ") if encoders else "unknown"
