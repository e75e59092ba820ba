"""Resize: fit the upright image inside a box, never upscaling, as an sRGB JPEG without metadata.

Pure: bytes in, bytes and facts out. The decoding, orientation, colour and encoding rules are
`qip_shared.imaging`'s, shared with the thumbnail stage.
"""

from __future__ import annotations

from dataclasses import dataclass

from qip_resize.errors import UndecodableImageError
from qip_shared.config import RESIZE_BOX
from qip_shared.imaging import (
    ImageDecodeError,
    Size,
    decode_upright,
    encode_jpeg,
    fit_size,
    resample,
)


@dataclass(frozen=True)
class ResizeResult:
    """The resized JPEG and its pixel size."""

    data: bytes
    width: int
    height: int


def resize_image(data: bytes, *, box: Size = RESIZE_BOX) -> ResizeResult:
    """Fit `data`'s upright first frame inside `box` (aspect kept, never upscaled) as a JPEG."""
    if box[0] < 1 or box[1] < 1:
        raise ValueError(f"box must be at least 1x1, got {box}")
    try:
        # Decode only as large as the fitted output needs (JPEG DCT scaling).
        decoded = decode_upright(data, lambda upright: fit_size(upright, box))
    except ImageDecodeError as err:
        raise UndecodableImageError(str(err)) from err
    # The output size follows the source's displayed size, not the decode-time scaled one.
    target = fit_size(decoded.source_size, box)
    image = decoded.image
    if image.size != target or decoded.content != (0.0, 0.0, image.width, image.height):
        image = resample(image, target, decoded.content)
    return ResizeResult(data=encode_jpeg(image), width=image.width, height=image.height)
