"""Decide whether an upload is an acceptable image: pure, bytes in, facts or a typed rejection out.

Checks run cheapest first: emptiness and byte size, magic bytes, the pixel cap from the header
(canvas x frames, before anything is decoded; HEIF/AVIF: the primary item's `ispe` box, before
any decoder sees the bytes), then one decode at the smallest useful scale.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from io import BytesIO

from PIL import Image, UnidentifiedImageError

from qip_shared.enums import ImageFormat, RejectionReason
from qip_shared.errors import InvalidImageError
from qip_shared.imaging import PILLOW_FORMATS
from qip_shared.isobmff import CONTAINER_FORMATS, HeifHeader, HeifHeaderError, read_heif_header
from qip_shared.signatures import ACCEPTED_NAMES
from qip_shared.signatures import SNIFF_BYTES as MAGIC_BYTES_NEEDED
from qip_shared.signatures import sniff_format as sniff_signature


@dataclass(frozen=True)
class ValidationResult:
    """An accepted image: its format and header dimensions (canvas size and frame count)."""

    format: ImageFormat
    width: int
    height: int
    frames: int = 1

    @property
    def pixels(self) -> int:
        """Total pixels across all frames."""
        return self.width * self.height * self.frames


def content_sha256(data: bytes) -> str:
    """The upload's SHA-256 as 64 lowercase hex characters."""
    return hashlib.sha256(data).hexdigest()


def sniff_format(head: bytes) -> ImageFormat:
    """The accepted format named by the leading magic bytes, or UNSUPPORTED_FORMAT."""
    if not head:
        raise InvalidImageError(RejectionReason.UNSUPPORTED_FORMAT, "the file is empty")
    fmt = sniff_signature(head)
    if fmt is None:
        raise InvalidImageError(RejectionReason.UNSUPPORTED_FORMAT, f"not a {ACCEPTED_NAMES} image")
    return fmt


def check_byte_size(size: int, *, max_bytes: int) -> None:
    """Raise TOO_LARGE when `size` bytes exceed `max_bytes`."""
    if size > max_bytes:
        raise InvalidImageError(
            RejectionReason.TOO_LARGE, f"the file is {size} bytes; the limit is {max_bytes}"
        )


def check_pixels(width: int, height: int, frames: int, *, max_pixels: int) -> None:
    """Raise TOO_MANY_PIXELS when width x height x frames exceeds `max_pixels`."""
    total = width * height * max(frames, 1)
    if total > max_pixels:
        what = f"{width}x{height}" + (f" x {frames} frames" if frames > 1 else "")
        raise InvalidImageError(
            RejectionReason.TOO_MANY_PIXELS,
            f"the image is {what} = {total} pixels; the limit is {max_pixels}",
        )


def validate_image(data: bytes, *, max_bytes: int, max_pixels: int) -> ValidationResult:
    """Accept a decodable image of an accepted format within the limits, or InvalidImageError."""
    if not data:
        raise InvalidImageError(RejectionReason.UNSUPPORTED_FORMAT, "the file is empty")
    check_byte_size(len(data), max_bytes=max_bytes)
    fmt = sniff_format(data[:MAGIC_BYTES_NEEDED])
    if fmt is ImageFormat.WEBP:
        # libwebp allocates the whole canvas when its decoder is created: check before opening.
        width, height, frames = webp_header(data, max_pixels=max_pixels)
        check_pixels(width, height, frames, max_pixels=max_pixels)
    container = container_header(data, max_pixels=max_pixels) if fmt in CONTAINER_FORMATS else None
    try:
        return _open_and_decode(data, fmt, max_pixels=max_pixels, container=container)
    except InvalidImageError:
        raise
    except Image.DecompressionBombError as exc:
        # Pillow's hard refusal (over 2 x MAX_IMAGE_PIXELS), raised from the header alone.
        raise InvalidImageError(
            RejectionReason.TOO_MANY_PIXELS, f"{exc} (our limit is {max_pixels})"
        ) from None
    except UnidentifiedImageError:
        raise InvalidImageError(
            RejectionReason.CORRUPT, f"the data after the {fmt.value} signature is not an image"
        ) from None
    except Exception as exc:  # any failure on hostile input is a typed rejection, never a crash
        raise InvalidImageError(
            RejectionReason.CORRUPT,
            f"the {fmt.value} image does not decode: {type(exc).__name__}: {exc}"[:500],
        ) from None


def container_header(data: bytes, *, max_pixels: int) -> HeifHeader:
    """A HEIF/AVIF's primary-image header, capped on its `ispe` size before any decode.

    The AV1 sequence header or HEVC SPS must code the size `ispe` claims (CORRUPT otherwise).
    """
    try:
        header = read_heif_header(data)
    except HeifHeaderError as exc:
        raise InvalidImageError(
            RejectionReason.CORRUPT, f"the container is malformed: {exc}"
        ) from None
    check_pixels(header.width, header.height, 1, max_pixels=max_pixels)
    if header.coded_frame is not None:
        # The decoder allocates what the stream codes (libavif then scales it to the claim).
        check_pixels(*header.coded_frame, 1, max_pixels=max_pixels)
        if header.codes_another_size:
            frame = "x".join(map(str, header.coded_frame))
            raise InvalidImageError(
                RejectionReason.CORRUPT,
                f"the coded stream is {frame} pixels; its ispe box claims "
                f"{header.width}x{header.height}",
            )
    return header


def _open_and_decode(
    data: bytes, fmt: ImageFormat, *, max_pixels: int, container: HeifHeader | None = None
) -> ValidationResult:
    # Warnings are collected, never printed: Pillow's DecompressionBombWarning (89-179 MP) is
    # not a decision, our own cap below is; other warnings on hostile input are noise.
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        with Image.open(BytesIO(data), formats=[PILLOW_FORMATS[fmt]]) as image:
            # HEIF/AVIF: the picture before its rotation, as other formats report their header's.
            width, height = container.stored_size if container else image.size
            if width < 1 or height < 1:
                raise InvalidImageError(RejectionReason.CORRUPT, "the header claims no pixels")
            frames = _frame_count(image, data, fmt, width * height, max_pixels)
            check_pixels(width, height, frames, max_pixels=max_pixels)
            if fmt is ImageFormat.JPEG:
                # Decode at 1/8 scale (and grey for YCbCr): every entropy-coded byte is still
                # read, so truncation and garbage are caught at a fraction of the cost.
                image.draft("L", (max(1, width // 8), max(1, height // 8)))
            image.load()  # the first (HEIF: primary) frame only; LOAD_TRUNCATED_IMAGES is never set
            if container is not None:
                _check_decoded_size(image.size, container)
    return ValidationResult(format=fmt, width=width, height=height, frames=frames)


def _check_decoded_size(size: tuple[int, int], header: HeifHeader) -> None:
    """CORRUPT when the decoded primary image is larger than its `ispe` box said (a lying cap)."""
    claimed = sorted((header.width, header.height))
    decoded = sorted(size)
    # A clean-aperture crop (clap) may only shrink the picture; libheif rejects other mismatches.
    if decoded[0] > claimed[0] or decoded[1] > claimed[1]:
        raise InvalidImageError(
            RejectionReason.CORRUPT,
            f"the image decodes to {size[0]}x{size[1]}, more than the "
            f"{header.width}x{header.height} its header claims",
        )


def _frame_count(
    image: Image.Image, data: bytes, fmt: ImageFormat, frame_pixels: int, max_pixels: int
) -> int:
    if fmt is ImageFormat.GIF:
        # Pillow counts GIF frames by seeking through each one; a block walk is far cheaper
        # and stops as soon as the cap is passed.
        limit = max_pixels // max(frame_pixels, 1)
        return max(1, count_gif_frames(data, stop_after=limit + 1))
    frames = getattr(image, "n_frames", 1)  # PNG: acTL header; WebP: demuxer, no decode
    return max(1, int(frames))


def count_gif_frames(data: bytes, *, stop_after: int | None = None) -> int:
    """Count a GIF's image descriptors by walking its blocks (no decode); stop at `stop_after`."""
    size = len(data)
    if size < 13:
        return 0
    flags = data[10]
    pos = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    frames = 0
    while pos < size and (stop_after is None or frames < stop_after):
        introducer = data[pos]
        if introducer == 0x2C:  # image descriptor
            if pos + 10 > size:
                break
            frames += 1
            local = data[pos + 9]
            pos += 10 + (3 << ((local & 7) + 1) if local & 0x80 else 0) + 1  # + LZW code size
            pos = _skip_sub_blocks(data, pos)
        elif introducer == 0x21:  # extension: label, then sub-blocks
            pos = _skip_sub_blocks(data, pos + 2)
        else:  # trailer, or garbage the decode step will judge
            break
    return frames


def _skip_sub_blocks(data: bytes, pos: int) -> int:
    size = len(data)
    while pos < size:
        length = data[pos]
        pos += 1 + length
        if length == 0:
            break
    return pos


def webp_header(data: bytes, *, max_pixels: int | None = None) -> tuple[int, int, int]:
    """Canvas width, height and frame count of a WebP from its chunk headers (no decode).

    Counting stops once canvas x frames passes `max_pixels`, so a flood of frames costs little.
    """
    width = height = 0
    frames = 0
    pos = 12
    size = len(data)
    while pos + 8 <= size:
        if max_pixels is not None and width * height * frames > max_pixels:
            break
        fourcc = data[pos : pos + 4]
        length = int.from_bytes(data[pos + 4 : pos + 8], "little")
        body = data[pos + 8 : pos + 8 + min(length, 16)]
        if not width and fourcc == b"VP8X" and len(body) >= 10:
            width = 1 + int.from_bytes(body[4:7], "little")
            height = 1 + int.from_bytes(body[7:10], "little")
        elif not width and fourcc == b"VP8 " and len(body) >= 10 and body[3:6] == b"\x9d\x01\x2a":
            width = int.from_bytes(body[6:8], "little") & 0x3FFF
            height = int.from_bytes(body[8:10], "little") & 0x3FFF
        elif not width and fourcc == b"VP8L" and len(body) >= 5 and body[0] == 0x2F:
            bits = int.from_bytes(body[1:5], "little")
            width = 1 + (bits & 0x3FFF)
            height = 1 + ((bits >> 14) & 0x3FFF)
        elif fourcc == b"ANMF":
            frames += 1
        pos += 8 + length + (length & 1)
    if not width or not height:
        raise InvalidImageError(RejectionReason.CORRUPT, "the WebP header has no image size")
    return width, height, max(frames, 1)
