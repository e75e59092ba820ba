"""What is measured: the stages' own cores, the naive Pillow reference, and the decode floor.

Every workload takes the encoded bytes and does the whole job (including the JPEG encode of
outputs), so stage and reference are timed on the same footing. The cores are called exactly
as the handlers call them: no benchmark-only fast path.
"""

from __future__ import annotations

import io
from collections.abc import Callable

from PIL import Image, ImageOps

from qip_metadata.core import extract_metadata
from qip_resize.core import resize_image
from qip_shared.config import RESIZE_BOX, THUMBNAIL_SIZE
from qip_shared.imaging import JPEG_QUALITY, centre_crop_box, fit_size
from qip_thumbnail.core import make_thumbnail
from qip_validate.core import validate_image

Workload = Callable[[bytes], object]

# Generous caps: the benchmark measures work, not rejections (a 24 MP JPEG is ~8 MB).
MAX_BYTES = 64 * 1024 * 1024
MAX_PIXELS = 100_000_000


def core_validate(data: bytes) -> object:
    """The validate stage's core."""
    return validate_image(data, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)


def core_metadata(data: bytes) -> object:
    """The metadata stage's core."""
    return extract_metadata(data, store_gps=False)


def core_resize(data: bytes) -> object:
    """The resize stage's core (fit in 1024x768, JPEG)."""
    return resize_image(data)


def core_thumbnail(data: bytes) -> object:
    """The thumbnail stage's core (200x200 centre crop, JPEG)."""
    return make_thumbnail(data)


def all_cores(data: bytes) -> object:
    """The four cores one image goes through, each from the bytes, as four Lambdas would."""
    core_validate(data)
    core_metadata(data)
    core_resize(data)
    return core_thumbnail(data)


def _naive_open(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()  # full-size decode: what most code does without thinking
    upright = ImageOps.exif_transpose(image)
    return upright if upright.mode == "RGB" else upright.convert("RGB")


def _save(image: Image.Image) -> bytes:
    # Same encoder settings as the cores: the comparison is about decoding and resampling.
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return buffer.getvalue()


def naive_resize(data: bytes) -> object:
    """Reference: open, full decode, exif_transpose, LANCZOS to fit 1024x768, save."""
    image = _naive_open(data)
    return _save(image.resize(fit_size(image.size, RESIZE_BOX), Image.Resampling.LANCZOS))


def naive_thumbnail(data: bytes) -> object:
    """Reference: open, full decode, exif_transpose, LANCZOS of the centre square to 200x200."""
    image = _naive_open(data)
    box = centre_crop_box(image.size, THUMBNAIL_SIZE)
    return _save(image.resize(THUMBNAIL_SIZE, Image.Resampling.LANCZOS, box=box))


def naive_both(data: bytes) -> object:
    """A naive script's whole job: one full decode, both outputs with LANCZOS, saved."""
    image = _naive_open(data)
    resized = _save(image.resize(fit_size(image.size, RESIZE_BOX), Image.Resampling.LANCZOS))
    box = centre_crop_box(image.size, THUMBNAIL_SIZE)
    return resized, _save(image.resize(THUMBNAIL_SIZE, Image.Resampling.LANCZOS, box=box))


def full_decode(data: bytes) -> object:
    """One full-size decode (the yardstick for validate + metadata)."""
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return image.size


def floor_decode(data: bytes) -> object:
    """The floor: one decode at the smallest scale that serves the resize output, nothing else."""
    with Image.open(io.BytesIO(data)) as image:
        image.draft("RGB", fit_size(image.size, RESIZE_BOX))
        image.load()
        return image.size


def pyvips_both(data: bytes) -> object:
    """What a pyvips user writes: shrink-on-load to the resize box once, thumbnail from that."""
    import pyvips  # noqa: PLC0415 - optional, only in the bench dependency group

    header = pyvips.Image.new_from_buffer(data, "")  # validate + metadata: header only
    _ = (header.width, header.height, header.get_fields())
    resized = pyvips.Image.thumbnail_buffer(
        data, RESIZE_BOX[0], height=RESIZE_BOX[1], size="down"
    ).copy_memory()
    resized_jpeg = resized.jpegsave_buffer(Q=JPEG_QUALITY)
    thumb = resized.thumbnail_image(THUMBNAIL_SIZE[0], height=THUMBNAIL_SIZE[1], crop="centre")
    return resized_jpeg, thumb.jpegsave_buffer(Q=JPEG_QUALITY)


WORKLOADS: dict[str, Workload] = {
    "validate": core_validate,
    "metadata": core_metadata,
    "resize": core_resize,
    "thumbnail": core_thumbnail,
    "cores": all_cores,
    "naive_resize": naive_resize,
    "naive_thumbnail": naive_thumbnail,
    "naive_both": naive_both,
    "full_decode": full_decode,
    "floor": floor_decode,
    "pyvips": pyvips_both,
}
