"""The render-ready record (issue 18): what the analysis costs, how well duplicates and subjects
are found.

    python benchmarks/render_bench.py                 # print the measurements as JSON
    python benchmarks/run.py --skip stages,throughput,pipeline,coldstart,sizes   # via the report

Three measurements, all through the code the thumbnail stage runs:

- cost: the thumbnail core with the analysis (`make_thumbnail`) against the same render without
  it (one decode, centre crop: the stage before issue 18), and `analyse` alone on that decode;
- duplicates: every corpus image that completes, plus generated photos and look-alike layouts,
  each with resized, re-encoded and lightly cropped copies; for each Hamming threshold, the
  missed-match rate (copy pairs the band index + threshold do not find) and the false-match
  rate (pairs of different pictures it would call copies); the chosen threshold is the largest
  with no false match;
- focal point: flat pictures with one busy subject at a random place and size: how often the
  focal point lies on the subject and the 200x200 cover crop keeps the whole subject, against
  the centre crop.
"""

from __future__ import annotations

import io
import itertools
import json
import random
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageOps

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import imagegen  # noqa: E402 - the sibling module, after the path tweak above

from qip_shared.config import THUMBNAIL_SIZE  # noqa: E402
from qip_shared.duplicates import HASH_BANDS, NEAR_COPY_MAX_DISTANCE, hamming, hash_bands  # noqa: E402
from qip_shared.enums import StageName  # noqa: E402
from qip_shared.recipe import Fit, OutputFormat, VariantSpec  # noqa: E402
from qip_shared.render import analyse, focal_crop_box, focal_point_of  # noqa: E402
from qip_shared.rendering import cover_crop_box, decode_for, render_decoded  # noqa: E402
from qip_thumbnail.core import make_thumbnail  # noqa: E402

THRESHOLDS = tuple(range(17))
SAFETY_MARGIN = 6
"""Bits kept between the threshold and the closest pair of different pictures measured."""
THUMBNAIL_SPEC = VariantSpec(
    name="thumbnail",
    stage=StageName.THUMBNAIL,
    fit=Fit.COVER,
    width=THUMBNAIL_SIZE[0],
    height=THUMBNAIL_SIZE[1],
    formats=(OutputFormat.JPEG,),
)


def _encode(image: Image.Image, fmt: str, **params: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def _scaled(image: Image.Image, factor: float) -> Image.Image:
    size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
    return image.resize(size, Image.Resampling.LANCZOS)


def _cropped(image: Image.Image, fraction: float) -> Image.Image:
    dx, dy = round(image.width * fraction), round(image.height * fraction)
    return image.crop((dx, dy, image.width - dx, image.height - dy))


# Each copy of an upload a user might make: resized, re-encoded, lightly cropped, or several.
COPIES: dict[str, Callable[[Image.Image], bytes]] = {
    "resized 50% (JPEG q85)": lambda im: _encode(_scaled(im, 0.5), "JPEG", quality=85),
    "resized 25% (WebP q75)": lambda im: _encode(_scaled(im, 0.25), "WEBP", quality=75),
    "re-encoded JPEG q50": lambda im: _encode(im, "JPEG", quality=50),
    "re-encoded WebP q80": lambda im: _encode(im, "WEBP", quality=80),
    "PNG (lossless)": lambda im: _encode(im, "PNG"),
    "cropped 2% a side": lambda im: _encode(_cropped(im, 0.02), "JPEG", quality=90),
    "cropped 5% a side": lambda im: _encode(_cropped(im, 0.05), "JPEG", quality=90),
    "resized 60% + cropped 3%": lambda im: _encode(
        _cropped(_scaled(im, 0.6), 0.03), "JPEG", quality=80
    ),
}


# -- inputs ------------------------------------------------------------------------------------
def busy_subject(
    size: tuple[int, int], box: tuple[int, int, int, int], seed: int, background: int = 128
) -> Image.Image:
    """A flat picture with one noisy checkered subject inside `box`."""
    rng = random.Random(seed)  # noqa: S311 - test pixels, not secrets
    image = Image.new("RGB", size, (background, background, background))
    draw = ImageDraw.Draw(image)
    step = max(4, (box[2] - box[0]) // 16)
    for y in range(box[1], box[3], step):
        for x in range(box[0], box[2], step):
            colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
            draw.rectangle((x, y, min(x + step, box[2]) - 1, min(y + step, box[3]) - 1), colour)
    return image


def picture_of(name: str) -> str:
    """Which picture a corpus file shows: `Landscape_3.jpg` and `Landscape_1.jpg` are one picture
    under two EXIF orientations, `concert.jpg` and `concert.avif` one in two formats."""
    stem = name.rsplit(".", 1)[0]
    return re.sub(r"_\d+$", "", stem) if re.match(r"(Landscape|Portrait)_\d+$", stem) else stem


def originals(corpus: Path, *, quick: bool) -> dict[str, Image.Image]:
    """Upright RGB originals: the completing corpus files, photos, look-alike layouts."""
    manifest = json.loads((corpus / "manifest.json").read_text())
    pictures: dict[str, Image.Image] = {}
    for name, verdict in sorted(manifest.items()):
        if verdict["status"] != "COMPLETED":
            continue
        try:
            with Image.open(corpus / name) as opened:
                pictures[name] = ImageOps.exif_transpose(opened.convert("RGB"))
        except Exception:  # noqa: S112 - a format this Pillow cannot open is left out, not faked
            continue
    for seed in range(4 if quick else 12):
        pictures[f"photo-like #{seed}"] = imagegen.photo_like(800, 600, seed=500 + seed)
    # Same layout, different subjects: the hardest case for a perceptual hash.
    for seed in range(3 if quick else 8):
        pictures[f"corner subject #{seed}"] = busy_subject((800, 600), (540, 40, 760, 260), seed)
    return pictures


# -- cost --------------------------------------------------------------------------------------
def _best_ms(call: Callable[[], object], repeat: int) -> float:
    call()
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        call()
        best = min(best, time.process_time() - started)
    return best * 1000


def measure_cost(files: list[tuple[str, bytes]], *, repeat: int) -> list[dict[str, Any]]:
    """Per input: the thumbnail core without and with the analysis, and the analysis alone."""
    rows = []
    for name, data in files:
        decoded = decode_for(data, [THUMBNAIL_SPEC])

        def before(data: bytes = data) -> object:
            return render_decoded(
                decode_for(data, [THUMBNAIL_SPEC]), [THUMBNAIL_SPEC], crop=cover_crop_box
            )

        without = _best_ms(before, repeat)
        with_analysis = _best_ms(lambda data=data: make_thumbnail(data), repeat)
        alone = _best_ms(lambda decoded=decoded: analyse(decoded), repeat)
        rows.append(
            {
                "input": name,
                "decoded": list(decoded.image.size),
                "thumbnail_ms": without,
                "with_analysis_ms": with_analysis,
                "analysis_ms": alone,
                "added_percent": 100 * alone / without,
            }
        )
    return rows


# -- duplicates --------------------------------------------------------------------------------
def _facts(data: bytes) -> tuple[str, bool]:
    render = make_thumbnail(data).render
    return render.perceptual_hash, render.near_matchable


def _found(first: tuple[str, bool], second: tuple[str, bool], threshold: int) -> bool:
    """Whether the band indexes and the threshold call `second` a near copy of `first`."""
    (hash_a, detail_a), (hash_b, detail_b) = first, second
    if not (detail_a and detail_b):
        return False
    shares_band = any(a == b for a, b in zip(hash_bands(hash_a), hash_bands(hash_b), strict=True))
    return shares_band and hamming(hash_a, hash_b) <= threshold


def measure_duplicates(pictures: dict[str, Image.Image]) -> dict[str, Any]:
    """Missed and false matches per threshold over originals and their copies."""
    facts: dict[tuple[str, str], tuple[str, bool]] = {}
    for name, picture in pictures.items():
        facts[(name, "original")] = _facts(_encode(picture, "JPEG", quality=92))
        for copy_name, make in COPIES.items():
            facts[(name, copy_name)] = _facts(make(picture))
    copy_pairs = [
        (facts[(name, "original")], facts[(name, copy_name)], copy_name)
        for name in pictures
        for copy_name in COPIES
    ]
    # Different pictures only: the same picture in two corpus files is a copy, not a false match.
    unrelated_pairs = [
        (facts[a], facts[b])
        for a, b in itertools.combinations(facts, 2)
        if picture_of(a[0]) != picture_of(b[0])
    ]
    stable_pairs = [(a, b, c) for a, b, c in copy_pairs if a[1] and b[1]]
    rows = []
    for threshold in THRESHOLDS:
        missed = sum(not _found(a, b, threshold) for a, b, _ in copy_pairs)
        missed_stable = sum(not _found(a, b, threshold) for a, b, _ in stable_pairs)
        no_band = sum(
            hamming(a[0], b[0]) <= threshold and not _found(a, b, threshold)
            for a, b, _ in stable_pairs
        )
        false = sum(_found(a, b, threshold) for a, b in unrelated_pairs)
        rows.append(
            {
                "threshold": threshold,
                "missed": missed,
                "missed_rate": missed / len(copy_pairs),
                "missed_stable": missed_stable,
                "missed_stable_rate": missed_stable / max(1, len(stable_pairs)),
                "missed_no_shared_band": no_band,
                "false": false,
                "false_rate": false / len(unrelated_pairs),
            }
        )
    per_copy = {
        copy_name: max(hamming(a[0], b[0]) for a, b, c in stable_pairs if c == copy_name)
        for copy_name in COPIES
    }
    missed_per_copy = {
        copy_name: sum(
            not _found(a, b, NEAR_COPY_MAX_DISTANCE) for a, b, c in stable_pairs if c == copy_name
        )
        for copy_name in COPIES
    }
    matchable = [(a, b) for a, b in unrelated_pairs if a[1] and b[1]]
    closest = min(hamming(a[0], b[0]) for a, b in matchable)
    safe = [
        r["threshold"]
        for r in rows
        if r["false"] == 0 and r["threshold"] <= closest - SAFETY_MARGIN
    ]
    return {
        "originals": len(pictures),
        "copy_pairs": len(copy_pairs),
        "unrelated_pairs": len(unrelated_pairs),
        "pictures": len({picture_of(name) for name in pictures}),
        "flat": sum(not f[1] for f in facts.values()),
        "rows": rows,
        "largest_distance_per_copy": per_copy,
        "missed_per_copy": missed_per_copy,
        "smallest_unrelated_distance": closest,
        "stable_copy_pairs": len(stable_pairs),
        "chosen_threshold": max(safe) if safe else None,
        "threshold_in_code": NEAR_COPY_MAX_DISTANCE,
        "bands": HASH_BANDS,
    }


# -- focal point -------------------------------------------------------------------------------
def measure_focal(samples: int, seed: int = 11) -> dict[str, Any]:
    """Subjects at random places: focal point on the subject, subject kept by the crop."""
    rng = random.Random(seed)  # noqa: S311 - test layout, not secrets
    on_subject = kept = kept_by_centre = 0
    for i in range(samples):
        size = rng.choice([(1200, 600), (800, 600), (600, 900), (1600, 900)])
        short = min(size)
        side = rng.randint(short // 8, short // 3)
        left, top = rng.randint(0, size[0] - side), rng.randint(0, size[1] - side)
        box = (left, top, left + side, top + side)
        data = _encode(busy_subject(size, box, seed=i, background=rng.randint(40, 220)), "JPEG")
        decoded = decode_for(data, [THUMBNAIL_SPEC])
        x, y = focal_point_of(decoded)
        on_subject += box[0] <= x * size[0] <= box[2] and box[1] <= y * size[1] <= box[3]
        crop = focal_crop_box(size, THUMBNAIL_SIZE, (x, y))
        centre = focal_crop_box(size, THUMBNAIL_SIZE, (0.5, 0.5))
        kept += _contains(crop, box)
        kept_by_centre += _contains(centre, box)
    return {
        "samples": samples,
        "on_subject": on_subject / samples,
        "kept": kept / samples,
        "kept_by_centre_crop": kept_by_centre / samples,
    }


def _contains(crop: tuple[float, float, float, float], box: tuple[int, int, int, int]) -> bool:
    slack = 1.0  # a pixel of rounding
    return (
        crop[0] <= box[0] + slack
        and crop[1] <= box[1] + slack
        and crop[2] >= box[2] - slack
        and crop[3] >= box[3] - slack
    )


# -- the whole part ----------------------------------------------------------------------------
def measure(cases: list[Any], corpus: Path, *, quick: bool) -> dict[str, Any]:
    """Cost on the bench inputs and a few corpus files, duplicate rates, focal-point accuracy."""
    files = [(c.name, c.path.read_bytes()) for c in cases]
    for name in ("320x240.jpg", "Landscape_1.jpg", "4.webp", "with-alpha.png"):
        if (corpus / name).is_file():
            files.append((f"corpus {name}", (corpus / name).read_bytes()))
    return {
        "cost": measure_cost(files, repeat=3 if quick else 7),
        "duplicates": measure_duplicates(originals(corpus, quick=quick)),
        "focal": measure_focal(20 if quick else 100),
    }


def section(results: dict[str, Any]) -> list[str]:
    """The report's Markdown section (or a line saying the part was skipped)."""
    render = results.get("render")
    lines = ["## Render-ready record (issue 18)", ""]
    if not render:
        return [*lines, "Not measured in this run (`--skip render`).", ""]
    lines += [
        "What the thumbnail stage's analysis (ThumbHash, dominant colour, focal point, "
        "perceptual hash, from the decode it already makes) adds: CPU ms, best of the runs. "
        "`thumbnail` is the same one-decode render with a centre crop and no analysis.",
        "",
        "| input | decoded | thumbnail | with analysis | analysis alone | added |",
        "|---|---|---|---|---|---|",
    ]
    for row in render["cost"]:
        lines.append(
            f"| {row['input']} | {row['decoded'][0]}x{row['decoded'][1]} "
            f"| {row['thumbnail_ms']:.1f} | {row['with_analysis_ms']:.1f} "
            f"| {row['analysis_ms']:.2f} | {row['added_percent']:.0f} % |"
        )
    dup = render["duplicates"]
    lines += [
        "",
        f"Near copies: {dup['originals']} originals ({dup['pictures']} different pictures: the "
        f"completing corpus, generated photos, look-alike layouts), each with {len(COPIES)} "
        f"copies: {dup['copy_pairs']} copy pairs, "
        f"{dup['unrelated_pairs']} pairs of different pictures ({dup['flat']} images whose hash "
        "is unstable, flat, symmetric or striped, take part in exact matching only). A pair is "
        "found when the two hashes share "
        f"one of {dup['bands']} 16-bit bands (the indexed lookup) and differ in at most "
        "`threshold` bits.",
        "",
        f"| threshold | missed matches (all {dup['copy_pairs']} copy pairs) "
        f"| missed, the {dup['stable_copy_pairs']} pairs with stable hashes "
        "| of which no shared band | false matches |",
        "|---|---|---|---|---|",
    ]
    for row in dup["rows"]:
        lines.append(
            f"| {row['threshold']} | {row['missed']} ({100 * row['missed_rate']:.1f} %) "
            f"| {row['missed_stable']} ({100 * row['missed_stable_rate']:.1f} %) "
            f"| {row['missed_no_shared_band']} "
            f"| {row['false']} ({100 * row['false_rate']:.2f} %) |"
        )
    worst = ", ".join(f"{k}: {v}" for k, v in dup["largest_distance_per_copy"].items())
    missed = ", ".join(f"{k}: {v}" for k, v in dup.get("missed_per_copy", {}).items())
    lines += [
        "",
        f"Largest distance of a copy from its original (stable hashes): {worst}. Missed at the "
        f"threshold in use, per kind of copy: {missed}. Smallest distance between "
        f"different pictures: {dup['smallest_unrelated_distance']}. Largest threshold with no "
        f"false match and {SAFETY_MARGIN} bits to spare below that distance: "
        f"{dup['chosen_threshold']}; the code uses {dup['threshold_in_code']} "
        "(`qip_shared.duplicates.NEAR_COPY_MAX_DISTANCE`).",
        "",
    ]
    focal = render["focal"]
    lines += [
        f"Focal point on {focal['samples']} flat pictures with one busy subject at a random "
        f"place and size: on the subject {100 * focal['on_subject']:.0f} %, whole subject in "
        f"the 200x200 cover crop {100 * focal['kept']:.0f} % (centre crop: "
        f"{100 * focal['kept_by_centre_crop']:.0f} %).",
        "",
    ]
    return lines


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        quick = "--quick" in sys.argv
        inputs = imagegen.stage_cases(Path(folder), quick=True)
        print(json.dumps(measure(inputs, REPO / "corpus", quick=quick), indent=1))
