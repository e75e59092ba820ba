"""Thumbnail: render the recipe's thumbnail variants from one small decode, and read the image.

Pure: bytes and variant specs in, encoded variants and render facts out. The same decode gives
the render-ready facts (`qip_shared.render.analyse`: ThumbHash, dominant colour, focal point,
perceptual hash), and cover variants are cropped around that focal point
(`qip_shared.rendering.cover_crop_box`). The decoding, orientation, colour and encoding rules
are `qip_shared`'s, shared with the resize stage.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from qip_shared.config import THUMBNAIL_SIZE
from qip_shared.duplicates import band_fields
from qip_shared.enums import StageName
from qip_shared.imaging import ImageDecodeError, Size
from qip_shared.pipeline import FocalPoint, RenderFacts
from qip_shared.recipe import EncodedVariant, Fit, OutputFormat, VariantSpec
from qip_shared.render import analyse
from qip_shared.rendering import crop_around, decode_for, render_decoded
from qip_thumbnail.errors import UndecodableImageError


@dataclass(frozen=True)
class Thumbnails:
    """The encoded thumbnail variants and what the decode told about the image."""

    variants: list[EncodedVariant]
    render: RenderFacts


@dataclass(frozen=True)
class ThumbnailResult:
    """The thumbnail JPEG, its pixel size (always the requested size) and the render facts."""

    data: bytes
    width: int
    height: int
    render: RenderFacts


def render_thumbnails(data: bytes, variants: Sequence[VariantSpec]) -> Thumbnails:
    """Every thumbnail variant of `data`'s upright first frame, and its render facts: one decode."""
    try:
        decoded = decode_for(data, variants)
    except ImageDecodeError as err:
        raise UndecodableImageError(str(err)) from err
    analysis = analyse(decoded)
    render = RenderFacts(
        thumbhash=analysis.thumbhash,
        dominant_color=analysis.dominant_color,
        focal_point=FocalPoint(x=analysis.focal_point[0], y=analysis.focal_point[1]),
        perceptual_hash=analysis.perceptual_hash,
        near_matchable=analysis.near_matchable,
    )
    rendered = render_decoded(decoded, variants, crop=crop_around(analysis.focal_point))
    return Thumbnails(variants=rendered, render=render)


def make_thumbnail(data: bytes, *, size: Size = THUMBNAIL_SIZE) -> ThumbnailResult:
    """Crop `data`'s upright first frame to `size`'s aspect around its focal point, as a JPEG."""
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
    thumbnails = render_thumbnails(data, [spec])
    (jpeg,) = thumbnails.variants
    return ThumbnailResult(
        data=jpeg.data, width=jpeg.width, height=jpeg.height, render=thumbnails.render
    )


def render_fields(render: RenderFacts) -> dict[str, Any]:
    """The record attributes of the render facts; the index bands only for a detailed image."""
    fields: dict[str, Any] = {
        "thumbhash": render.thumbhash,
        "dominantColor": render.dominant_color,
        "focalPoint": render.focal_point.to_json_dict(),
        "perceptualHash": render.perceptual_hash,
    }
    if render.near_matchable:
        fields.update(band_fields(render.perceptual_hash))
    return fields
