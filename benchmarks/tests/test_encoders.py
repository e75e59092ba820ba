"""The encoder benchmark's measures and choices (no timing asserted)."""

from __future__ import annotations

import encoders
from PIL import Image, ImageFilter


def _photo() -> Image.Image:
    image = Image.radial_gradient("L").resize((96, 96)).convert("RGB")
    image.paste((200, 40, 40), (10, 10, 40, 40))
    return image


def test_ssim_is_one_for_identical_images_and_falls_with_the_damage() -> None:
    image = _photo()
    assert encoders.ssim(image, image.copy()) == 1.0
    slight = encoders.ssim(image, image.filter(ImageFilter.GaussianBlur(0.6)))
    heavy = encoders.ssim(image, image.filter(ImageFilter.GaussianBlur(3)))
    assert 1.0 > slight > heavy > 0.0


def test_the_lowest_quality_on_target_is_chosen() -> None:
    sweep = {60: {"ssim": 0.97}, 70: {"ssim": 0.985}, 80: {"ssim": 0.99}}
    assert encoders.lowest_matching(sweep, 0.984) == 70
    assert encoders.lowest_matching(sweep, 0.999) is None


def test_the_fastest_speed_within_the_bytes_slack_and_on_target_is_chosen() -> None:
    speeds = {
        5: {"ssim": 0.99, "bytes": 1000, "encode_ms": 900.0},
        7: {"ssim": 0.99, "bytes": 1020, "encode_ms": 300.0},
        9: {"ssim": 0.99, "bytes": 1100, "encode_ms": 30.0},  # 10 % larger: outside the slack
        8: {"ssim": 0.90, "bytes": 1000, "encode_ms": 50.0},  # off target
    }
    assert encoders.fastest_speed(speeds, 0.985) == 7


def test_references_are_the_pixels_the_stages_encode() -> None:
    (photo,) = [p for p in encoders.PHOTOS if p.startswith("Landscape")]
    rendered = encoders.references([encoders.CORPUS / photo])
    assert [name.split(":")[1] for name, _ in rendered] == ["resized", "thumbnail"]
    assert rendered[1][1].size == (200, 200)
    assert rendered[0][1].width <= 1024
    assert rendered[0][1].height <= 768


def test_the_richest_shipped_recipe_has_the_most_resize_encodes() -> None:
    name, recipe = encoders.richest_recipe()
    assert name.endswith(".json")
    assert sum(len(v.formats) for v in recipe.variants if v.stage.value == "resize") >= 3
