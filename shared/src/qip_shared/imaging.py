"""The output-image rules resize and thumbnail must agree on: decode, orient, colour, resample.

Pure functions over bytes and Pillow images (no I/O, no AWS, no environment). Requires the
`imaging` extra (Pillow).

- HEIF/HEIC through pillow-heif (registered once, here, at import; a libheif older than
  `MIN_LIBHEIF_VERSION` is refused) and AVIF through Pillow's own plugin.
- `decode_upright` (`load_upright`: just its image) decodes the first frame once, at the
  smallest JPEG DCT scale that still covers what the caller needs (`Image.draft`), applies
  the EXIF orientation (HEIF/AVIF: their irot/imir instead, once) and normalises the colour
  to 8-bit sRGB RGB (alpha flattened on white, CMYK and tagged RGB/grey through their ICC
  profile, 16-bit grey and 10/12-bit HEIF/AVIF scaled rather than clipped).
  The result carries no metadata.
- `resample` is the one resampling both outputs use: LANCZOS after an integer pre-reduction.
- The encoders (`encode`, `encode_jpeg`, ...) and their settings live in `qip_shared.encoders`
  and are re-exported here for the callers that import them from this module.
- `decoder_version` names the decoder, for the outputs' lineage.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import PIL
import pillow_heif
from PIL import Image, ImageCms, features

# Re-exported for the tests and benchmarks that import the encoders from this module.
from qip_shared.encoders import (  # noqa: F401
    AVIF_QUALITY,
    AVIF_SPEED,
    JPEG_QUALITY,
    WEBP_METHOD,
    WEBP_QUALITY,
    encode,
    encode_avif,
    encode_jpeg,
    encode_webp,
    encoder_version,
)
from qip_shared.enums import ImageFormat

Size = tuple[int, int]
Box = tuple[float, float, float, float]
# What the caller needs, given the upright (displayed) size of the source.
SizeRule = Callable[[Size], Size]

BACKGROUND = (255, 255, 255)
# A reducing gap of 3 is visually indistinguishable from plain LANCZOS and still much faster.
REDUCING_GAP = 3.0
RESAMPLE = Image.Resampling.LANCZOS
# Pillow's plugin for each accepted format; never let another decoder see the bytes.
PILLOW_FORMATS: dict[ImageFormat, str] = {
    ImageFormat.JPEG: "JPEG",
    ImageFormat.PNG: "PNG",
    ImageFormat.GIF: "GIF",
    ImageFormat.WEBP: "WEBP",
    ImageFormat.HEIC: "HEIF",
    ImageFormat.HEIF: "HEIF",
    ImageFormat.AVIF: "AVIF",
}
DECODABLE_FORMATS = tuple(dict.fromkeys(PILLOW_FORMATS.values()))
# libheif before 1.23.4 has published heap-overflow advisories in HEIF decoding (fixed 1.23.2-4).
MIN_LIBHEIF_VERSION = (1, 23, 4)

ORIENTATION_TAG = 0x0112
_TRANSPOSE: dict[int, Image.Transpose] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# Orientations whose upright image has width and height swapped.
_SWAPPING = frozenset({5, 6, 7, 8})
_WIDE_GREY_MODES = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N"})
_ICC_MODES = frozenset({"RGB", "CMYK", "L"})
_REDUCIBLE_MODES = frozenset({"L", "LA", "RGB", "RGBA", "CMYK"})
# 16-bit samples to 8-bit: 65535 maps to 255 exactly.
_SIXTEEN_TO_EIGHT = 255 / 65535


class ImageDecodeError(ValueError):
    """The bytes are not a decodable image of an accepted format."""


class UnsafeDecoderError(RuntimeError):
    """A decoder this process would use is missing or older than its security fixes."""


def _version_tuple(version: str) -> tuple[int, ...]:
    """`1.23.7` (or `1.23.7-rc1`) as (1, 23, 7); an unreadable version is (0,)."""
    parts = []
    for part in version.split("."):
        digits = "".join(ch for ch in part.split("-")[0] if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts) or (0,)


def register_decoders() -> str:
    """Register pillow-heif's HEIF opener once and check AVIF; the libheif version in use.

    Raises UnsafeDecoderError when libheif is older than `MIN_LIBHEIF_VERSION` or Pillow was
    built without AVIF, so a process never starts with a decoder it must not run.
    """
    libheif = str(pillow_heif.libheif_version())
    if _version_tuple(libheif) < MIN_LIBHEIF_VERSION:
        wanted = ".".join(map(str, MIN_LIBHEIF_VERSION))
        raise UnsafeDecoderError(
            f"pillow-heif {pillow_heif.__version__} bundles libheif {libheif}, older than "
            f"{wanted} (published heap-overflow advisories); install pillow-heif>=1.9.0"
        )
    if not features.check("avif"):
        raise UnsafeDecoderError("this Pillow was built without AVIF support (libavif)")
    if "HEIF" not in Image.OPEN:
        # Depth and auxiliary images are never used: do not even parse them.
        pillow_heif.register_heif_opener(depth_images=False, aux_images=False)
    return libheif


LIBHEIF_VERSION = register_decoders()


def fit_size(size: Size, box: Size) -> Size:
    """The largest size with `size`'s aspect ratio inside `box`, never larger than `size`."""
    width, height = size
    scale = min(box[0] / width, box[1] / height, 1.0)
    return (
        min(box[0], max(1, round(width * scale))),
        min(box[1], max(1, round(height * scale))),
    )


def cover_size(size: Size, box: Size) -> Size:
    """The smallest size with `size`'s aspect ratio that covers `box` in both dimensions."""
    width, height = size
    scale = max(box[0] / width, box[1] / height)
    # The epsilon keeps an exact product (e.g. 200.00000000000003) from rounding up a pixel.
    return (
        max(box[0], math.ceil(width * scale - 1e-9)),
        max(box[1], math.ceil(height * scale - 1e-9)),
    )


def centre_crop_box(size: Size, aspect: Size) -> Box:
    """The largest centred region of an image of `size` with the aspect ratio of `aspect`."""
    width, height = size
    if width * aspect[1] > height * aspect[0]:
        crop_width = height * aspect[0] / aspect[1]
        left = (width - crop_width) / 2
        return (left, 0.0, left + crop_width, float(height))
    crop_height = width * aspect[1] / aspect[0]
    top = (height - crop_height) / 2
    return (0.0, top, float(width), top + crop_height)


def upright_size(size: Size, orientation: int) -> Size:
    """The displayed size of a stored image of `size` with this EXIF orientation."""
    return (size[1], size[0]) if orientation in _SWAPPING else size


def orientation_of(image: Image.Image) -> int:
    """The orientation (1..8) still to apply to the decoded pixels; missing or invalid is 1.

    HEIF's irot/imir are applied by libheif while decoding (pillow-heif then resets the EXIF
    tag), and Pillow's AVIF plugin rewrites the EXIF tag from irot/imir; in both the EXIF
    orientation of the camera is never applied on top, nor an XMP one.
    """
    if image.format == "HEIF":
        return 1
    try:
        if image.format == "AVIF":
            exif = Image.Exif()
            exif.load(image.info.get("exif") or b"")
        else:
            exif = image.getexif()
        value = exif.get(ORIENTATION_TAG, 1)
    except Exception:  # a broken EXIF block must not make the picture undecodable
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


@dataclass(frozen=True)
class Decoded:
    """A decoded, upright, sRGB RGB image and where the whole source lies within it."""

    image: Image.Image
    # The upright (displayed) size of the source, before any decode-time scaling.
    source_size: Size
    # The region of `image` showing the whole source: JPEG scaling rounds the size up, so the
    # last row and column may stand for only part of a source block.
    content: Box
    # Pillow's name of the source's format (`JPEG`, `PNG`, ...), for the outputs' lineage.
    source_format: str = ""
    # The source's opacity (mode L, aligned with `image`) when it has transparency; `image`
    # itself is flattened on white.
    alpha: Image.Image | None = None

    def region(self, source_box: Box) -> Box:
        """Map a box in source (upright) coordinates to coordinates of `image`."""
        left, top, right, bottom = self.content
        scale_x = (right - left) / self.source_size[0]
        scale_y = (bottom - top) / self.source_size[1]
        return (
            left + source_box[0] * scale_x,
            top + source_box[1] * scale_y,
            left + source_box[2] * scale_x,
            top + source_box[3] * scale_y,
        )


def load_upright(
    data: bytes,
    min_size: Size | SizeRule,
    *,
    max_pixels: int | None = None,
) -> Image.Image:
    """Decode the first frame at the smallest scale covering `min_size`, upright, as sRGB RGB."""
    return decode_upright(data, min_size, max_pixels=max_pixels).image


def decode_upright(
    data: bytes,
    min_size: Size | SizeRule,
    *,
    max_pixels: int | None = None,
) -> Decoded:
    """Decode the first frame once, at the smallest scale covering `min_size`, upright, sRGB.

    `min_size` is the upright size the caller needs at least, or a rule computing it from the
    upright size of the source. The image is never smaller than that (unless the source is).
    A JPEG is decoded less than twice as large (libjpeg scales by 1/2, 1/4 and 1/8); other
    formats are decoded whole, then reduced by an integer factor to at least `REDUCING_GAP`
    times the need before their colour is converted.
    """
    try:
        image = Image.open(io.BytesIO(data), formats=DECODABLE_FORMATS)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise ImageDecodeError(f"cannot identify the image: {err}") from err
    if max_pixels is not None and image.width * image.height > max_pixels:
        raise ImageDecodeError(f"{image.width}x{image.height} exceeds {max_pixels} pixels")
    try:
        with warnings.catch_warnings():
            # A short final frame or odd chunk is not our concern once validate accepted it.
            warnings.simplefilter("ignore")
            decoded = _decode(image, min_size)
    except MemoryError:
        raise
    except Exception as err:  # Pillow's decoders raise many types on malformed data
        raise ImageDecodeError(f"cannot decode the image: {err}") from err
    # The caller's outputs must carry nothing of the source's metadata.
    decoded.image.info = {}
    return decoded


def _decode(image: Image.Image, min_size: Size | SizeRule) -> Decoded:
    """Draft (JPEG only), decode once, normalise the colour, then turn upright."""
    raw_size = image.size
    image_format = image.format or ""
    content: Box = (0.0, 0.0, float(raw_size[0]), float(raw_size[1]))
    if image.format in ("JPEG", "MPO"):
        # JPEG's EXIF is parsed from APP1 at open, so the draft can account for rotation.
        orientation = orientation_of(image)
        needed = _needed(raw_size, orientation, min_size)
        drafted = image.draft("RGB", upright_size(needed, orientation))
        if drafted is not None:
            content = drafted[1]
        image.load()
    else:
        # Other formats may keep EXIF after the pixel data: decode first, then read it.
        image.load()
        orientation = orientation_of(image)
        image, content = _pre_reduce(
            image, upright_size(_needed(raw_size, orientation, min_size), orientation)
        )
    alpha = alpha_of(image)
    image = normalise_colour(image)
    transpose = _TRANSPOSE.get(orientation)
    if transpose is not None:
        content = _transpose_box(content, image.size, transpose)
        image = image.transpose(transpose)
        alpha = alpha.transpose(transpose) if alpha is not None else None
    return Decoded(image, upright_size(raw_size, orientation), content, image_format, alpha)


def alpha_of(image: Image.Image) -> Image.Image | None:
    """The image's opacity as an 8-bit plane, or None when it has no transparency."""
    if not image.has_transparency_data:
        return None
    if image.mode in ("RGBA", "LA"):
        return image.getchannel("A")
    try:
        return image.convert("RGBA").getchannel("A")
    except (ValueError, OSError):  # an exotic mode Pillow cannot take to RGBA: treat as opaque
        return None


def _pre_reduce(image: Image.Image, raw_needed: Size) -> tuple[Image.Image, Box]:
    """Shrink a fully decoded non-JPEG by an integer factor before any colour work.

    The factor leaves at least `REDUCING_GAP` times the need, as `resample` would, so the
    final LANCZOS pass sees the same input; colour conversion then touches fewer pixels.
    """
    width, height = image.size
    factor = int(min(width / raw_needed[0], height / raw_needed[1]) / REDUCING_GAP)
    # Box-averaging is exact for these modes (Pillow premultiplies alpha); palettes,
    # colour-keyed transparency and wide greys are converted at full size instead.
    if factor < 2 or image.mode not in _REDUCIBLE_MODES or "transparency" in image.info:
        return image, (0.0, 0.0, float(width), float(height))
    return image.reduce(factor), (0.0, 0.0, width / factor, height / factor)


def _transpose_box(box: Box, size: Size, method: Image.Transpose) -> Box:
    """Where `box` of an image of `size` lies after `image.transpose(method)`."""
    width, height = size
    transpose = Image.Transpose

    def point(x: float, y: float) -> tuple[float, float]:
        mapping = {
            transpose.FLIP_LEFT_RIGHT: (width - x, y),
            transpose.FLIP_TOP_BOTTOM: (x, height - y),
            transpose.ROTATE_180: (width - x, height - y),
            transpose.ROTATE_90: (y, width - x),
            transpose.ROTATE_270: (height - y, x),
            transpose.TRANSPOSE: (y, x),
            transpose.TRANSVERSE: (height - y, width - x),
        }
        return mapping[method]

    (x0, y0), (x1, y1) = point(box[0], box[1]), point(box[2], box[3])
    return (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


def _needed(raw_size: Size, orientation: int, min_size: Size | SizeRule) -> Size:
    upright = upright_size(raw_size, orientation)
    width, height = min_size(upright) if callable(min_size) else min_size
    return (max(1, width), max(1, height))


def normalise_colour(image: Image.Image) -> Image.Image:
    """Any decoded mode as 8-bit sRGB RGB: grey scaled, alpha on white, ICC applied."""
    icc_profile = image.info.get("icc_profile")
    if image.mode in _WIDE_GREY_MODES:
        image = _to_eight_bit_grey(image)
    elif image.mode == "1":
        image = image.convert("L")
    if image.has_transparency_data:
        image = _flatten_on_white(image)
    elif image.mode not in _ICC_MODES:
        # Palette, premultiplied or exotic modes: plain RGB (ICC profiles describe RGB here).
        image = image.convert("RGB")
    if isinstance(icc_profile, bytes) and icc_profile and image.mode in _ICC_MODES:
        converted = _icc_to_srgb(image, icc_profile)
        if converted is not None:
            return converted
    # CMYK without a usable profile: Pillow's own (naive) conversion, as the rules allow.
    return image if image.mode == "RGB" else image.convert("RGB")


def _to_eight_bit_grey(image: Image.Image) -> Image.Image:
    """16-bit (or 32-bit integer) grey to 8-bit by scaling the range, never by clipping."""
    wide = image if image.mode == "I" else image.convert("I")
    return wide.point(lambda value: value * _SIXTEEN_TO_EIGHT).convert("L")


def _flatten_on_white(image: Image.Image) -> Image.Image:
    """Composite any transparency over white; grey stays grey so a grey profile still fits."""
    grey = image.mode in ("LA", "La") or (image.mode == "L" and "transparency" in image.info)
    target = "LA" if grey else "RGBA"
    # convert() copies even to the same mode; a full-size copy is worth avoiding here.
    with_alpha = image if image.mode == target else image.convert(target)
    background = Image.new("L" if grey else "RGB", image.size, 255 if grey else BACKGROUND)
    background.paste(with_alpha, mask=with_alpha.getchannel("A"))
    return background


@cache
def _srgb_profile() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _icc_to_srgb(image: Image.Image, icc_profile: bytes) -> Image.Image | None:
    """Convert through the embedded profile; None when it is sRGB already or unusable."""
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
        if image.mode == "RGB" and "srgb" in ImageCms.getProfileDescription(source).lower():
            return None
        converted = ImageCms.profileToProfile(
            image,
            source,
            _srgb_profile(),
            renderingIntent=ImageCms.Intent.PERCEPTUAL,
            outputMode="RGB",
        )
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        # A broken or mismatched profile: fall back to the plain conversion.
        return None
    return converted


def resample(image: Image.Image, size: Size, box: Box | None = None) -> Image.Image:
    """Resize (the region `box` of) `image` to `size`: integer pre-reduction, then LANCZOS."""
    return image.resize(size, RESAMPLE, box=box, reducing_gap=REDUCING_GAP)


# Pillow's format name -> the feature whose library decodes it (None: Pillow's own code).
_DECODER_FEATURES: dict[str, str | None] = {
    "JPEG": "libjpeg_turbo",
    "MPO": "libjpeg_turbo",
    "PNG": "zlib",
    "GIF": None,
    "WEBP": "webp",
    "AVIF": "avif",
}


@cache
def decoder_version(pil_format: str) -> str:
    """The decoder of a source format, e.g. `Pillow 13.0.0 JPEG (libjpeg_turbo 3.2.0)`."""
    if pil_format == "HEIF":
        return f"pillow-heif {pillow_heif.__version__} HEIF (libheif {LIBHEIF_VERSION})"
    feature = _DECODER_FEATURES.get(pil_format)
    if pil_format == "HEIF":
        library = f" (pillow-heif {pillow_heif.__version__}, libheif {LIBHEIF_VERSION})"
    else:
        library = f" ({feature} {features.version(feature)})" if feature else ""
    return f"Pillow {PIL.__version__} {pil_format or 'unknown'}{library}"
