"""Unit tests of qip_shared.render: ThumbHash vectors, colour, focal point, pHash, focal crop."""

from __future__ import annotations

import base64
import io
import math
import random
import statistics

import pytest
from PIL import Image, ImageDraw

from qip_shared.duplicates import hamming, hash_bands
from qip_shared.imaging import Decoded, decode_upright
from qip_shared.render import (
    analyse,
    focal_crop_box,
    focal_point,
    perceptual_hash,
    thumbhash_base64,
)

# Produced by the reference encoder (npm `thumbhash` 0.1.1, `rgbaToThumbHash`) on `pattern`.
REFERENCE_THUMBHASHES = [
    (32, 24, False, "HRgGDYgQUqdTdoh0hlaHdZR//p15"),
    (13, 14, False, "GHgKJw5wVHhkaJqFiGiIZ3iHh9/Xb1kG"),
    (16, 32, True, "3CeCCwQVUIZbeHfTWf/IWYh2dXBXh3c="),
    (6, 3, True, "zvmCA4IS0KakpmngTAl9mHCHd4lpimc="),
    (100, 75, False, "HwgCBYJGZDQgFERRZTWIcf1JfPfP"),
    (1, 1, False, "AAgCBwAAAAAAAAAAAAAAAAAAAAAAAAAA"),
]


def pattern(width: int, height: int, with_alpha: bool) -> tuple[Image.Image, Image.Image | None]:
    """The deterministic RGB(A) test pattern the reference vectors were computed on."""
    rgb = Image.new("RGB", (width, height))
    alpha = Image.new("L", (width, height), 255)
    for y in range(height):
        for x in range(width):
            rgb.putpixel((x, y), ((x * 37 + y * 11) % 256, (x * x + 3 * y) % 256, x * y * 5 % 256))
            if with_alpha:
                alpha.putpixel((x, y), 0 if (x + y) % 3 == 0 else (x * 20 + y * 7) % 256)
    return rgb, alpha if with_alpha else None


@pytest.mark.parametrize(("width", "height", "with_alpha", "expected"), REFERENCE_THUMBHASHES)
def test_thumbhash_matches_the_reference_encoder(
    width: int, height: int, with_alpha: bool, expected: str
) -> None:
    rgb, alpha = pattern(width, height, with_alpha)
    assert thumbhash_base64(rgb, alpha) == expected


def test_thumbhash_refuses_more_than_100_pixels_a_side() -> None:
    with pytest.raises(ValueError, match="100x100"):
        thumbhash_base64(Image.new("RGB", (101, 10)))


def decoded_of(image: Image.Image, fmt: str = "PNG") -> Decoded:
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return decode_upright(buffer.getvalue(), (200, 200))


def test_thumbhash_header_says_landscape_and_alpha() -> None:
    opaque = analyse(decoded_of(Image.new("RGB", (300, 100), (10, 200, 30))))
    header = base64.b64decode(opaque.thumbhash)
    assert header[2] >> 7 == 0  # hasAlpha bit of header24
    assert header[4] >> 7 == 1  # isLandscape bit of header16
    clear = Image.new("RGBA", (100, 300), (10, 200, 30, 255))
    clear.paste((0, 0, 0, 0), (0, 0, 100, 150))
    transparent = analyse(decoded_of(clear))
    header = base64.b64decode(transparent.thumbhash)
    assert header[2] >> 7 == 1
    assert header[4] >> 7 == 0


def test_mostly_red_image_has_a_red_dominant_colour() -> None:
    image = Image.new("RGB", (400, 300), (200, 20, 30))
    ImageDraw.Draw(image).rectangle((0, 0, 120, 90), fill=(20, 40, 220))
    colour = analyse(decoded_of(image, "JPEG")).dominant_color
    red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    assert red > 150
    assert green < 80
    assert blue < 80


def test_dominant_colour_ignores_transparent_pixels() -> None:
    image = Image.new("RGBA", (200, 200), (0, 0, 0, 0))
    image.paste((0, 160, 0, 255), (0, 0, 80, 80))  # the only opaque part is green
    colour = analyse(decoded_of(image)).dominant_color
    assert int(colour[3:5], 16) > 120
    assert int(colour[1:3], 16) < 60


def busy_corner(
    size: tuple[int, int], box: tuple[int, int, int, int], seed: int = 7
) -> Image.Image:
    """A flat grey picture with a noisy checkered subject inside `box`."""
    rng = random.Random(seed)
    image = Image.new("RGB", size, (128, 128, 128))
    draw = ImageDraw.Draw(image)
    step = 8
    for y in range(box[1], box[3], step):
        for x in range(box[0], box[2], step):
            colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
            draw.rectangle((x, y, min(x + step, box[2]) - 1, min(y + step, box[3]) - 1), colour)
    return image


def test_focal_point_sits_on_a_busy_corner_subject() -> None:
    subject = (560, 40, 760, 200)  # top-right corner of an 800x600 flat picture
    x, y = analyse(decoded_of(busy_corner((800, 600), subject), "JPEG")).focal_point
    assert subject[0] / 800 <= x <= subject[2] / 800
    assert subject[1] / 600 <= y <= subject[3] / 600


def test_flat_image_focuses_on_the_centre() -> None:
    assert focal_point(Image.new("L", (64, 48), 90)) == (0.5, 0.5)
    assert focal_point(Image.new("L", (2, 2), 90)) == (0.5, 0.5)


def test_focal_crop_keeps_the_subject_that_fits() -> None:
    size = (800, 600)
    subject = (560, 40, 760, 200)
    focal = ((subject[0] + subject[2]) / 2 / 800, (subject[1] + subject[3]) / 2 / 600)
    left, top, right, bottom = focal_crop_box(size, (1, 1), focal)
    assert (right - left, bottom - top) == (600, 600)
    assert left <= subject[0]
    assert right >= subject[2]
    assert (top, bottom) == (0, 600)


def test_focal_crop_at_the_centre_is_the_centre_crop() -> None:
    assert focal_crop_box((900, 300), (1, 1), (0.5, 0.5)) == (300.0, 0.0, 600.0, 300.0)
    assert focal_crop_box((300, 900), (1, 1), (0.5, 0.5)) == (0.0, 300.0, 300.0, 600.0)
    # Clamped to the image: a focal point on the edge still yields a full-size crop.
    assert focal_crop_box((900, 300), (1, 1), (1.0, 0.0)) == (600.0, 0.0, 900.0, 300.0)


def reference_phash(grey: Image.Image) -> str:
    """pHash straight from the DCT-II definition over the whole 32x32 grid (slow, obvious)."""
    small = grey.resize((32, 32), Image.Resampling.LANCZOS)
    pixel = [[small.getpixel((x, y)) for x in range(32)] for y in range(32)]
    low = []
    for v in range(8):
        for u in range(8):
            total = 0.0
            for y in range(32):
                for x in range(32):
                    value = pixel[y][x]
                    assert isinstance(value, int)
                    total += (
                        value
                        * math.cos(math.pi * u * (2 * x + 1) / 64)
                        * math.cos(math.pi * v * (2 * y + 1) / 64)
                    )
            low.append(total)
    median = statistics.median(low)
    return f"{int(''.join('1' if c > median else '0' for c in low), 2):016x}"


def test_perceptual_hash_is_the_dct_definition() -> None:
    grey = busy_corner((120, 90), (10, 10, 100, 70)).convert("L")
    phash, stable = perceptual_hash(grey)
    assert phash == reference_phash(grey)
    assert len(phash) == 16
    assert stable


def test_flat_symmetric_or_striped_images_have_no_stable_hash() -> None:
    flat = Image.new("L", (64, 64), 200)
    stripes = Image.new("L", (64, 48), 30)  # a flag: three horizontal bands
    stripes.paste(128, (0, 16, 64, 32))
    stripes.paste(230, (0, 32, 64, 48))
    glow = Image.radial_gradient("L").resize((64, 64))  # symmetric both ways
    for picture in (flat, stripes, glow):
        assert not perceptual_hash(picture)[1]


def test_resized_reencoded_copy_stays_close_and_another_picture_does_not() -> None:
    original = busy_corner((800, 600), (100, 100, 700, 500), seed=1)
    copy = original.resize((400, 300), Image.Resampling.LANCZOS)
    other = busy_corner((800, 600), (100, 100, 700, 500), seed=2)
    first = analyse(decoded_of(original, "JPEG")).perceptual_hash
    assert hamming(first, analyse(decoded_of(copy, "WEBP")).perceptual_hash) <= 4
    assert hamming(first, analyse(decoded_of(other, "JPEG")).perceptual_hash) > 16


def test_hash_bands_split_the_hash_in_four() -> None:
    assert hash_bands("0123456789abcdef") == ("0123", "4567", "89ab", "cdef")
    assert hamming("0123456789abcdef", "0123456789abcdee") == 1
    assert hamming("ffffffffffffffff", "0000000000000000") == 64
