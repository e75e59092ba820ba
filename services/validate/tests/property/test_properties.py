"""Properties of validate_image over generated images and hostile bytes (hypothesis, ci profile)."""

from __future__ import annotations

import io
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from qip_shared.config import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS
from qip_shared.enums import ImageFormat, RejectionReason
from qip_shared.errors import InvalidImageError
from qip_validate.core import ValidationResult, count_gif_frames, validate_image, webp_header

LIMITS = {"max_bytes": DEFAULT_MAX_BYTES, "max_pixels": DEFAULT_MAX_PIXELS}
MAGICS = [b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"GIF87a", b"RIFF\x00\x00\x00\x00WEBP"]
FORMATS = {"JPEG": ImageFormat.JPEG, "PNG": ImageFormat.PNG, "GIF": ImageFormat.GIF}
FORMATS["WEBP"] = ImageFormat.WEBP
MODES = {"JPEG": ["RGB", "L", "CMYK"], "PNG": ["RGB", "RGBA", "L", "LA", "P", "1", "I;16"]}
MODES |= {"GIF": ["P", "L"], "WEBP": ["RGB", "RGBA"]}


def outcome(data: bytes, **limits: int) -> ValidationResult | InvalidImageError:
    """The result, or the typed rejection; any other exception propagates and fails the test."""
    try:
        return validate_image(data, **{**LIMITS, **limits})
    except InvalidImageError as exc:
        return exc


@st.composite
def images(draw: st.DrawFn) -> tuple[str, tuple[int, int], bytes]:
    """A small valid image of any accepted format and mode, with some pixel content."""
    fmt = draw(st.sampled_from(sorted(FORMATS)))
    mode = draw(st.sampled_from(MODES[fmt]))
    size = (draw(st.integers(1, 64)), draw(st.integers(1, 64)))
    seed = draw(st.binary(min_size=3, max_size=3))
    image = Image.new("RGB", size, tuple(seed)).convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return fmt, size, buffer.getvalue()


# Requirement (issue 3): for ANY byte string, validate_image returns a result or raises
# InvalidImageError; an unexpected Pillow exception on hostile input is a typed rejection.
@given(st.binary(max_size=2048))
def test_any_bytes_give_a_result_or_a_typed_rejection(data: bytes) -> None:
    assert isinstance(outcome(data), ValidationResult | InvalidImageError)


# Requirement (issue 3): bytes behind a valid magic reach Pillow's parsers; whatever follows,
# the answer is still a result or a typed rejection, never a crash.
@given(st.sampled_from(MAGICS), st.binary(max_size=2048))
def test_anything_after_a_valid_magic_is_typed(magic: bytes, tail: bytes) -> None:
    result = outcome(magic + tail)
    if isinstance(result, InvalidImageError):
        assert result.reason is not RejectionReason.UNSUPPORTED_FORMAT  # the magic was accepted


# Requirement (issue 3): hostile variants of real images (bytes flipped anywhere) never crash.
@given(images(), st.data())
def test_mutated_images_never_crash(image: tuple[str, Any, bytes], data: st.DataObject) -> None:
    _, _, encoded = image
    mutated = bytearray(encoded)
    for _ in range(data.draw(st.integers(1, 8))):
        mutated[data.draw(st.integers(0, len(mutated) - 1))] = data.draw(st.integers(0, 255))
    assert isinstance(outcome(bytes(mutated)), ValidationResult | InvalidImageError)


# Property 3: Invalid file rejection - validate's share: any upload that is not one of the
# four accepted image formats (text, JSON, arbitrary binary) is refused as UNSUPPORTED_FORMAT.
@given(
    st.one_of(
        st.text(max_size=500).map(str.encode),
        st.dictionaries(st.text(max_size=10), st.integers(), max_size=5).map(
            lambda d: repr(d).encode()
        ),
        st.binary(max_size=500).filter(lambda b: not any(b.startswith(m[:3]) for m in MAGICS)),
    )
)
def test_non_images_are_unsupported(data: bytes) -> None:
    result = outcome(data)
    assert isinstance(result, InvalidImageError)
    assert result.reason is RejectionReason.UNSUPPORTED_FORMAT


# Requirement (issue 3): every valid image within the limits is accepted with its own
# format and header dimensions.
@given(images())
def test_valid_images_are_accepted_with_their_dimensions(
    image: tuple[str, tuple[int, int], bytes],
) -> None:
    fmt, size, encoded = image
    result = outcome(encoded)
    assert result == ValidationResult(format=FORMATS[fmt], width=size[0], height=size[1])


# Requirement (issue 3): the pixel cap is exact - width x height x frames over the cap is
# TOO_MANY_PIXELS, at or under it is accepted.
@given(images(), st.integers(-3, 3))
def test_pixel_cap_is_exact(image: tuple[str, tuple[int, int], bytes], delta: int) -> None:
    _, size, encoded = image
    cap = max(1, size[0] * size[1] + delta)
    result = outcome(encoded, max_pixels=cap)
    if size[0] * size[1] > cap:
        assert isinstance(result, InvalidImageError)
        assert result.reason is RejectionReason.TOO_MANY_PIXELS
    else:
        assert isinstance(result, ValidationResult)


# Requirement (issue 3): the byte limit is exact and is checked before anything else but
# emptiness.
@given(images(), st.integers(-3, 3))
def test_byte_limit_is_exact(image: tuple[str, tuple[int, int], bytes], delta: int) -> None:
    _, _, encoded = image
    limit = max(1, len(encoded) + delta)
    result = outcome(encoded, max_bytes=limit)
    if len(encoded) > limit:
        assert isinstance(result, InvalidImageError)
        assert result.reason is RejectionReason.TOO_LARGE
    else:
        assert isinstance(result, ValidationResult)


# Requirement (issue 3): truncating the pixel data of a real image is CORRUPT (noise pixels
# keep the compressed data large, so the cut always falls inside it).
@given(
    st.sampled_from(["JPEG", "PNG", "WEBP", "GIF"]),
    st.integers(48, 96),
    st.floats(0.3, 0.8),
    st.binary(min_size=3, max_size=3),
)
def test_truncated_images_are_corrupt(fmt: str, side: int, keep: float, seed: bytes) -> None:
    noise = Image.effect_noise((side, side), 120).convert("RGB")
    tinted = Image.blend(noise, Image.new("RGB", noise.size, tuple(seed)), 0.2)
    buffer = io.BytesIO()
    tinted.save(buffer, fmt)
    encoded = buffer.getvalue()
    result = outcome(encoded[: int(len(encoded) * keep)])
    assert isinstance(result, InvalidImageError)
    assert result.reason is RejectionReason.CORRUPT


# Requirement (issue 3): the header-only frame counters agree with Pillow on real animations.
@given(
    st.sampled_from(["GIF", "WEBP"]),
    st.integers(1, 12),
    st.integers(1, 24),
    st.integers(1, 24),
)
def test_frame_counters_agree_with_pillow(fmt: str, frames: int, width: int, height: int) -> None:
    images = [Image.new("RGB", (width, height), (i * 20, 255 - i * 20, 7)) for i in range(frames)]
    buffer = io.BytesIO()
    images[0].save(buffer, fmt, save_all=True, append_images=images[1:], duration=50)
    encoded = buffer.getvalue()
    with Image.open(io.BytesIO(encoded)) as opened:
        expected = (opened.size[0], opened.size[1], getattr(opened, "n_frames", 1))
    if fmt == "GIF":
        assert count_gif_frames(encoded) == expected[2]
    else:
        assert webp_header(encoded) == expected
    result = outcome(encoded)
    assert isinstance(result, ValidationResult)
    assert (result.width, result.height, result.frames) == expected
