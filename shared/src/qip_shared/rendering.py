"""Render a stage's recipe variants from one decode: geometry, crop, resampling, encoding.

Pure (bytes and specs in, encoded variants out); requires the `imaging` extra. The decode is
made once, at the smallest scale that serves the largest variant, and every variant is resampled
from it. Cover variants are cropped by `cover_crop_box`, the one place that decides the crop:
around the image's focal point (`qip_shared.render.focal_point_of`), measured on that decode.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PIL.Image import Image

from qip_shared.encoders import encode, encoder_version
from qip_shared.imaging import (
    Box,
    Decoded,
    Size,
    cover_size,
    decode_upright,
    decoder_version,
    fit_size,
    resample,
)
from qip_shared.recipe import EncodedVariant, Fit, VariantSpec
from qip_shared.render import CENTRE, focal_crop_box, focal_point_of

# (upright source size, the variant's box) -> the region of the source to show, in source pixels.
CropRule = Callable[[Size, Size], Box]


def cover_crop_box(source_size: Size, box: Size, focal: tuple[float, float] = CENTRE) -> Box:
    """The region of the upright source a cover variant shows: `box`'s aspect around `focal`."""
    return focal_crop_box(source_size, box, focal)


def crop_around(focal: tuple[float, float]) -> CropRule:
    """The crop rule placing every cover variant around `focal` (0..1 of the upright image)."""
    return lambda source_size, box: cover_crop_box(source_size, box, focal)


def needed_size(source_size: Size, variants: Sequence[VariantSpec]) -> Size:
    """The smallest upright size serving every variant (each dimension's largest need)."""
    needs = [
        fit_size(source_size, v.box) if v.fit is Fit.INSIDE else cover_size(source_size, v.box)
        for v in variants
    ]
    return (max(w for w, _ in needs), max(h for _, h in needs))


def render_variants(
    data: bytes, variants: Sequence[VariantSpec], *, crop: CropRule | None = None
) -> list[EncodedVariant]:
    """Decode `data` once and encode every variant in each of its formats, in recipe order.

    Cover variants are cropped by `crop`, by default around the focal point of the decode.
    Raises `qip_shared.imaging.ImageDecodeError` when the bytes do not decode.
    """
    if not variants:
        return []
    decoded = decode_for(data, variants)
    if crop is None:
        covers = any(v.fit is Fit.COVER for v in variants)
        crop = crop_around(focal_point_of(decoded) if covers else CENTRE)
    return render_decoded(decoded, variants, crop=crop)


def decode_for(data: bytes, variants: Sequence[VariantSpec]) -> Decoded:
    """The one decode serving every variant (raises `ImageDecodeError`)."""
    return decode_upright(data, lambda upright: needed_size(upright, variants))


def resample_decoded(
    decoded: Decoded, variants: Sequence[VariantSpec], *, crop: CropRule = cover_crop_box
) -> list[Image]:
    """Each variant's pixels, resampled from one decode (what the encoders are given)."""
    return [
        _fit_inside(decoded, spec.box)
        if spec.fit is Fit.INSIDE
        else resample(decoded.image, spec.box, decoded.region(crop(decoded.source_size, spec.box)))
        for spec in variants
    ]


def render_decoded(
    decoded: Decoded, variants: Sequence[VariantSpec], *, crop: CropRule = cover_crop_box
) -> list[EncodedVariant]:
    """Encode every variant of an existing decode in each of its formats, in recipe order."""
    decoder = decoder_version(decoded.source_format)
    images = resample_decoded(decoded, variants, crop=crop)
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
