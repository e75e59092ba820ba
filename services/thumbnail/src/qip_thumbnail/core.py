"""Thumbnail: render the recipe's thumbnail variants from one small decode.

Pure: bytes and variant specs in, encoded variants out. Cover variants are cropped by
`qip_shared.rendering.cover_crop_box`; the decoding, orientation, colour and encoding rules are
`qip_shared`'s, shared with the resize stage.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from qip_shared.config import THUMBNAIL_SIZE
from qip_shared.enums import StageName
from qip_shared.imaging import ImageDecodeError, Size
from qip_shared.recipe import EncodedVariant, Fit, OutputFormat, VariantSpec
from qip_shared.rendering import render_variants
from qip_thumbnail.errors import UndecodableImageError


@dataclass(frozen=True)
class ThumbnailResult:
    """The thumbnail JPEG and its pixel size (always the requested size)."""

    data: bytes
    width: int
    height: int


def render_thumbnails(data: bytes, variants: Sequence[VariantSpec]) -> list[EncodedVariant]:
    """Every thumbnail variant of `data`'s upright first frame, in each format, from one decode."""
    try:
        return render_variants(data, variants)
    except ImageDecodeError as err:
        raise UndecodableImageError(str(err)) from err


def make_thumbnail(data: bytes, *, size: Size = THUMBNAIL_SIZE) -> ThumbnailResult:
    """Crop `data`'s upright first frame to `size`'s aspect and scale it to `size`, as a JPEG."""
    if size[0] < 1 or size[1] < 1:
        raise ValueError(f"size must be at least 1x1, got {size}")
    spec = VariantSpec(
        name="thumbnail",
        stage=StageName.THUMBNAIL,
        fit=Fit.COVER,
        width=size[0],
        height=size[1],
        formats=(OutputFormat.JPEG,),
    )
    (jpeg,) = render_thumbnails(data, [spec])
    return ThumbnailResult(data=jpeg.data, width=jpeg.width, height=jpeg.height)
