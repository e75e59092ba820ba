"""Unit tests of qip_resize.core on images the tests generate."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image

from qip_resize.core import ResizeResult, resize_image
from qip_resize.errors import UndecodableImageError
from qip_shared.errors import PermanentError

BOX = (1024, 768)


def decoded(result: ResizeResult, images: Any) -> Image.Image:
    """The output JPEG, checked clean and of the reported size."""
    image = images.assert_clean_jpeg(result.data)
    assert image.size == (result.width, result.height)
    return image


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ((2048, 1536), (1024, 768)),
        ((1600, 1200), (1024, 768)),
        ((3000, 1000), (1024, 341)),
        ((1000, 3000), (256, 768)),
        ((1024, 768), (1024, 768)),
        ((640, 480), (640, 480)),  # never upscaled
    ],
)
def test_fits_inside_the_box_keeping_aspect(
    source: tuple[int, int], expected: tuple[int, int], images: Any
) -> None:
    data = images.encode(images.quadrant_image(source), "JPEG", quality=90)
    result = resize_image(data)
    assert (result.width, result.height) == expected
    image = decoded(result, images)
    assert all(map(images.close, images.quadrant_colours(image), images.QUADRANTS))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_comes_out_upright(orientation: int, images: Any) -> None:
    # Displayed 1600x1200 (stored 1200x1600 for 5..8): upright output is landscape 1024x768.
    data = images.oriented(images.quadrant_image((1600, 1200)), orientation, quality=90)
    result = resize_image(data)
    assert (result.width, result.height) == (1024, 768)
    colours = images.quadrant_colours(decoded(result, images))
    assert all(map(images.close, colours, images.QUADRANTS)), (orientation, colours)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_small_oriented_png_is_upright_and_not_upscaled(orientation: int, images: Any) -> None:
    data = images.oriented(images.quadrant_image((60, 40)), orientation, "PNG")
    result = resize_image(data)
    assert (result.width, result.height) == (60, 40)
    colours = images.quadrant_colours(decoded(result, images))
    assert all(map(images.close, colours, images.QUADRANTS)), (orientation, colours)


def test_gps_and_camera_exif_are_not_carried(images: Any) -> None:
    data = images.oriented(images.quadrant_image((300, 200)), 1, quality=90)
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(0x8825)  # the source has GPS
    result = resize_image(data)
    decoded(result, images)
    for marker in (b"Exif", b"QIP test camera", b"ICC_PROFILE"):
        assert marker not in result.data


def alpha_png(mode: str) -> bytes:
    """Left half opaque red (or black in grey modes), right half fully transparent."""
    if mode == "LA":
        image = Image.new("LA", (40, 20), (0, 0))
        image.paste((0, 255), (0, 0, 20, 20))
    else:
        image = Image.new("RGBA", (40, 20), (0, 0, 255, 0))
        image.paste((255, 0, 0, 255), (0, 0, 20, 20))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(("mode", "opaque"), [("RGBA", (255, 0, 0)), ("LA", (0, 0, 0))])
def test_alpha_is_flattened_on_white(mode: str, opaque: tuple[int, int, int], images: Any) -> None:
    image = decoded(resize_image(alpha_png(mode)), images)
    assert images.close(image.getpixel((5, 10)), opaque)
    assert images.close(image.getpixel((35, 10)), images.WHITE)


def test_palette_with_transparency_is_flattened_on_white(images: Any) -> None:
    palette = Image.new("P", (40, 20), 0)
    palette.putpalette([255, 0, 0, 0, 0, 255])
    palette.paste(1, (20, 0, 40, 20))
    for fmt in ("PNG", "GIF"):
        image = decoded(resize_image(images.encode(palette, fmt, transparency=1)), images)
        assert images.close(image.getpixel((5, 10)), images.RED), fmt
        assert images.close(image.getpixel((35, 10)), images.WHITE), fmt


@pytest.mark.parametrize(
    ("mode", "fmt", "colour"),
    [
        ("RGB", "JPEG", (200, 30, 60)),
        ("RGB", "PNG", (200, 30, 60)),
        ("RGB", "WEBP", (200, 30, 60)),
        ("L", "JPEG", 128),
        ("L", "PNG", 128),
        ("CMYK", "JPEG", (0, 255, 255, 0)),
        ("1", "PNG", 1),
        ("P", "GIF", 3),
    ],
)
def test_every_mode_becomes_an_rgb_jpeg(mode: str, fmt: str, colour: Any, images: Any) -> None:
    source = Image.new(mode, (64, 48), colour)
    if mode == "P":
        source.putpalette([0, 0, 0] * 3 + [10, 200, 30])
    image = decoded(resize_image(images.encode(source, fmt)), images)
    assert image.size == (64, 48)
    assert images.close(image.getpixel((32, 24)), source.convert("RGB").getpixel((32, 24)))


def test_sixteen_bit_grey_is_scaled_not_clipped(images: Any) -> None:
    source = Image.new("I;16", (64, 16), 65_535)
    source.paste(Image.new("I;16", (32, 16), 16_000), (0, 0))  # ~62 in 8 bits; clipped: 255
    image = decoded(resize_image(images.encode(source, "PNG")), images)
    assert images.close(image.getpixel((8, 8)), (62, 62, 62), tolerance=6)
    assert images.close(image.getpixel((56, 8)), (255, 255, 255), tolerance=6)


def test_animation_gives_the_first_frame(images: Any) -> None:
    frames = [Image.new("RGB", (80, 60), c) for c in (images.RED, images.GREEN, images.BLUE)]
    for fmt in ("GIF", "WEBP"):
        data = images.encode(frames[0], fmt, save_all=True, append_images=frames[1:], loop=0)
        image = decoded(resize_image(data), images)
        assert images.close(image.getpixel((40, 30)), images.RED), fmt


@pytest.mark.parametrize("size", [(1, 1), (2, 1), (1, 2)])
@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP"])
def test_tiny_images_are_kept_at_their_size(size: tuple[int, int], fmt: str, images: Any) -> None:
    result = resize_image(images.encode(Image.new("RGB", size, images.RED), fmt))
    assert (result.width, result.height) == size
    decoded(result, images)


@pytest.mark.parametrize(
    ("source", "expected"),
    [((5000, 3), (1024, 1)), ((3, 5000), (1, 768)), ((4000, 1), (1024, 1)), ((1, 3000), (1, 768))],
)
def test_extreme_aspect_ratios_never_give_zero_pixels(
    source: tuple[int, int], expected: tuple[int, int], images: Any
) -> None:
    for fmt in ("JPEG", "PNG"):
        result = resize_image(images.encode(Image.new("RGB", source, images.BLUE), fmt))
        assert (result.width, result.height) == expected, fmt
        decoded(result, images)


def test_custom_box(images: Any) -> None:
    data = images.encode(images.quadrant_image((400, 300)), "PNG")
    assert (
        resize_image(data, box=(100, 100)).width,
        resize_image(data, box=(100, 100)).height,
    ) == (
        100,
        75,
    )
    with pytest.raises(ValueError, match="box"):
        resize_image(data, box=(0, 10))


@pytest.mark.parametrize(
    "data",
    [b"", b"plain text, not an image", b"\xff\xd8\xff\xe0" + b"\0" * 40, b"GIF89a\x01\x00"],
    ids=["empty", "text", "jpeg-signature-only", "gif-header-only"],
)
def test_undecodable_input_is_a_permanent_error(data: bytes) -> None:
    with pytest.raises(UndecodableImageError) as caught:
        resize_image(data)
    assert isinstance(caught.value, PermanentError)
    assert caught.value.code == "UNDECODABLE_IMAGE"


def test_truncated_jpeg_is_a_permanent_error(images: Any) -> None:
    data = images.encode(images.quadrant_image((200, 200)), "JPEG")
    with pytest.raises(UndecodableImageError):
        resize_image(data[: len(data) // 2])
