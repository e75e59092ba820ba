"""Unit tests of qip_shared.imaging: decode discipline, orientation, colour rules, clean JPEG."""

from __future__ import annotations

import io
import struct

import pytest
from PIL import Image, ImageCms, ImageOps

from qip_shared.imaging import (
    ImageDecodeError,
    centre_crop_box,
    cover_size,
    decode_upright,
    encode_jpeg,
    fit_size,
    load_upright,
    normalise_colour,
    orientation_of,
    upright_size,
)

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)
QUADRANTS = (RED, GREEN, BLUE, WHITE)  # top-left, top-right, bottom-left, bottom-right

# How to store an upright picture so that a viewer honouring EXIF orientation N shows it
# upright (EXIF 2.32, tag 0x0112); written from the spec, not from the code under test.
STORE_FOR_ORIENTATION: dict[int, Image.Transpose | None] = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,  # viewer turns it 90 degrees clockwise
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,  # viewer turns it 90 degrees counter-clockwise
}


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def quadrant_image(width: int, height: int) -> Image.Image:
    """An upright picture whose four quadrants have distinct colours (the orientation marker)."""
    image = Image.new("RGB", (width, height), WHITE)
    half_w, half_h = width // 2, height // 2
    image.paste(RED, (0, 0, half_w, half_h))
    image.paste(GREEN, (half_w, 0, width, half_h))
    image.paste(BLUE, (0, half_h, half_w, height))
    return image


def stored_with_orientation(upright: Image.Image, orientation: int, fmt: str) -> bytes:
    """`upright` stored rotated/mirrored, with the EXIF orientation that undoes it."""
    method = STORE_FOR_ORIENTATION[orientation]
    stored = upright if method is None else upright.transpose(method)
    exif = Image.Exif()
    exif[0x0112] = orientation
    params: dict[str, object] = {"exif": exif.tobytes()}
    if fmt == "JPEG":
        params["quality"] = 95
    return encode(stored, fmt, **params)


def quadrant_colours(image: Image.Image) -> tuple[tuple[int, ...], ...]:
    """The colour at the centre of each quadrant."""
    width, height = image.size
    points = [(width // 4, height // 4), (3 * width // 4, height // 4)]
    points += [(width // 4, 3 * height // 4), (3 * width // 4, 3 * height // 4)]
    return tuple(tuple(image.convert("RGB").getpixel(p)) for p in points)  # type: ignore[arg-type]


def close(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 40) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


def jpeg_markers(data: bytes) -> list[int]:
    """The marker codes of a JPEG's header segments, from SOI up to the first SOS."""
    assert data[:2] == b"\xff\xd8", "not a JPEG"
    markers, offset = [], 2
    while offset < len(data):
        assert data[offset] == 0xFF
        marker = data[offset + 1]
        markers.append(marker)
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            break
        (length,) = struct.unpack(">H", data[offset + 2 : offset + 4])
        offset += 2 + length
    return markers


def cmyk_profile_to_lab(lab: tuple[float, float, float]) -> bytes:
    """A minimal ICC v2 CMYK printer profile mapping every CMYK value to one Lab colour.

    lcms accepts it as a conversion source; a result of that colour proves the embedded
    profile (not Pillow's naive CMYK formula) did the conversion.
    """
    lightness, a, b = lab
    encoded = bytes((round(lightness * 255 / 100), round(a + 128), round(b + 128)))
    grid = 2
    lut = b"mft1" + b"\0" * 4 + bytes((4, 3, grid, 0))
    identity = (1, 0, 0, 0, 1, 0, 0, 0, 1)
    lut += b"".join(struct.pack(">i", v << 16) for v in identity)
    lut += bytes(range(256)) * 4 + encoded * grid**4 + bytes(range(256)) * 3
    lut += b"\0" * (-len(lut) % 4)
    d50 = b"".join(struct.pack(">i", round(v * 65536)) for v in (0.9642, 1.0, 0.8249))
    white_point = b"XYZ " + b"\0" * 4 + d50
    tags = [(b"A2B0", lut), (b"wtpt", white_point)]
    offset = 128 + 4 + 12 * len(tags)
    table, body = struct.pack(">I", len(tags)), b""
    for signature, data in tags:
        table += signature + struct.pack(">II", offset + len(body), len(data))
        body += data
    size = offset + len(body)
    header = struct.pack(">I", size) + b"\0" * 4 + struct.pack(">I", 0x02100000)
    header += b"prtr" + b"CMYK" + b"Lab " + b"\0" * 12 + b"acsp" + b"\0" * 24
    header += struct.pack(">I", 0) + d50
    header += b"\0" * (128 - len(header))
    return header + table + body


# --- geometry -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "box", "expected"),
    [
        ((4000, 3000), (1024, 768), (1024, 768)),
        ((3000, 4000), (1024, 768), (576, 768)),
        ((1920, 1080), (1024, 768), (1024, 576)),
        ((800, 600), (1024, 768), (800, 600)),  # never upscaled
        ((1, 1), (1024, 768), (1, 1)),
        ((5000, 3), (1024, 768), (1024, 1)),  # never 0 px
        ((3, 5000), (1024, 768), (1, 768)),
    ],
)
def test_fit_size(size: tuple[int, int], box: tuple[int, int], expected: tuple[int, int]) -> None:
    assert fit_size(size, box) == expected


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((400, 300), (267, 200)),
        ((300, 400), (200, 267)),
        ((100, 100), (200, 200)),
        ((1, 2), (200, 400)),
    ],
)
def test_cover_size(size: tuple[int, int], expected: tuple[int, int]) -> None:
    assert cover_size(size, (200, 200)) == expected


def test_centre_crop_box_is_centred_and_square() -> None:
    assert centre_crop_box((400, 300), (1, 1)) == (50.0, 0.0, 350.0, 300.0)
    assert centre_crop_box((300, 400), (1, 1)) == (0.0, 50.0, 300.0, 350.0)
    assert centre_crop_box((5, 5), (1, 1)) == (0.0, 0.0, 5.0, 5.0)


def test_upright_size_swaps_for_transposing_orientations() -> None:
    assert [upright_size((4, 3), o) for o in range(1, 9)] == [(4, 3)] * 4 + [(3, 4)] * 4


# --- orientation ------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_orientation_comes_out_upright(orientation: int, fmt: str) -> None:
    upright = quadrant_image(64, 48)
    data = stored_with_orientation(upright, orientation, fmt)
    # The fixture agrees with Pillow's reference implementation of the EXIF rule.
    reference = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    assert reference.size == (64, 48)
    assert all(map(close, quadrant_colours(reference), QUADRANTS))

    image = load_upright(data, (64, 48))

    assert image.size == (64, 48)
    colours = quadrant_colours(image)
    assert all(map(close, colours, QUADRANTS)), colours


def test_invalid_orientation_counts_as_upright() -> None:
    exif = Image.Exif()
    exif[0x0112] = 9
    image = Image.open(io.BytesIO(encode(quadrant_image(8, 6), "JPEG", exif=exif.tobytes())))
    assert orientation_of(image) == 1


# --- decode at the smallest scale --------------------------------------------------------


@pytest.mark.parametrize(
    ("needed", "expected"),
    [
        ((100, 75), (100, 75)),
        ((101, 75), (200, 150)),
        ((1, 1), (100, 75)),
        ((800, 600), (800, 600)),
    ],
)
def test_jpeg_is_decoded_at_the_smallest_scale_covering_the_need(
    needed: tuple[int, int], expected: tuple[int, int]
) -> None:
    data = encode(quadrant_image(800, 600), "JPEG")
    assert load_upright(data, needed).size == expected


@pytest.mark.parametrize("orientation", [6, 8])
def test_draft_accounts_for_rotation(orientation: int) -> None:
    # Stored 600x800, displayed 800x600: a need of 101x75 (upright) forces scale 1/4.
    data = stored_with_orientation(quadrant_image(800, 600), orientation, "JPEG")
    decoded = decode_upright(data, (101, 75))
    assert decoded.image.size == (200, 150)
    assert decoded.source_size == (800, 600)
    assert all(map(close, quadrant_colours(decoded.image), QUADRANTS))


def test_size_rule_receives_the_upright_source_size() -> None:
    seen: list[tuple[int, int]] = []
    data = stored_with_orientation(quadrant_image(800, 600), 6, "JPEG")

    def rule(size: tuple[int, int]) -> tuple[int, int]:
        seen.append(size)
        return (100, 75)

    assert load_upright(data, rule).size == (100, 75)
    assert seen == [(800, 600)]


@pytest.mark.parametrize("orientation", range(1, 9))
def test_content_box_tracks_the_partial_edge_block(orientation: int) -> None:
    # 803x601 at 1/8 decodes to 101x76 pixels, of which 100.375x75.125 show the source.
    data = stored_with_orientation(quadrant_image(803, 601), orientation, "JPEG")
    decoded = decode_upright(data, (10, 10))
    left, top, right, bottom = decoded.content
    width, height = decoded.image.size
    assert decoded.source_size == (803, 601)
    assert (width, height) == (101, 76)
    assert right - left == pytest.approx(803 / 8)
    assert bottom - top == pytest.approx(601 / 8)
    assert left >= 0
    assert top >= 0
    assert right <= width
    assert bottom <= height
    assert decoded.region((0, 0, 803, 601)) == pytest.approx(decoded.content)


def test_non_jpeg_is_kept_whole_when_close_to_the_need() -> None:
    data = encode(quadrant_image(300, 200), "PNG")
    decoded = decode_upright(data, (100, 100))
    assert decoded.image.size == (300, 200)
    assert decoded.content == (0.0, 0.0, 300.0, 200.0)


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA"])
def test_large_non_jpeg_is_reduced_before_colour_work(mode: str) -> None:
    # 300x200 for a 10x10 need: an integer factor of 6 keeps >= 3x the need (reducing gap).
    source = quadrant_image(300, 200).convert(mode)
    decoded = decode_upright(encode(source, "PNG"), (10, 10))
    assert decoded.image.size == (50, 34)
    assert decoded.content == pytest.approx((0.0, 0.0, 50.0, 200 / 6))
    assert decoded.source_size == (300, 200)
    assert decoded.image.mode == "RGB"


def test_reduction_keeps_transparent_edges_clean() -> None:
    # Fully transparent pixels hold pure blue: premultiplied reduction must not let it bleed.
    image = Image.new("RGBA", (120, 60), (0, 0, 255, 0))
    image.paste((255, 0, 0, 255), (0, 0, 60, 60))
    decoded = decode_upright(encode(image, "PNG"), (10, 5))
    assert decoded.image.size == (30, 15)  # reduced by 4
    for x in range(decoded.image.width):
        red, green, blue = decoded.image.getpixel((x, 7))  # type: ignore[misc]
        assert blue <= green + 1, (x, red, green, blue)  # grey/white mix only, never bluish


def test_palette_and_colour_keyed_images_are_not_box_reduced() -> None:
    palette = quadrant_image(300, 200).convert("P")
    assert decode_upright(encode(palette, "PNG"), (10, 10)).image.size == (300, 200)
    keyed = encode(quadrant_image(300, 200), "PNG", transparency=(0, 0, 255))
    assert decode_upright(keyed, (10, 10)).image.size == (300, 200)


# --- colour rules ------------------------------------------------------------------------


def test_alpha_is_flattened_on_white() -> None:
    image = Image.new("RGBA", (4, 2), (255, 0, 0, 255))
    image.paste((0, 0, 255, 0), (2, 0, 4, 2))  # fully transparent blue: must vanish
    out = load_upright(encode(image, "PNG"), (1, 1))
    assert out.mode == "RGB"
    assert out.getpixel((0, 0)) == RED
    assert out.getpixel((3, 0)) == WHITE


def test_half_transparent_black_becomes_mid_grey() -> None:
    out = load_upright(encode(Image.new("LA", (2, 2), (0, 128)), "PNG"), (1, 1))
    value = out.getpixel((0, 0))
    assert isinstance(value, tuple)
    assert all(abs(channel - 127) <= 2 for channel in value)


def test_palette_transparency_is_flattened_on_white() -> None:
    image = Image.new("P", (2, 1))
    image.putpalette([255, 0, 0, 0, 255, 0])
    image.putpixel((1, 0), 1)
    for fmt in ("PNG", "GIF"):
        out = load_upright(encode(image, fmt, transparency=1), (1, 1))
        assert out.getpixel((0, 0)) == RED, fmt
        assert out.getpixel((1, 0)) == WHITE, fmt


def test_sixteen_bit_grey_is_scaled_not_clipped() -> None:
    image = Image.new("I;16", (4, 1))
    for x, value in enumerate((0, 1000, 32768, 65535)):
        image.putpixel((x, 0), value)
    out = load_upright(encode(image, "PNG"), (1, 1))
    greys = [out.getpixel((x, 0)) for x in range(4)]
    assert greys[0] == (0, 0, 0)
    assert greys[1] in {(3, 3, 3), (4, 4, 4)}  # 1000/257: clipping would give 255
    assert greys[2] in {(127, 127, 127), (128, 128, 128)}
    assert greys[3] == (255, 255, 255)


def test_one_bit_becomes_black_and_white_rgb() -> None:
    image = Image.new("1", (2, 1), 0)
    image.putpixel((1, 0), 1)
    out = load_upright(encode(image, "PNG"), (1, 1))
    assert out.mode == "RGB"
    assert [out.getpixel((0, 0)), out.getpixel((1, 0))] == [(0, 0, 0), WHITE]


def test_cmyk_without_profile_uses_pillows_conversion() -> None:
    image = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # pure red ink mix
    out = load_upright(encode(image, "JPEG", quality=95), (16, 16))
    assert out.mode == "RGB"
    assert close(out.getpixel((8, 8)), RED)  # type: ignore[arg-type]


def test_cmyk_with_profile_is_converted_through_it() -> None:
    profile = cmyk_profile_to_lab((60.0, -80.0, 60.0))  # every ink mix -> a strong green
    image = Image.new("CMYK", (16, 16), (0, 0, 0, 0))  # paper white without the profile
    out = load_upright(encode(image, "JPEG", quality=95, icc_profile=profile), (16, 16))
    red, green, blue = out.getpixel((8, 8))  # type: ignore[misc]
    # Lab (60, -80, 60) is a saturated green in sRGB; the naive formula would give white.
    assert green > 90, (red, green, blue)
    assert red < 60, (red, green, blue)
    assert blue < 80, (red, green, blue)


def test_broken_profile_falls_back_to_the_plain_conversion() -> None:
    image = Image.new("CMYK", (4, 4), (0, 255, 255, 0))
    image.info["icc_profile"] = b"not a profile"
    assert close(normalise_colour(image).getpixel((0, 0)), RED)  # type: ignore[arg-type]


def test_srgb_tagged_rgb_is_left_as_it_is() -> None:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    image = Image.new("RGB", (2, 2), (12, 200, 99))
    image.info["icc_profile"] = srgb
    assert normalise_colour(image).getpixel((0, 0)) == (12, 200, 99)


@pytest.mark.parametrize(
    "mode", ["RGB", "RGBA", "LA", "L", "P", "CMYK", "I;16", "I", "1", "PA", "RGBa", "La", "F"]
)
def test_every_mode_normalises_to_rgb(mode: str) -> None:
    assert normalise_colour(Image.new(mode, (3, 2))).mode == "RGB"


# --- frames, tiny sizes, errors ----------------------------------------------------------


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "PNG"])
def test_animation_gives_its_first_frame(fmt: str) -> None:
    frames = [Image.new("RGB", (8, 8), colour) for colour in (RED, GREEN, BLUE)]
    data = encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=50, loop=0)
    assert getattr(Image.open(io.BytesIO(data)), "n_frames", 1) == 3
    assert close(load_upright(data, (8, 8)).getpixel((4, 4)), RED)  # type: ignore[arg-type]


@pytest.mark.parametrize("size", [(1, 1), (2, 1), (1, 2)])
@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP"])
def test_tiny_images_decode(size: tuple[int, int], fmt: str) -> None:
    image = load_upright(encode(Image.new("RGB", size, RED), fmt), (200, 200))
    assert image.size == size


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not an image at all",
        b"\xff\xd8\xff\xe0" + b"\0" * 32,  # JPEG signature, nothing behind it
        encode(Image.new("RGB", (64, 64), RED), "JPEG")[:300],  # truncated
        encode(Image.new("RGB", (4, 4)), "TIFF"),  # a format the pipeline does not accept
        encode(Image.new("RGB", (4, 4)), "BMP"),
    ],
    ids=["empty", "text", "signature-only", "truncated", "tiff", "bmp"],
)
def test_undecodable_input_raises_image_decode_error(data: bytes) -> None:
    with pytest.raises(ImageDecodeError):
        load_upright(data, (10, 10))


def test_max_pixels_is_enforced_before_decoding() -> None:
    data = encode(Image.new("RGB", (100, 100)), "PNG")
    with pytest.raises(ImageDecodeError):
        load_upright(data, (100, 100), max_pixels=9_999)
    assert load_upright(data, (100, 100), max_pixels=10_000).size == (100, 100)


# --- the JPEG written --------------------------------------------------------------------


def test_loaded_image_carries_no_metadata() -> None:
    exif = Image.Exif()
    exif[0x010F] = "Camera"
    data = encode(quadrant_image(16, 16), "JPEG", exif=exif.tobytes(), comment=b"hi")
    assert load_upright(data, (1, 1)).info == {}


def test_encoded_jpeg_has_no_exif_icc_xmp_or_comment() -> None:
    image = quadrant_image(32, 24)
    exif = Image.Exif()
    exif[0x8825] = {2: (1.0, 2.0, 3.0)}  # GPS IFD
    image.info.update(
        exif=exif.tobytes(),
        icc_profile=ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes(),
        comment=b"secret",
        xmp=b"<x:xmpmeta/>",
    )
    data = encode_jpeg(image)
    markers = jpeg_markers(data)
    # Only JFIF (APP0), tables, frame and scan headers: no APP1..APP15 and no COM.
    assert not [m for m in markers if 0xE1 <= m <= 0xEF or m == 0xFE], [hex(m) for m in markers]
    for secret in (b"Exif", b"ICC_PROFILE", b"secret", b"xmpmeta"):
        assert secret not in data
    decoded = Image.open(io.BytesIO(data))
    assert (decoded.format, decoded.mode, decoded.size) == ("JPEG", "RGB", (32, 24))
    assert "exif" not in decoded.info
    assert "icc_profile" not in decoded.info
    assert image.info["comment"] == b"secret"  # the caller's image is left alone


def test_encode_jpeg_converts_other_modes_to_rgb() -> None:
    for mode in ("L", "RGBA", "CMYK"):
        assert Image.open(io.BytesIO(encode_jpeg(Image.new(mode, (4, 4))))).mode == "RGB"
