"""Thumbnail: the centre square of the upright image at exactly 200x200, as a clean sRGB JPEG.

Pure: bytes in, bytes and facts out. The decoding, orientation, colour and encoding rules are
`qip_shared.imaging`'s, shared with the resize stage.
"""

from __future__ import annotations

from dataclasses import dataclass

from qip_shared.config import THUMBNAIL_SIZE
from qip_shared.imaging import (
    ImageDecodeError,
    Size,
    centre_crop_box,
    cover_size,
    decode_upright,
    encode_jpeg,
    resample,
)
from qip_thumbnail.errors import UndecodableImageError


@dataclass(frozen=True)
class ThumbnailResult:
    """The thumbnail JPEG and its pixel size (always the requested size)."""

    data: bytes
    width: int
    height: int


def make_thumbnail(data: bytes, *, size: Size = THUMBNAIL_SIZE) -> ThumbnailResult:
    """Centre-crop `data`'s upright first frame to `size`'s aspect and scale it to `size`."""
    if size[0] < 1 or size[1] < 1:
        raise ValueError(f"size must be at least 1x1, got {size}")
    try:
        # Decode only as large as the cover size of the crop needs (JPEG DCT scaling).
        decoded = decode_upright(data, lambda upright: cover_size(upright, size))
    except ImageDecodeError as err:
        raise UndecodableImageError(str(err)) from err
    # The crop is computed on the source's displayed geometry, then mapped onto the decoded
    # pixels, so a decode-time scale never shifts it; crop and scale are one resampling pass.
    crop = decoded.region(centre_crop_box(decoded.source_size, size))
    image = resample(decoded.image, size, crop)
    return ThumbnailResult(data=encode_jpeg(image), width=image.width, height=image.height)
