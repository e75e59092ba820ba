"""Render-ready facts of an image, computed from a decode a stage already made (issue 18).

Pure functions over Pillow images (the `imaging` extra); no I/O. `analyse` takes the thumbnail
stage's `Decoded` image and derives, from one small copy of it:

- `thumbhash`: the ThumbHash (Evan Wallace's published algorithm), base64, aspect and alpha aware;
- `dominant_color`: the most populous colour of a median-cut palette, `#rrggbb`;
- `focal_point`: the centre of the image's detail, `(x, y)` in 0..1 of the upright image. Detail
  is the Laplacian magnitude of a <=64 px grey copy, keeping only edges of at least a quarter
  of the strongest; the point is the middle of the span holding the central 90 % of that
  energy on each axis (a subject's bounding box, robust to stray edges). No detail: the centre;
- `perceptual_hash`: a 64-bit DCT pHash (the low 8x8 DCT of a 32x32 grey copy against its
  median, as the `imagehash` library computes it), 16 lowercase hex characters, and whether it
  is stable enough to find near copies by (not for flat, symmetric or one-dimensional images).

`focal_crop_box` is the cover-fit crop placed around a focal point. How the pHash finds near
copies is `qip_shared.duplicates`'.
"""

from __future__ import annotations

import base64
import math
import operator
import statistics
from array import array
from dataclasses import dataclass
from functools import cache

from PIL import Image, ImageFilter

from qip_shared.imaging import Box, Decoded, Size

ANALYSIS_SIDE = 64
"""The analysis copy fits in this square (focal point, perceptual hash source)."""
THUMBHASH_SIDE = 16
"""The ThumbHash input fits in this square: its header is that of a 100 px input, its terms
within a few quantisation steps (measured on the corpus), at a tenth of the cost."""
PHASH_SIDE = 32
PHASH_LOW = 8
DOMINANT_PALETTE = 8
EDGE_FLOOR = 0.25
"""Edges weaker than this fraction of the strongest are texture, not subject."""
FOCAL_TRIM = 0.05
"""The energy left out on each side of the span whose middle is the focal point."""
UNSTABLE_MARGIN = 0.02
"""A pHash term this close to the median (in AC standard deviations) may flip on re-encoding."""
MAX_UNSTABLE_TERMS = 16
"""More such terms (flat, symmetric or one-dimensional pictures: measured 49..64 of them, photos
0..11) and the hash is noise: such an image is matched by its content hash only."""
CENTRE = (0.5, 0.5)


@dataclass(frozen=True)
class RenderAnalysis:
    """What `analyse` finds: placeholder, colour, focal point, perceptual hash."""

    thumbhash: str
    dominant_color: str
    focal_point: tuple[float, float]
    perceptual_hash: str
    # False when the pHash is unstable (flat, symmetric, one-dimensional pictures).
    near_matchable: bool


def analyse(decoded: Decoded) -> RenderAnalysis:
    """The render facts of a decoded image, from one <=64 px copy of the whole source."""
    small = _analysis_copy(decoded)
    alpha = None
    if decoded.alpha is not None:
        alpha = decoded.alpha.resize(small.size, Image.Resampling.BOX, box=decoded.content)
    grey = small.convert("L")
    phash, near_matchable = perceptual_hash(grey)
    placeholder = _fit(small, THUMBHASH_SIDE)
    placeholder_alpha = alpha.resize(placeholder.size, Image.Resampling.BOX) if alpha else None
    return RenderAnalysis(
        thumbhash=thumbhash_base64(placeholder, placeholder_alpha),
        dominant_color=dominant_color(placeholder, placeholder_alpha),
        focal_point=focal_point(grey),
        perceptual_hash=phash,
        near_matchable=near_matchable,
    )


def focal_point_of(decoded: Decoded) -> tuple[float, float]:
    """Only the focal point of a decoded image (for stages that need just the crop)."""
    return focal_point(_analysis_copy(decoded).convert("L"))


def _analysis_copy(decoded: Decoded) -> Image.Image:
    """The whole source (the decode's content region) fitted in ANALYSIS_SIDE, RGB."""
    left, top, right, bottom = decoded.content
    size = _fit_size((right - left, bottom - top), ANALYSIS_SIDE)
    return decoded.image.resize(
        size, Image.Resampling.BILINEAR, box=decoded.content, reducing_gap=2.0
    )


def _fit_size(size: tuple[float, float], side: int) -> Size:
    scale = side / max(size)
    return (max(1, min(side, round(size[0] * scale))), max(1, min(side, round(size[1] * scale))))


def _fit(image: Image.Image, side: int) -> Image.Image:
    size = _fit_size(image.size, side)
    return image if size == image.size else image.resize(size, Image.Resampling.BOX)


# --- focal point and crop --------------------------------------------------------------------


def focal_point(grey: Image.Image) -> tuple[float, float]:
    """The middle of the image's detail, `(x, y)` in 0..1; the centre when there is none."""
    width, height = grey.size
    if width < 3 or height < 3:
        return CENTRE
    # The filter copies the one-pixel border unfiltered: measure the inside only.
    edges = grey.filter(ImageFilter.FIND_EDGES).crop((1, 1, width - 1, height - 1))
    strongest = edges.getextrema()[1]
    if not isinstance(strongest, int) or strongest == 0:
        return CENTRE
    floor = max(1, math.ceil(strongest * EDGE_FLOOR))
    energy = edges.point([v if v >= floor else 0 for v in range(256)]).convert("F")
    columns = list(array("f", energy.resize((energy.width, 1), Image.Resampling.BOX).tobytes()))
    rows = list(array("f", energy.resize((1, energy.height), Image.Resampling.BOX).tobytes()))
    # Profiles are of the cropped map: index i is pixel i + 1 of the grey image.
    x = (_span_middle(columns) + 1) / width
    y = (_span_middle(rows) + 1) / height
    return (min(max(x, 0.0), 1.0), min(max(y, 0.0), 1.0))


def _span_middle(profile: list[float]) -> float:
    """The middle of the span holding all but FOCAL_TRIM of the profile on each side."""
    total = sum(profile)
    low = _quantile(profile, total * FOCAL_TRIM)
    high = _quantile(profile, total * (1 - FOCAL_TRIM))
    return (low + high) / 2


def _quantile(profile: list[float], target: float) -> float:
    """Where (in pixel units, continuous) the running sum of `profile` reaches `target`."""
    running = 0.0
    for index, value in enumerate(profile):
        if value > 0 and running + value >= target:
            return index + (target - running) / value
        running += value
    return float(len(profile))


def focal_crop_box(size: Size, aspect: Size, focal: tuple[float, float]) -> Box:
    """The largest region of `size` with `aspect`'s ratio, centred on `focal` as far as it fits."""
    width, height = size
    if width * aspect[1] > height * aspect[0]:
        crop_width, crop_height = height * aspect[0] / aspect[1], float(height)
    else:
        crop_width, crop_height = float(width), width * aspect[1] / aspect[0]
    left = min(max(focal[0] * width - crop_width / 2, 0.0), width - crop_width)
    top = min(max(focal[1] * height - crop_height / 2, 0.0), height - crop_height)
    return (left, top, left + crop_width, top + crop_height)


# --- dominant colour -------------------------------------------------------------------------


def dominant_color(image: Image.Image, alpha: Image.Image | None = None) -> str:
    """The most populous colour of a median-cut palette of the (opaque part of the) image."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    palette_image = rgb.quantize(DOMINANT_PALETTE, method=Image.Quantize.MEDIANCUT)
    mask = alpha.point([0] * 128 + [255] * 128) if alpha is not None else None
    counts = palette_image.histogram(mask=mask)
    if mask is not None and not any(counts):  # wholly transparent: every pixel counts
        counts = palette_image.histogram()
    index = max(range(len(counts)), key=counts.__getitem__)
    palette = palette_image.getpalette() or []
    red, green, blue = palette[index * 3 : index * 3 + 3]
    return f"#{red:02x}{green:02x}{blue:02x}"


# --- perceptual hash -------------------------------------------------------------------------


@cache
def _cosines(size: int, terms: int, *, scale: float) -> tuple[tuple[float, ...], ...]:
    """`cos(pi / size * k * (n + 0.5))` for k < terms, n < size, times `scale`."""
    return tuple(
        tuple(scale * math.cos(math.pi / size * k * (n + 0.5)) for n in range(size))
        for k in range(terms)
    )


def perceptual_hash(grey: Image.Image) -> tuple[str, bool]:
    """The 64-bit DCT pHash as 16 hex characters, and whether it is stable enough to match."""
    small = grey.resize((PHASH_SIDE, PHASH_SIDE), Image.Resampling.LANCZOS)
    pixels = list(small.tobytes())
    basis = _cosines(PHASH_SIDE, PHASH_LOW, scale=1.0)
    rows = [pixels[y * PHASH_SIDE : (y + 1) * PHASH_SIDE] for y in range(PHASH_SIDE)]
    # Separable DCT-II: the low terms along x for every row, then along y.
    along_x = [[sum(map(operator.mul, row, b)) for b in basis] for row in rows]
    columns = list(zip(*along_x, strict=True))  # columns[kx][y]
    coefficients = [
        sum(map(operator.mul, columns[kx], by)) for by in basis for kx in range(PHASH_LOW)
    ]
    median = statistics.median(coefficients)
    bits = 0
    for value in coefficients:
        bits = (bits << 1) | (value > median)
    return f"{bits:016x}", _stable(coefficients, median)


def _stable(coefficients: list[float], median: float) -> bool:
    """Whether few terms sit so near the median that noise decides their bit."""
    ac = coefficients[1:]
    mean = sum(ac) / len(ac)
    spread = math.sqrt(sum((c - mean) ** 2 for c in ac) / len(ac))
    if spread == 0:
        return False
    unstable = sum(abs(c - median) < UNSTABLE_MARGIN * spread for c in coefficients)
    return unstable <= MAX_UNSTABLE_TERMS


# --- ThumbHash -------------------------------------------------------------------------------


def _js_round(value: float) -> int:
    """JavaScript's Math.round (halves up), as the reference encoder rounds."""
    return math.floor(value + 0.5)


def thumbhash_base64(image: Image.Image, alpha: Image.Image | None = None) -> str:
    """The ThumbHash of an RGB image (<=100x100) with an optional alpha, base64 encoded."""
    return base64.b64encode(bytes(thumbhash(image, alpha))).decode("ascii")


def thumbhash(image: Image.Image, alpha: Image.Image | None = None) -> list[int]:
    """The ThumbHash bytes of an RGB image (<=100x100), following the reference encoder.

    Same arithmetic as `rgbaToThumbHash`, with each DCT term summed separably (rows, then
    columns) so it costs O(terms x pixels) instead of O(terms x pixels x 2).
    """
    width, height = image.size
    if width > 100 or height > 100:
        raise ValueError(f"{width}x{height} doesn't fit in 100x100")
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    reds, greens, blues = (band.tobytes() for band in rgb.split())
    alphas = alpha.tobytes() if alpha is not None else bytes([255]) * (width * height)
    channels, has_alpha = _thumbhash_channels(reds, greens, blues, alphas)
    luma, p_chroma, q_chroma, opacity = channels
    l_limit = 5 if has_alpha else 7
    lx = max(1, _js_round(l_limit * width / max(width, height)))
    ly = max(1, _js_round(l_limit * height / max(width, height)))
    l_dc, l_ac, l_scale = _encode_channel(luma, width, height, max(3, lx), max(3, ly))
    p_dc, p_ac, p_scale = _encode_channel(p_chroma, width, height, 3, 3)
    q_dc, q_ac, q_scale = _encode_channel(q_chroma, width, height, 3, 3)
    a_dc, a_ac, a_scale = (
        _encode_channel(opacity, width, height, 5, 5) if has_alpha else (1.0, [], 1.0)
    )
    landscape = width > height
    header24 = (
        _js_round(63 * l_dc)
        | (_js_round(31.5 + 31.5 * p_dc) << 6)
        | (_js_round(31.5 + 31.5 * q_dc) << 12)
        | (_js_round(31 * l_scale) << 18)
        | (int(has_alpha) << 23)
    )
    header16 = (
        (ly if landscape else lx)
        | (_js_round(63 * p_scale) << 3)
        | (_js_round(63 * q_scale) << 9)
        | (int(landscape) << 15)
    )
    packed = [header24 & 255, (header24 >> 8) & 255, header24 >> 16, header16 & 255, header16 >> 8]
    if has_alpha:
        packed.append(_js_round(15 * a_dc) | (_js_round(15 * a_scale) << 4))
    nibbles = [_js_round(15 * f) for f in (*l_ac, *p_ac, *q_ac, *(a_ac if has_alpha else []))]
    for i in range(0, len(nibbles), 2):
        packed.append(nibbles[i] | (nibbles[i + 1] << 4 if i + 1 < len(nibbles) else 0))
    return packed


def _thumbhash_channels(
    reds: bytes, greens: bytes, blues: bytes, alphas: bytes
) -> tuple[tuple[list[float], list[float], list[float], list[float]], bool]:
    """The reference's L, P, Q and A planes (transparent pixels take the average colour)."""
    count = len(reds)
    weights = [a / 255 for a in alphas]
    total = sum(weights)
    avg_r = avg_g = avg_b = 0.0
    if total:
        avg_r = sum(w * r for w, r in zip(weights, reds, strict=True)) / 255 / total
        avg_g = sum(w * g for w, g in zip(weights, greens, strict=True)) / 255 / total
        avg_b = sum(w * b for w, b in zip(weights, blues, strict=True)) / 255 / total
    has_alpha = total < count
    luma: list[float] = []
    p_chroma: list[float] = []
    q_chroma: list[float] = []
    for w, r8, g8, b8 in zip(weights, reds, greens, blues, strict=True):
        r = avg_r * (1 - w) + w / 255 * r8
        g = avg_g * (1 - w) + w / 255 * g8
        b = avg_b * (1 - w) + w / 255 * b8
        luma.append((r + g + b) / 3)
        p_chroma.append((r + g) / 2 - b)
        q_chroma.append(r - g)
    return (luma, p_chroma, q_chroma, weights), has_alpha


def _encode_channel(
    channel: list[float], width: int, height: int, nx: int, ny: int
) -> tuple[float, list[float], float]:
    """DC, normalised AC terms and AC scale of one plane, in the reference's term order."""
    fx = _cosines(width, nx, scale=1.0)
    fy = _cosines(height, ny, scale=1.0)
    rows = [channel[y * width : (y + 1) * width] for y in range(height)]
    along_x = [[sum(map(operator.mul, row, basis)) for row in rows] for basis in fx]
    dc = 0.0
    ac: list[float] = []
    scale = 0.0
    for cy in range(ny):
        cx = 0
        while cx * ny < nx * (ny - cy):
            f = sum(map(operator.mul, along_x[cx], fy[cy])) / (width * height)
            if cx > 0 or cy > 0:
                ac.append(f)
                scale = max(scale, abs(f))
            else:
                dc = f
            cx += 1
    if scale:
        ac = [0.5 + 0.5 / scale * f for f in ac]
    return dc, ac, scale
