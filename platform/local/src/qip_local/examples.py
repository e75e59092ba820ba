"""The small example images shipped in `examples/`, made here with Pillow (run once, committed).

`python -m qip_local.examples examples/` rewrites them.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

from PIL import Image, ImageDraw

EXIF_ORIENTATION_TAG = 0x0112

# name -> what the pipeline must do with it (checked by the CLI test).
EXPECTED: dict[str, tuple[str, str | None]] = {
    "landscape-rotated.jpg": ("COMPLETED", None),
    "logo-alpha.png": ("COMPLETED", None),
    "spinner.gif": ("COMPLETED", None),
    "photo.webp": ("COMPLETED", None),
    "not-an-image.png": ("REJECTED", "UNSUPPORTED_FORMAT"),
}


def _scene(size: tuple[int, int]) -> Image.Image:
    width, height = size
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    image = Image.merge(
        "RGB",
        (
            image.getchannel(0),
            Image.new("L", size, 120),
            image.getchannel(0).transpose(Image.Transpose.FLIP_TOP_BOTTOM),
        ),
    )
    draw = ImageDraw.Draw(image)
    draw.rectangle((width // 10, height // 10, width // 3, height // 3), fill=(240, 200, 40))
    draw.ellipse(
        (width // 2, height // 2, width - width // 10, height - height // 10), fill=(30, 90, 200)
    )
    # An arrow pointing to the top of the stored image shows whether outputs are upright.
    draw.polygon(
        [(width // 2, 10), (width // 2 - 40, 80), (width // 2 + 40, 80)], fill=(220, 20, 20)
    )
    return image


def landscape_rotated_jpeg() -> bytes:
    """1600x1200 stored, EXIF orientation 6: displayed as 1200x1600 (portrait)."""
    image = _scene((1600, 1200))
    exif = Image.Exif()
    exif[EXIF_ORIENTATION_TAG] = 6
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=70, exif=exif.tobytes(), optimize=True)
    return buffer.getvalue()


def logo_alpha_png() -> bytes:
    """300x200 RGBA with a transparent background."""
    image = Image.new("RGBA", (300, 200), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.ellipse((20, 20, 180, 180), fill=(20, 160, 90, 255))
    draw.rectangle((150, 60, 280, 140), fill=(200, 40, 120, 160))
    buffer = io.BytesIO()
    image.save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def spinner_gif() -> bytes:
    """A 4-frame animated GIF, 160x120."""
    frames = []
    for i in range(4):
        frame = Image.new("P", (160, 120), 0)
        frame.putpalette([255, 255, 255, 30, 30, 30, 220, 60, 30] + [0] * (253 * 3))
        draw = ImageDraw.Draw(frame)
        draw.pieslice((40, 20, 120, 100), start=i * 90, end=i * 90 + 270, fill=2, outline=1)
        frames.append(frame)
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=120, loop=0)
    return buffer.getvalue()


def photo_webp() -> bytes:
    """An 1280x960 lossy WebP (resize shrinks it to 1024x768)."""
    buffer = io.BytesIO()
    _scene((1280, 960)).save(buffer, "WEBP", quality=60)
    return buffer.getvalue()


def not_an_image_png() -> bytes:
    """Plain text wearing a .png name: the pipeline must refuse it."""
    return b"This is a text file, not a PNG. The pipeline must reject it as UNSUPPORTED_FORMAT.\n"


MAKERS = {
    "landscape-rotated.jpg": landscape_rotated_jpeg,
    "logo-alpha.png": logo_alpha_png,
    "spinner.gif": spinner_gif,
    "photo.webp": photo_webp,
    "not-an-image.png": not_an_image_png,
}


def write_examples(directory: Path) -> list[Path]:
    """Write every example file into `directory`; returns their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, make in MAKERS.items():
        path = directory / name
        path.write_bytes(make())
        written.append(path)
    return written


if __name__ == "__main__":  # pragma: no cover
    for path in write_examples(Path(sys.argv[1] if len(sys.argv) > 1 else "examples")):
        print(f"{path}  {path.stat().st_size} bytes")
