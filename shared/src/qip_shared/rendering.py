"""Render a stage's recipe variants from one decode: geometry, crop, resampling, encoding.

Pure (bytes and specs in, encoded variants out); requires the `imaging` extra. The decode is
made once, at the smallest scale that serves the largest variant, and every variant is resampled
from it. Cover variants are cropped by `cover_crop_box`, the one place that decides the crop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PIL.Image import Image

from qip_shared.imaging import (
    Box,
    Decoded,
    Size,
    centre_crop_box,
    cover_size,
    decode_upright,
    decoder_version,
    encode,
    encoder_version,
    fit_size,
    resample,
)
from qip_shared.recipe import EncodedVariant, Fit, VariantSpec

# (upright source size, the variant's box) -> the region of the source to show, in source pixels.
CropRule = Callable[[Size, Size], Box]


def cover_crop_box(source_size: Size, box: Size) -> Box:
    """The region of the upright source a cover variant shows (today: the centred crop)."""
    return centre_crop_box(source_size, box)


def needed_size(source_size: Size, variants: Sequence[VariantSpec]) -> Size:
    """The smallest upright size serving every variant (each dimension's largest need)."""
    needs = [
        fit_size(source_size, v.box) if v.fit is Fit.INSIDE else cover_size(source_size, v.box)
        for v in variants
    ]
    return (max(w for w, _ in needs), max(h for _, h in needs))


def resample_variants(
    data: bytes, variants: Sequence[VariantSpec], *, crop: CropRule = cover_crop_box
) -> tuple[Decoded, list[Image]]:
    """Decode `data` once and resample it to each variant's geometry (before any encoding)."""
    decoded = decode_upright(data, lambda upright: needed_size(upright, variants))
    images = [
        _fit_inside(decoded, spec.box)
        if spec.fit is Fit.INSIDE
        else resample(decoded.image, spec.box, decoded.region(crop(decoded.source_size, spec.box)))
        for spec in variants
    ]
    return decoded, images


def render_variants(
    data: bytes, variants: Sequence[VariantSpec], *, crop: CropRule = cover_crop_box
) -> list[EncodedVariant]:
    """Decode `data` once and encode every variant in each of its formats, in recipe order.

    Raises `qip_shared.imaging.ImageDecodeError` when the bytes do not decode.
    """
    if not variants:
        return []
    decoded, images = resample_variants(data, variants, crop=crop)
    decoder = decoder_version(decoded.source_format)
    return [
        EncodedVariant(
            name=spec.name,
            format=fmt,
            width=image.width,
            height=image.height,
            data=encode(image, fmt),
            decoder=decoder,
            encoder=encoder_version(fmt),
        )
        for spec, image in zip(variants, images, strict=True)
        for fmt in spec.formats
    ]


def _fit_inside(decoded: Decoded, box: Size) -> Image:
    """The whole upright source inside `box` (aspect kept, never upscaled)."""
    # The output size follows the source's displayed size, not the decode-time scaled one.
    target = fit_size(decoded.source_size, box)
    image = decoded.image
    if image.size != target or decoded.content != (0.0, 0.0, image.width, image.height):
        image = resample(image, target, decoded.content)
    return image
