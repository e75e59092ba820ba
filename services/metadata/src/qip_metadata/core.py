"""Read an image's properties and useful EXIF from its header: pure, and no pixel is decoded.

Only `Image.open` (header parsing) and the EXIF accessors are used; nothing calls `load()`.
HEIF/AVIF: size, orientation (irot/imir, never the EXIF tag) and bit depth come from the
primary item's properties; EXIF (camera, exposure, GPS) from its Exif item.
EXIF comes from untrusted uploads, so every value is checked: strings are cleaned and capped,
rationals with a zero denominator (or any non-finite number) are dropped, and a malformed
block yields no summary rather than an error. GPS is kept only when asked for (privacy).
"""

from __future__ import annotations

import contextlib
import math
import re
import unicodedata
import warnings
from collections.abc import Mapping
from datetime import datetime
from io import BytesIO
from typing import Any

from PIL import Image

from qip_shared.enums import ImageFormat
from qip_shared.errors import PermanentError
from qip_shared.imaging import DECODABLE_FORMATS
from qip_shared.isobmff import HeifHeader, HeifHeaderError, ftyp_format, read_heif_header
from qip_shared.pipeline import ExifSummary, GpsCoordinates, ImageMetadata

MAX_TEXT_LENGTH = 128
"""EXIF strings longer than this are cut (a hostile file can carry megabytes in one tag)."""

# EXIF tag numbers (TIFF/EXIF 2.3).
TAG_ORIENTATION = 0x0112
TAG_MAKE = 0x010F
TAG_MODEL = 0x0110
TAG_SOFTWARE = 0x0131
TAG_DATETIME = 0x0132
IFD_EXIF = 0x8769
IFD_GPS = 0x8825
TAG_EXPOSURE_TIME = 0x829A
TAG_F_NUMBER = 0x829D
TAG_ISO = 0x8827
TAG_DATETIME_ORIGINAL = 0x9003
TAG_FOCAL_LENGTH = 0x920A
TAG_LENS_MODEL = 0xA434
GPS_LATITUDE_REF, GPS_LATITUDE = 1, 2
GPS_LONGITUDE_REF, GPS_LONGITUDE = 3, 4
GPS_ALTITUDE_REF, GPS_ALTITUDE = 5, 6

# Pillow format name -> accepted format (MPO is a JPEG with extra pictures appended).
_FORMATS = {
    "JPEG": ImageFormat.JPEG,
    "MPO": ImageFormat.JPEG,
    "PNG": ImageFormat.PNG,
    "GIF": ImageFormat.GIF,
    "WEBP": ImageFormat.WEBP,
    "AVIF": ImageFormat.AVIF,
}
# What Image.open may try (the JPEG plugin itself returns MPO files).
_PILLOW_FORMATS = list(DECODABLE_FORMATS)
# Pillow's HEIF and AVIF plugins read ISO-BMFF containers; their geometry comes from the header.
_CONTAINERS = frozenset({"HEIF", "AVIF"})
_ORIENTATIONS_THAT_SWAP = frozenset({5, 6, 7, 8})
_EXIF_DATETIME = re.compile(r"^(\d{4}):(\d{2}):(\d{2})[ T](\d{2}):(\d{2}):(\d{2})")


def extract_metadata(data: bytes, *, store_gps: bool) -> ImageMetadata:
    """The image's properties and EXIF summary, from its header only (GPS only if `store_gps`)."""
    # Warnings on odd headers or EXIF are noise here; validate has already judged the image.
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        try:
            image = Image.open(BytesIO(data), formats=_PILLOW_FORMATS)
        except Exception as exc:  # any header failure: validate should have refused it
            raise PermanentError(
                f"cannot read the image header: {type(exc).__name__}", code="UNREADABLE_IMAGE"
            ) from None
        with image:
            return read_metadata(image, data, store_gps=store_gps)


def read_metadata(image: Image.Image, data: bytes, *, store_gps: bool) -> ImageMetadata:
    """The metadata of an opened (not loaded) image; `data` is its encoded bytes."""
    fmt = ftyp_format(data[:64]) if image.format == "HEIF" else _FORMATS.get(image.format or "")
    if fmt is None:
        raise PermanentError(f"unsupported format {image.format!r}", code="UNREADABLE_IMAGE")
    container = container_header(data) if image.format in _CONTAINERS else None
    width, height = container.stored_size if container else image.size
    bits = container.bit_depth if container else bits_per_sample(image, data, fmt)
    has_alpha = image_has_alpha(image)
    channels = channel_count(image, has_alpha)
    space = colour_space(image.mode, bits)
    has_icc = bool(image.info.get("icc_profile"))
    exif = read_exif(image, data, fmt)
    # A container's irot/imir are its orientation; its EXIF tag is informative only.
    orientation = container.orientation if container else exif_orientation(exif)
    summary = summarise_exif(exif, store_gps=store_gps)
    frames = frame_count(image)
    display_width, display_height = displayed_size(width, height, orientation)
    return ImageMetadata(
        width=width,
        height=height,
        format=fmt,
        space=space,
        channels=channels,
        has_alpha=has_alpha,
        frames=frames,
        orientation=orientation,
        display_width=display_width,
        display_height=display_height,
        bits_per_sample=bits,
        has_icc_profile=has_icc,
        exif=summary,
    )


def container_header(data: bytes) -> HeifHeader:
    """The HEIF/AVIF primary item's header (stored size, irot/imir, bit depth)."""
    try:
        return read_heif_header(data)
    except HeifHeaderError as exc:
        raise PermanentError(
            f"cannot read the image header: {exc}", code="UNREADABLE_IMAGE"
        ) from None


def displayed_size(width: int, height: int, orientation: int) -> tuple[int, int]:
    """Width and height as a viewer shows them: EXIF orientations 5-8 swap the axes."""
    return (height, width) if orientation in _ORIENTATIONS_THAT_SWAP else (width, height)


def frame_count(image: Image.Image) -> int:
    """Frames in the file (GIF: block walk without decoding; PNG: acTL; WebP: demuxer)."""
    try:
        return max(1, int(getattr(image, "n_frames", 1)))
    except Exception:  # a broken later frame does not make the header wrong
        return 1


def image_has_alpha(image: Image.Image) -> bool:
    """Whether the image carries transparency: an alpha band or a transparent colour."""
    bands = image.getbands()
    return "A" in bands or "a" in bands or "transparency" in image.info


def channel_count(image: Image.Image, has_alpha: bool) -> int:
    """Bands as a viewer decodes them (sharp-like): a palette expands to RGB, +1 for alpha."""
    mode = image.mode
    if mode in ("P", "PA"):
        return 4 if has_alpha else 3
    bands = len(image.getbands())
    if has_alpha and "A" not in image.getbands() and "a" not in image.getbands():
        bands += 1  # a transparent colour key becomes an alpha band
    return min(bands, 5)


def colour_space(mode: str, bits: int | None) -> str:
    """The sharp/libvips interpretation name for a Pillow mode (srgb, rgb16, b-w, grey16, ...)."""
    if mode == "CMYK":
        return "cmyk"
    if mode == "LAB":
        return "lab"
    if mode in ("1", "L", "LA", "La", "I", "F") or mode.startswith("I;16"):
        return "grey16" if (bits or 8) > 8 or mode.startswith("I;16") else "b-w"
    return "rgb16" if (bits or 8) > 8 else "srgb"


def bits_per_sample(image: Image.Image, data: bytes, fmt: ImageFormat) -> int | None:
    """Bits per sample where the header says it (JPEG SOF, PNG IHDR); GIF and WebP are 8."""
    if fmt is ImageFormat.JPEG:
        bits = getattr(image, "bits", None)
        return bits if isinstance(bits, int) and bits > 0 else None
    if fmt is ImageFormat.PNG:
        # IHDR is always the first chunk: signature(8) length(4) type(4) w(4) h(4) depth(1).
        if len(data) > 24 and data[12:16] == b"IHDR":
            return data[24] or None
        return None
    return 8


def read_exif(image: Image.Image, data: bytes, fmt: ImageFormat) -> Image.Exif | None:
    """The EXIF block from the header (never decoding pixels), or None when absent or broken."""
    try:
        if fmt is ImageFormat.PNG:
            if "exif" not in image.info:
                raw = png_exif_chunk(data)
                if raw:
                    image.info["exif"] = raw
            # PngImageFile.getexif() loads the pixels to reach a late eXIf chunk; the base
            # method reads only `info`, which now holds the chunk found by the walk above.
            return Image.Image.getexif(image)
        return image.getexif()
    except Exception:  # malformed EXIF must never fail the stage
        return None


def png_exif_chunk(data: bytes) -> bytes | None:
    """The body of a PNG's eXIf chunk, wherever it is, by walking chunk headers only."""
    pos = 8
    size = len(data)
    while pos + 8 <= size:
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        if kind == b"eXIf":
            return data[pos + 8 : pos + 8 + length]
        if kind == b"IEND":
            return None
        pos += 12 + length
    return None


def exif_orientation(exif: Mapping[int, Any] | None) -> int:
    """The EXIF orientation (1-8); anything missing or out of range is 1 (as stored)."""
    if not exif:
        return 1
    value = _first(exif.get(TAG_ORIENTATION))
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 8:
        return value
    return 1


def summarise_exif(exif: Image.Exif | None, *, store_gps: bool) -> ExifSummary | None:
    """The useful EXIF fields, cleaned; None when there are none."""
    if not exif:
        return None
    ifd0: Mapping[int, Any] = exif
    details = _ifd(exif, IFD_EXIF)
    summary = ExifSummary(
        make=clean_text(ifd0.get(TAG_MAKE)),
        model=clean_text(ifd0.get(TAG_MODEL)),
        lens_model=clean_text(details.get(TAG_LENS_MODEL)),
        exposure_time=positive_number(details.get(TAG_EXPOSURE_TIME)),
        f_number=positive_number(details.get(TAG_F_NUMBER)),
        iso=positive_int(details.get(TAG_ISO)),
        focal_length=positive_number(details.get(TAG_FOCAL_LENGTH)),
        taken_at=exif_datetime(details.get(TAG_DATETIME_ORIGINAL))
        or exif_datetime(ifd0.get(TAG_DATETIME)),
        software=clean_text(ifd0.get(TAG_SOFTWARE)),
        gps=gps_coordinates(_ifd(exif, IFD_GPS)) if store_gps else None,
    )
    return summary if summary.model_dump(exclude_none=True) else None


def _ifd(exif: Image.Exif, tag: int) -> Mapping[int, Any]:
    """A sub-IFD, or an empty mapping when it is absent or malformed."""
    try:
        found = exif.get_ifd(tag)
    except Exception:  # a bad offset in a hostile file
        return {}
    return found if isinstance(found, Mapping) else {}


def clean_text(value: Any) -> str | None:
    """A printable, trimmed string of at most MAX_TEXT_LENGTH characters, or None."""
    value = _first(value) if isinstance(value, tuple | list) else value
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if not isinstance(value, str):
        return None
    # Pillow reads EXIF ASCII as Latin-1; cameras and editors mostly write UTF-8 (if it is
    # not UTF-8 after all, the Latin-1 reading stays).
    with contextlib.suppress(UnicodeError):
        value = value.encode("latin-1").decode("utf-8")
    # Drop NULs, control and format characters (category C*), then collapse whitespace.
    printable = "".join(
        " " if ch.isspace() else ch
        for ch in value[: MAX_TEXT_LENGTH * 4]
        if ch.isspace() or not unicodedata.category(ch).startswith("C")
    )
    text = " ".join(printable.split())[:MAX_TEXT_LENGTH].strip()
    return text or None


def finite_number(value: Any) -> float | None:
    """A finite float from an EXIF number or rational (a zero denominator gives None)."""
    value = _first(value)
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def positive_number(value: Any) -> float | None:
    """A finite, strictly positive number (exposure, aperture, focal length), or None."""
    number = finite_number(value)
    return number if number is not None and number > 0 else None


def positive_int(value: Any) -> int | None:
    """A positive integer below ten million (ISO speed), or None."""
    number = finite_number(value)
    if number is None or not 0 < number < 10_000_000:
        return None
    return round(number)


def exif_datetime(value: Any) -> str | None:
    """`YYYY:MM:DD HH:MM:SS` as ISO 8601 (`YYYY-MM-DDTHH:MM:SS`), or None when not a real time."""
    text = clean_text(value)
    match = _EXIF_DATETIME.match(text or "")
    if match is None:
        return None
    try:
        year, month, day, hour, minute, second = (int(part) for part in match.groups())
        # EXIF times are local wall-clock times with no zone: keep them naive.
        moment = datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None
    return moment.isoformat()


def gps_coordinates(gps: Mapping[int, Any]) -> GpsCoordinates | None:
    """Decimal degrees from the GPS IFD, or None when absent or out of range."""
    latitude = _degrees(gps.get(GPS_LATITUDE), gps.get(GPS_LATITUDE_REF), "S")
    longitude = _degrees(gps.get(GPS_LONGITUDE), gps.get(GPS_LONGITUDE_REF), "W")
    if latitude is None or longitude is None:
        return None
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        return None
    altitude = finite_number(gps.get(GPS_ALTITUDE))
    if altitude is not None and _first(gps.get(GPS_ALTITUDE_REF)) in (1, b"\x01"):
        altitude = -altitude  # reference 1: below sea level
    return GpsCoordinates(latitude=latitude, longitude=longitude, altitude=altitude)


def _degrees(value: Any, ref: Any, negative: str) -> float | None:
    """Degrees, minutes, seconds (rationals) and a hemisphere letter as signed decimal degrees."""
    if not isinstance(value, tuple | list) or not 1 <= len(value) <= 3:
        return None
    parts = [finite_number(part) for part in value]
    if any(part is None or part < 0 for part in parts):
        return None
    degrees = sum(
        part / divisor for part, divisor in zip(parts, (1, 60, 3600), strict=False) if part
    )
    hemisphere = clean_text(ref)
    return -degrees if hemisphere and hemisphere.upper().startswith(negative) else degrees


def _first(value: Any) -> Any:
    """The first element of a tuple/list value (EXIF counts > 1), else the value itself."""
    if isinstance(value, tuple | list):
        return value[0] if value else None
    return value
