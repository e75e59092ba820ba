"""Photo-like test images, generated fast and deterministically (no corpus, nothing downloaded).

A photo is smooth at large scale and textured at small scale, and its JPEG size follows from
that mix: a bilinear-upscaled random field gives the structure (sky, walls, shading), a tiled
Gaussian-noise layer gives sensor grain and foliage-like detail. At quality 90 a 12 MP frame
comes out at ~0.3 bytes per pixel, like a phone photo. Each JPEG carries a camera-like EXIF
block (make, model, exposure, date, orientation 1), so metadata has real work to do.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from pathlib import Path

from PIL import Image

import qip_shared.imaging  # noqa: F401  (registers the HEIF codec the HEIC inputs are written with)

GENERATOR_VERSION = 2
"""Bump when the pixels change: cached files are named after it."""

NOISE_TILE = 509  # a prime, so the tiled grain never lines up with the 8x8 JPEG blocks
JPEG_QUALITY = 90


@dataclass(frozen=True)
class Case:
    """One generated input: a name, its file, format and pixel size."""

    name: str
    path: Path
    format: str
    width: int
    height: int

    @property
    def megapixels(self) -> float:
        """Pixels in millions."""
        return self.width * self.height / 1e6

    @property
    def bytes(self) -> int:
        """Encoded size on disk."""
        return self.path.stat().st_size

    def to_json(self) -> dict[str, object]:
        """JSON-friendly fields (path as text, plus the encoded size)."""
        fields = asdict(self)
        fields["path"] = str(self.path)
        fields["bytes"] = self.bytes
        return fields


def photo_like(width: int, height: int, seed: int) -> Image.Image:
    """An RGB image with photo-like structure and grain, the same for the same seed."""
    rnd = random.Random(seed)  # noqa: S311 - test pixels, not secrets
    coarse = (max(2, width // 48), max(2, height // 48))
    structure = Image.frombytes("RGB", coarse, rnd.randbytes(coarse[0] * coarse[1] * 3))
    structure = structure.resize((width, height), Image.Resampling.BILINEAR)
    # Seeded bytes, not Image.effect_noise: that one draws from C's unseeded rand().
    tile = Image.frombytes("L", (NOISE_TILE, NOISE_TILE), rnd.randbytes(NOISE_TILE * NOISE_TILE))
    flipped = tile.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    grain_tile = Image.merge("RGB", (tile, tile.rotate(90), flipped))
    grain = Image.new("RGB", (width, height))
    offset = rnd.randrange(NOISE_TILE)
    for x in range(-offset, width, NOISE_TILE):
        for y in range(-offset, height, NOISE_TILE):
            grain.paste(grain_tile, (x, y))
    return Image.blend(structure, grain, 0.15)


def camera_exif(seed: int) -> Image.Exif:
    """A small, valid EXIF block like a phone camera's (orientation 1: stored upright)."""
    exif = Image.Exif()
    exif[0x010F] = "QIP Bench"  # Make
    exif[0x0110] = "Synthetic 1"  # Model
    exif[0x0112] = 1  # Orientation
    exif[0x0131] = "qip-benchmarks"  # Software
    exif[0x0132] = "2026:01:02 03:04:05"  # DateTime
    details = exif.get_ifd(0x8769)
    details[0x829A] = 1 / 120  # ExposureTime
    details[0x829D] = 1.8  # FNumber
    details[0x8827] = 100 + seed % 7 * 50  # ISOSpeedRatings
    details[0x9003] = "2026:01:02 03:04:05"  # DateTimeOriginal
    details[0x920A] = 4.2  # FocalLength
    return exif


def write_image(image: Image.Image, path: Path, fmt: str, seed: int) -> None:
    """Encode as a phone or a browser would: JPEG q90 with EXIF, PNG, WebP q85, HEIC/AVIF q80."""
    tmp = path.with_suffix(path.suffix + ".part")
    if fmt == "JPEG":
        image.save(tmp, "JPEG", quality=JPEG_QUALITY, exif=camera_exif(seed))
    elif fmt == "PNG":
        image.save(tmp, "PNG")
    elif fmt == "WEBP":
        image.save(tmp, "WEBP", quality=85)
    elif fmt in ("HEIF", "AVIF"):
        # EXIF carried along; the grain makes these larger than a phone's (a conservative cost).
        image.save(tmp, fmt, quality=80, exif=camera_exif(seed))
    else:
        raise ValueError(f"unknown format {fmt}")
    tmp.replace(path)  # a half-written file is never taken for a cached one


_SUFFIX = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "HEIF": "heic", "AVIF": "avif"}


def make_case(directory: Path, name: str, fmt: str, size: tuple[int, int], seed: int) -> Case:
    """Generate one image into `directory`, or reuse the cached file of the same recipe."""
    width, height = size
    path = directory / f"{name}-{width}x{height}-s{seed}-v{GENERATOR_VERSION}.{_SUFFIX[fmt]}"
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        write_image(photo_like(width, height, seed), path, fmt, seed)
    return Case(name=name, path=path, format=fmt, width=width, height=height)


# The per-stage set: (name, format, size). 4:3 like phone cameras; PNG and WebP smaller,
# as screenshots and web images are.
STAGE_CASES: tuple[tuple[str, str, tuple[int, int]], ...] = (
    ("jpeg-1mp", "JPEG", (1152, 864)),
    ("jpeg-12mp", "JPEG", (4000, 3000)),
    ("jpeg-24mp", "JPEG", (6000, 4000)),
    ("png-2mp", "PNG", (1920, 1080)),
    ("webp-4mp", "WEBP", (2400, 1600)),
    ("heic-12mp", "HEIF", (4032, 3024)),
    ("avif-4mp", "AVIF", (2400, 1600)),
)
# Quick (smoke) run: the same pipeline of code on small inputs.
QUICK_STAGE_CASES: tuple[tuple[str, str, tuple[int, int]], ...] = (
    ("jpeg-1mp", "JPEG", (1152, 864)),
    ("png-small", "PNG", (640, 480)),
    ("webp-small", "WEBP", (640, 480)),
    ("heic-small", "HEIF", (640, 480)),
    ("avif-small", "AVIF", (640, 480)),
)


def stage_cases(directory: Path, *, quick: bool) -> list[Case]:
    """The inputs of the per-stage measurements."""
    recipes = QUICK_STAGE_CASES if quick else STAGE_CASES
    return [
        make_case(directory, name, fmt, size, seed=i) for i, (name, fmt, size) in enumerate(recipes)
    ]


def batch(directory: Path, size: tuple[int, int], distinct: int, seed: int = 1000) -> list[Case]:
    """`distinct` different photo-like JPEGs of one size (the throughput and pipeline inputs)."""
    return [make_case(directory, "batch", "JPEG", size, seed=seed + i) for i in range(distinct)]
