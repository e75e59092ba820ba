"""Resize: render the recipe's resize variants from one decode, as clean sRGB outputs.

Pure: bytes and variant specs in, encoded variants out. The decoding, orientation, colour,
geometry and encoding rules are `qip_shared`'s (`imaging`, `rendering`), shared with thumbnail.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from qip_resize.errors import UndecodableImageError
from qip_shared.config import RESIZE_BOX
from qip_shared.enums import StageName
from qip_shared.imaging import ImageDecodeError, Size
from qip_shared.recipe import EncodedVariant, Fit, OutputFormat, VariantSpec
from qip_shared.rendering import render_variants


@dataclass(frozen=True)
class ResizeResult:
    """The resized JPEG and its pixel size."""

    data: bytes
    width: int
    height: int


def render_resize(data: bytes, variants: Sequence[VariantSpec]) -> list[EncodedVariant]:
    """Every resize variant of `data`'s upright first frame, in each format, from one decode."""
    try:
        return render_variants(data, variants)
    except ImageDecodeError as err:
        raise UndecodableImageError(str(err)) from err


def resize_image(data: bytes, *, box: Size = RESIZE_BOX) -> ResizeResult:
    """Fit `data`'s upright first frame inside `box` (aspect kept, never upscaled) as a JPEG."""
    if box[0] < 1 or box[1] < 1:
        raise ValueError(f"box must be at least 1x1, got {box}")
    spec = VariantSpec(
        name="resized",
        stage=StageName.RESIZE,
        fit=Fit.INSIDE,
        width=box[0],
        height=box[1],
        formats=(OutputFormat.JPEG,),
    )
    (jpeg,) = render_resize(data, [spec])
    return ResizeResult(data=jpeg.data, width=jpeg.width, height=jpeg.height)
