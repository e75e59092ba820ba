"""Unit tests of qip_thumbnail.core on images the tests generate."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image

from qip_shared.errors import PermanentError
from qip_thumbnail.core import ThumbnailResult, make_thumbnail
from qip_thumbnail.errors import UndecodableImageError

SIZE = (200, 200)


def decoded(result: ThumbnailResult, images: Any) -> Image.Image:
    """The output JPEG, checked clean, 200x200 and of the reported size."""
    image = images.assert_clean_jpeg(result.data)
    assert image.size == (result.width, result.height) == SIZE
    return image


def banded(size: tuple[int, int]) -> Image.Image:
    """Landscape: blue outer thirds, a red centre third (portrait: the same, top to bottom)."""
    width, height = size
    image = Image.new("RGB", size, (0, 0, 255))
    if width >= height:
        image.paste((255, 0, 0), (width // 3, 0, 2 * width // 3, height))
    else:
        image.paste((255, 0, 0), (0, height // 3, width, 2 * height // 3))
    return image


@pytest.mark.parametrize(
    "source", [(2000, 1500), (1500, 2000), (600, 600), (4000, 1000), (300, 201), (201, 300)]
)
def test_always_exactly_200x200(source: tuple[int, int], images: Any) -> None:
    decoded(make_thumbnail(images.encode(images.quadrant_image(source), "JPEG")), images)


def test_is_the_centre_square(images: Any) -> None:
    # 900x300: the centre square is exactly the red middle third; blue must not show.
    image = decoded(make_thumbnail(images.encode(banded((900, 300)), "PNG")), images)
    for point in [(3, 100), (100, 100), (196, 100), (100, 3), (100, 196)]:
        assert images.close(image.getpixel(point), images.RED), point


def test_portrait_centre_square(images: Any) -> None:
    image = decoded(make_thumbnail(images.encode(banded((300, 900)), "PNG")), images)
    for point in [(100, 3), (100, 100), (100, 196)]:
        assert images.close(image.getpixel(point), images.RED), point


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_comes_out_upright(orientation: int, images: Any) -> None:
    # A square picture makes the crop all of it, so the four quadrants must land in place.
    data = images.oriented(images.quadrant_image((1600, 1600)), orientation, quality=90)
    colours = images.quadrant_colours(decoded(make_thumbnail(data), images))
    assert all(map(images.close, colours, images.QUADRANTS)), (orientation, colours)


@pytest.mark.parametrize(
    ("shown", "fmt"),
    [
        ((900, 300), "JPEG"),
        ((2701, 901), "JPEG"),  # decoded at 1/4 (DCT scaling)
        ((3601, 1201), "PNG"),  # reduced by 2 before the crop
    ],
)
@pytest.mark.parametrize("orientation", range(1, 9))
def test_crop_is_taken_from_the_upright_image(
    orientation: int, shown: tuple[int, int], fmt: str, images: Any
) -> None:
    # A red middle third: only the centre square of the upright picture is all red.
    params = {"quality": 95} if fmt == "JPEG" else {"compress_level": 1}
    data = images.oriented(banded(shown), orientation, fmt, **params)
    image = decoded(make_thumbnail(data), images)
    for point in [(5, 100), (100, 100), (194, 100)]:
        assert images.close(image.getpixel(point), images.RED), (orientation, point)


def test_gps_and_camera_exif_are_not_carried(images: Any) -> None:
    data = images.oriented(images.quadrant_image((300, 200)), 1, quality=90)
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(0x8825)
    result = make_thumbnail(data)
    decoded(result, images)
    for marker in (b"Exif", b"QIP test camera", b"ICC_PROFILE"):
        assert marker not in result.data


def test_alpha_is_flattened_on_white(images: Any) -> None:
    source = Image.new("RGBA", (40, 40), (0, 0, 255, 0))
    source.paste((255, 0, 0, 255), (0, 0, 20, 40))
    image = decoded(make_thumbnail(images.encode(source, "PNG")), images)
    assert images.close(image.getpixel((40, 100)), images.RED)
    assert images.close(image.getpixel((160, 100)), images.WHITE)


@pytest.mark.parametrize(
    ("mode", "fmt", "colour"),
    [
        ("RGB", "JPEG", (200, 30, 60)),
        ("RGB", "WEBP", (200, 30, 60)),
        ("RGBA", "PNG", (200, 30, 60, 255)),
        ("LA", "PNG", (90, 255)),
        ("L", "JPEG", 128),
        ("CMYK", "JPEG", (0, 255, 255, 0)),
        ("1", "PNG", 1),
        ("P", "GIF", 3),
    ],
)
def test_every_mode_becomes_an_rgb_jpeg(mode: str, fmt: str, colour: Any, images: Any) -> None:
    source = Image.new(mode, (64, 48), colour)
    if mode == "P":
        source.putpalette([0, 0, 0] * 3 + [10, 200, 30])
    image = decoded(make_thumbnail(images.encode(source, fmt)), images)
    expected = source.convert("RGB").getpixel((32, 24))
    assert images.close(image.getpixel((100, 100)), expected)


def test_palette_with_transparency_is_flattened_on_white(images: Any) -> None:
    palette = Image.new("P", (40, 40), 1)
    palette.putpalette([255, 0, 0, 0, 0, 255])
    image = decoded(make_thumbnail(images.encode(palette, "GIF", transparency=1)), images)
    assert images.close(image.getpixel((100, 100)), images.WHITE)


def test_sixteen_bit_grey_is_scaled_not_clipped(images: Any) -> None:
    source = Image.new("I;16", (64, 64), 16_000)  # ~62 in 8 bits; clipping would make it 255
    image = decoded(make_thumbnail(images.encode(source, "PNG")), images)
    assert images.close(image.getpixel((100, 100)), (62, 62, 62), tolerance=6)


def test_animation_gives_the_first_frame(images: Any) -> None:
    frames = [Image.new("RGB", (80, 60), c) for c in (images.RED, images.GREEN, images.BLUE)]
    for fmt in ("GIF", "WEBP"):
        data = images.encode(frames[0], fmt, save_all=True, append_images=frames[1:], loop=0)
        image = decoded(make_thumbnail(data), images)
        assert images.close(image.getpixel((100, 100)), images.RED), fmt


@pytest.mark.parametrize("size", [(1, 1), (2, 1), (1, 2), (5000, 3), (3, 5000), (4000, 1)])
@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_tiny_and_extreme_images_still_give_200x200(
    size: tuple[int, int], fmt: str, images: Any
) -> None:
    image = decoded(make_thumbnail(images.encode(Image.new("RGB", size, images.RED), fmt)), images)
    assert images.close(image.getpixel((100, 100)), images.RED)


def test_custom_size(images: Any) -> None:
    data = images.encode(images.quadrant_image((400, 300)), "PNG")
    result = make_thumbnail(data, size=(64, 32))
    assert (result.width, result.height) == (64, 32)
    assert Image.open(io.BytesIO(result.data)).size == (64, 32)
    with pytest.raises(ValueError, match="size"):
        make_thumbnail(data, size=(0, 10))


@pytest.mark.parametrize(
    "data",
    [b"", b"plain text, not an image", b"\xff\xd8\xff\xe0" + b"\0" * 40, b"GIF89a\x01\x00"],
    ids=["empty", "text", "jpeg-signature-only", "gif-header-only"],
)
def test_undecodable_input_is_a_permanent_error(data: bytes) -> None:
    with pytest.raises(UndecodableImageError) as caught:
        make_thumbnail(data)
    assert isinstance(caught.value, PermanentError)
    assert caught.value.code == "UNDECODABLE_IMAGE"
