"""The output encoders at matched visual quality, and the resize stage with the richest recipe.

How the WebP and AVIF settings in `qip_shared.imaging` are chosen:

1. Each photo is rendered as the pipeline renders it (the display variant, 1024x768 inside, and
   the 200x200 thumbnail); the resampled pixels before encoding are the reference.
2. JPEG at the shipped quality sets the target: the mean SSIM (luma, 11x11 Gaussian window,
   sigma 1.5, as Wang et al. 2004) of its outputs over the set.
3. WebP and AVIF are swept over quality; the chosen quality is the lowest whose mean SSIM reaches
   the target. AVIF's speed is then swept at that quality: the chosen speed is the fastest whose
   bytes stay within `AVIF_SPEED_BYTES_SLACK` of the smallest and whose SSIM still reaches it.
4. The resize stage (`render_resize`, exactly as the handler calls it) runs over 12 MP photos
   with the richest recipe shipped in `recipes/`, one image at a time: p50 and p95.

Encode times are CPU times (`time.process_time`, every thread of this process: AVIF's encoder
is multi-threaded), the best of `repeat` runs: on a shared machine wall time measures the
neighbours; the resize stage reports both.
"""

from __future__ import annotations

import io
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from qip_resize.core import render_resize
from qip_shared.enums import StageName
from qip_shared.imaging import (
    AVIF_QUALITY,
    AVIF_SPEED,
    JPEG_QUALITY,
    WEBP_QUALITY,
    encode_avif,
    encode_jpeg,
    encode_webp,
)
from qip_shared.recipe import DEFAULT_RECIPE, Recipe, VariantSpec
from qip_shared.rendering import decode_for, needed_size, resample_decoded

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "corpus"
RECIPES = REPO / "recipes"
# Real photographs of the corpus (camera JPEGs and a web WebP), the encoders' natural input.
PHOTOS = (
    "flowers.jpeg",
    "4.webp",
    "Landscape_1.jpg",
    "Portrait_6.jpg",
    "concert.jpg",
)
WEBP_QUALITIES = tuple(range(60, 100, 5))
AVIF_QUALITIES = tuple(range(40, 90, 5))
AVIF_SPEEDS = (4, 5, 6, 7, 8, 9)
AVIF_SWEEP_SPEED = 6  # libavif's default, for the quality sweep
AVIF_SPEED_BYTES_SLACK = 0.03

Encoder = Callable[[Image.Image, int], bytes]


# -- SSIM ---------------------------------------------------------------------------------------
def _gaussian_kernel(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    offsets = np.arange(size) - size // 2
    kernel = np.exp(-(offsets**2) / (2 * sigma**2))
    return kernel / kernel.sum()


_KERNEL = _gaussian_kernel()


def _filter(plane: np.ndarray) -> np.ndarray:
    """Separable Gaussian filter, 'valid' region only (no padding artefacts)."""
    taps = len(_KERNEL)
    rows = sum(_KERNEL[i] * plane[:, i : plane.shape[1] - taps + 1 + i] for i in range(taps))
    return sum(_KERNEL[i] * rows[i : rows.shape[0] - taps + 1 + i, :] for i in range(taps))


def luma(image: Image.Image) -> np.ndarray:
    """ITU-R BT.601 luma of an RGB image as float64 (Pillow's own L conversion)."""
    return np.asarray(image.convert("RGB").convert("L"), dtype=np.float64)


def ssim(reference: Image.Image, candidate: Image.Image) -> float:
    """Mean structural similarity of the two images' luma (1.0: identical)."""
    x, y = luma(reference), luma(candidate)
    if min(x.shape) < len(_KERNEL):
        return float(x.shape == y.shape and np.array_equal(x, y))
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu_x, mu_y = _filter(x), _filter(y)
    sigma_x = _filter(x * x) - mu_x**2
    sigma_y = _filter(y * y) - mu_y**2
    sigma_xy = _filter(x * y) - mu_x * mu_y
    numerator = (2 * mu_x * mu_y + c1) * (2 * sigma_xy + c2)
    denominator = (mu_x**2 + mu_y**2 + c1) * (sigma_x + sigma_y + c2)
    return float(np.mean(numerator / denominator))


# -- references: the pixels the pipeline encodes -------------------------------------------------
def references(paths: Sequence[Path]) -> list[tuple[str, Image.Image]]:
    """Each photo's display and thumbnail images, resampled exactly as the stages do."""
    found: list[tuple[str, Image.Image]] = []
    for path in paths:
        decoded = decode_for(path.read_bytes(), DEFAULT_RECIPE.variants)
        images = resample_decoded(decoded, DEFAULT_RECIPE.variants)
        for spec, image in zip(DEFAULT_RECIPE.variants, images, strict=True):
            found.append((f"{path.name}:{spec.name}", image))
    return found


# -- measurements --------------------------------------------------------------------------------
def _timed(encode: Callable[[], bytes], repeat: int) -> tuple[bytes, float]:
    """The output and the best CPU seconds of `repeat` runs."""
    best = float("inf")
    data = b""
    for _ in range(repeat):
        started = time.process_time()
        data = encode()
        best = min(best, time.process_time() - started)
    return data, best


def measure_setting(
    images: Sequence[tuple[str, Image.Image]], encode: Callable[[Image.Image], bytes], repeat: int
) -> dict[str, float]:
    """Mean SSIM, total bytes and total best encode time of one setting over the images."""
    scores, sizes, seconds = [], [], []
    for _name, reference in images:
        data, elapsed = _timed(lambda ref=reference: encode(ref), repeat)
        decoded = Image.open(io.BytesIO(data))
        scores.append(ssim(reference, decoded))
        sizes.append(len(data))
        seconds.append(elapsed)
    return {
        "ssim": statistics.fmean(scores),
        "min_ssim": min(scores),
        "bytes": sum(sizes),
        "encode_ms": sum(seconds) * 1000,
    }


def _sweep(
    images: Sequence[tuple[str, Image.Image]],
    qualities: Sequence[int],
    encoder: Callable[[Image.Image, int], bytes],
    repeat: int,
) -> dict[int, dict[str, float]]:
    return {q: measure_setting(images, lambda im, q=q: encoder(im, q), repeat) for q in qualities}


def lowest_matching(sweep: dict[int, dict[str, float]], target: float) -> int | None:
    """The lowest quality whose mean SSIM reaches `target`."""
    matching = [q for q, row in sorted(sweep.items()) if row["ssim"] >= target]
    return matching[0] if matching else None


def fastest_speed(speeds: dict[int, dict[str, float]], target: float) -> int | None:
    """The fastest speed within the bytes slack of the smallest output, still on target."""
    on_target = {s: row for s, row in speeds.items() if row["ssim"] >= target}
    if not on_target:
        return None
    smallest = min(row["bytes"] for row in on_target.values())
    good = [
        s for s, row in on_target.items() if row["bytes"] <= smallest * (1 + AVIF_SPEED_BYTES_SLACK)
    ]
    return min(good, key=lambda s: on_target[s]["encode_ms"])


def richest_recipe() -> tuple[str, Recipe]:
    """The shipped recipe with the most encodes in the resize stage (the default if none)."""
    shipped = [(p.name, Recipe.from_json(p.read_text())) for p in sorted(RECIPES.glob("*.json"))]
    shipped.append(("default", DEFAULT_RECIPE))

    def encodes(recipe: Recipe) -> int:
        return sum(len(v.formats) for v in recipe.for_stage(StageName.RESIZE))

    return max(shipped, key=lambda item: encodes(item[1]))


def resize_p95(files: Sequence[Path], variants: Sequence[VariantSpec]) -> dict[str, Any]:
    """Wall time of `render_resize` per image (one at a time), p50/p95/max, and its outputs."""
    times: list[float] = []
    cpu: list[float] = []
    outputs: dict[str, int] = {}
    for path in files:
        data = path.read_bytes()
        started, started_cpu = time.perf_counter(), time.process_time()
        rendered = render_resize(data, variants)
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
        for variant in rendered:
            key = f"{variant.name}.{variant.format.extension}"
            outputs[key] = outputs.get(key, 0) + len(variant.data)
    return {
        "images": len(files),
        "p50_ms": statistics.median(times) * 1000,
        "p95_ms": _p95(times) * 1000,
        "max_ms": max(times) * 1000,
        "cpu_p50_ms": statistics.median(cpu) * 1000,
        "cpu_p95_ms": _p95(cpu) * 1000,
        "mean_output_bytes": {k: v / len(files) for k, v in outputs.items()},
    }


def _p95(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def measure(batch_files: Sequence[Path], *, quick: bool) -> dict[str, Any]:
    """The whole encoder benchmark (the `encoders` part of `benchmarks/run.py`)."""
    photos = [CORPUS / name for name in (PHOTOS[:2] if quick else PHOTOS)]
    images = references(photos)
    repeat = 1 if quick else 2
    jpeg = measure_setting(images, lambda im: encode_jpeg(im, quality=JPEG_QUALITY), repeat)
    target = jpeg["ssim"]
    webp_qualities = WEBP_QUALITIES[::2] if quick else WEBP_QUALITIES
    avif_qualities = AVIF_QUALITIES[::2] if quick else AVIF_QUALITIES
    webp = _sweep(images, webp_qualities, lambda im, q: encode_webp(im, quality=q), repeat)
    avif = _sweep(
        images,
        avif_qualities,
        lambda im, q: encode_avif(im, quality=q, speed=AVIF_SWEEP_SPEED),
        repeat,
    )
    webp_choice = lowest_matching(webp, target)
    avif_choice = lowest_matching(avif, target)
    speeds: dict[int, dict[str, float]] = {}
    if avif_choice is not None:
        speeds = {
            s: measure_setting(
                images, lambda im, s=s: encode_avif(im, quality=avif_choice, speed=s), repeat
            )
            for s in (AVIF_SPEEDS[1::2] if quick else AVIF_SPEEDS)
        }
    speed_choice = fastest_speed(speeds, target)
    shipped = {
        "jpeg": measure_setting(images, encode_jpeg, repeat),
        "webp": measure_setting(images, encode_webp, repeat),
        "avif": measure_setting(images, encode_avif, repeat),
    }
    recipe_name, recipe = richest_recipe()
    resize_variants = recipe.for_stage(StageName.RESIZE)
    stage_files = list(batch_files)
    return {
        "photos": [p.name for p in photos],
        "images": len(images),
        "target_ssim": target,
        "jpeg": {"quality": JPEG_QUALITY, **jpeg},
        "webp_sweep": webp,
        "avif_sweep": avif,
        "avif_speeds": speeds,
        "chosen": {
            "webp_quality": webp_choice,
            "avif_quality": avif_choice,
            "avif_speed": speed_choice,
        },
        "shipped_settings": {
            "jpeg_quality": JPEG_QUALITY,
            "webp_quality": WEBP_QUALITY,
            "avif_quality": AVIF_QUALITY,
            "avif_speed": AVIF_SPEED,
        },
        "shipped": shipped,
        "resize_stage": {
            "recipe": recipe_name,
            "recipe_version": recipe.version,
            "variants": [v.to_json_dict() for v in resize_variants],
            "decode_size_12mp": needed_size((4000, 3000), resize_variants),
            **resize_p95(stage_files, resize_variants),
        },
    }
