"""Unit tests of qip_shared.rendering: every variant of a stage from one decode, to size, clean."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image, features

from qip_shared import rendering
from qip_shared.enums import StageName
from qip_shared.imaging import ImageDecodeError
from qip_shared.recipe import Fit, OutputFormat, VariantSpec

pytestmark = pytest.mark.skipif(not features.check("avif"), reason="Pillow built without AVIF")

ALL_FORMATS = (OutputFormat.JPEG, OutputFormat.WEBP, OutputFormat.AVIF)
PIL_NAMES = {OutputFormat.JPEG: "JPEG", OutputFormat.WEBP: "WEBP", OutputFormat.AVIF: "AVIF"}


def spec(name: str, fit: Fit, box: tuple[int, int], *formats: OutputFormat) -> VariantSpec:
    return VariantSpec(
        name=name,
        stage=StageName.RESIZE,
        fit=fit,
        width=box[0],
        height=box[1],
        formats=formats or ALL_FORMATS,
    )


def photo(size: tuple[int, int], fmt: str = "JPEG", **params: Any) -> bytes:
    """Left half red, right half blue: where a crop or a fit went shows in the colours."""
    image = Image.new("RGB", size, (220, 30, 30))
    image.paste((30, 30, 220), (size[0] // 2, 0, size[0], size[1]))
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def test_every_variant_in_every_format_is_to_size_and_clean() -> None:
    variants = [
        spec("display", Fit.INSIDE, (400, 300)),
        spec("square", Fit.COVER, (120, 120)),
        spec("banner", Fit.COVER, (300, 50), OutputFormat.WEBP),
    ]
    source = photo((1600, 1000), exif=Image.Exif().tobytes(), icc_profile=b"")
    rendered = rendering.render_variants(source, variants)

    assert [(r.name, r.format) for r in rendered] == [
        *(("display", f) for f in ALL_FORMATS),
        *(("square", f) for f in ALL_FORMATS),
        ("banner", OutputFormat.WEBP),
    ]
    expected = {"display": (400, 250), "square": (120, 120), "banner": (300, 50)}
    for variant in rendered:
        image = Image.open(io.BytesIO(variant.data))
        assert image.format == PIL_NAMES[variant.format]
        assert image.size == (variant.width, variant.height) == expected[variant.name]
        assert "exif" not in image.info
        assert "icc_profile" not in image.info or not image.info["icc_profile"]
        image = image.convert("RGB")
        left, right = image.getpixel((2, image.height // 2)), image.getpixel((image.width - 3, 2))
        assert left[0] > 150 > left[2], (variant.name, variant.format, left)
        assert right[2] > 150 > right[0], (variant.name, variant.format, right)
        assert variant.decoder.startswith("Pillow ")
        assert "JPEG" in variant.decoder


def test_a_stage_decodes_once_at_the_scale_its_largest_variant_needs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[int, int]] = []
    real = rendering.decode_upright

    def counting(data: bytes, min_size: Any, **kwargs: Any) -> Any:
        decoded = real(data, min_size, **kwargs)
        calls.append(decoded.image.size)
        return decoded

    monkeypatch.setattr(rendering, "decode_upright", counting)
    variants = [spec("small", Fit.COVER, (100, 100)), spec("large", Fit.INSIDE, (500, 500))]
    rendering.render_variants(photo((4000, 2000)), variants)
    # One decode; JPEG DCT scaling stops at the first size covering the 500x250 fit.
    assert calls == [(500, 250)]


def test_needed_size_is_each_dimensions_largest_need() -> None:
    variants = [spec("wide", Fit.INSIDE, (800, 100)), spec("thumb", Fit.COVER, (200, 200))]
    # inside 800x100 of 4000x2000 -> 200x100; cover 200x200 -> 400x200
    assert rendering.needed_size((4000, 2000), variants) == (400, 200)


def test_cover_crop_is_the_one_place_that_decides_the_crop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A crop rule showing only the left (red) half must give an all-red cover variant.
    def left_half(source: tuple[int, int], box: tuple[int, int]) -> tuple[float, ...]:
        return (0.0, 0.0, source[0] / 2, float(source[1]))

    [variant] = rendering.render_variants(
        photo((800, 400)), [spec("sq", Fit.COVER, (50, 50), OutputFormat.JPEG)], crop=left_half
    )
    image = Image.open(io.BytesIO(variant.data)).convert("RGB")
    assert all(image.getpixel((x, 25))[0] > 150 for x in range(0, 50, 7))


def test_undecodable_bytes_raise_the_decode_error() -> None:
    with pytest.raises(ImageDecodeError):
        rendering.render_variants(b"not an image", [spec("x", Fit.INSIDE, (10, 10))])
