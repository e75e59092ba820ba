"""extract_metadata: header facts, orientation, EXIF, GPS privacy, hostile EXIF, no decode."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pillow_heif.as_plugin
import pytest
from PIL import (
    AvifImagePlugin,
    GifImagePlugin,
    Image,
    ImageCms,
    ImageFile,
    JpegImagePlugin,
    PngImagePlugin,
    WebPImagePlugin,
)

from qip_metadata.core import (
    MAX_TEXT_LENGTH,
    clean_text,
    displayed_size,
    extract_metadata,
    read_metadata,
)
from qip_shared.enums import ImageFormat
from qip_shared.errors import PermanentError

ASCII, SHORT, LONG, RATIONAL, UNDEFINED = 2, 3, 4, 5, 7
CAMERA_IFD0 = [
    (0x010F, ASCII, "Canon"),
    (0x0110, ASCII, "Canon EOS R5"),
    (0x0131, ASCII, "Firmware 1.8.1"),
    (0x0132, ASCII, "2024:05:06 10:00:00"),
    (0x0112, SHORT, [1]),
]
CAMERA_EXIF = [
    (0x829A, RATIONAL, [(1, 250)]),
    (0x829D, RATIONAL, [(28, 10)]),
    (0x8827, SHORT, [400]),
    (0x9003, ASCII, "2024:05:06 07:08:09"),
    (0x920A, RATIONAL, [(50, 1)]),
    (0xA434, ASCII, "RF24-105mm F4 L IS USM"),
]
SYDNEY = [
    (1, ASCII, "S"),
    (2, RATIONAL, [(33, 1), (51, 1), (3000, 100)]),
    (3, ASCII, "E"),
    (4, RATIONAL, [(151, 1), (12, 1), (3600, 100)]),
    (5, UNDEFINED, b"\x01"),
    (6, RATIONAL, [(125, 10)]),
]


@pytest.fixture
def decode_spy(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every pixel decode (`load`) of any plugin: the tests require there is none."""
    calls: list[str] = []
    classes = [
        ImageFile.ImageFile,
        JpegImagePlugin.JpegImageFile,
        PngImagePlugin.PngImageFile,
        GifImagePlugin.GifImageFile,
        WebPImagePlugin.WebPImageFile,
        AvifImagePlugin.AvifImageFile,
        pillow_heif.as_plugin._LibHeifImageFile,
    ]
    for cls in classes:
        original = cls.__dict__.get("load")
        if original is None:
            continue

        def spy(self: Any, _original: Any = original, _name: str = cls.__name__) -> Any:
            calls.append(_name)
            return _original(self)

        monkeypatch.setattr(cls, "load", spy)
    return calls


# --- the corpus ---------------------------------------------------------------------------


def test_corpus_orientation_and_displayed_size_match_the_manifest(
    corpus_name: str,
    corpus_dir: Path,
    manifest: dict[str, dict[str, Any]],
    decode_spy: list[str],
) -> None:
    expected = manifest[corpus_name]
    metadata = extract_metadata((corpus_dir / corpus_name).read_bytes(), store_gps=False)
    assert [metadata.display_width, metadata.display_height] == expected["displayed_size"]
    stem = Path(corpus_name).stem
    if stem.startswith(("Landscape_", "Portrait_")):
        assert metadata.orientation == int(stem.rsplit("_", 1)[1])
    assert decode_spy == []  # header only, for every accepted corpus file


def test_orientations_that_swap_axes(corpus_dir: Path) -> None:
    landscape_6 = extract_metadata((corpus_dir / "Landscape_6.jpg").read_bytes(), store_gps=False)
    assert (landscape_6.width, landscape_6.height) == (450, 600)
    assert (landscape_6.display_width, landscape_6.display_height) == (600, 450)
    assert displayed_size(4, 3, 1) == (4, 3)
    assert [displayed_size(4, 3, o) for o in (5, 6, 7, 8)] == [(3, 4)] * 4


def test_the_image_is_never_loaded(corpus_dir: Path, late_exif_png: Any, exif_block: Any) -> None:
    files = [(corpus_dir / name).read_bytes() for name in ("flowers.jpeg", "animated-loop-3.gif")]
    png = io.BytesIO()
    Image.new("RGB", (40, 30)).save(png, "PNG")
    files.append(late_exif_png(png.getvalue(), exif_block([(0x0112, SHORT, [8])])))
    for data in files:
        with Image.open(io.BytesIO(data)) as image:
            metadata = read_metadata(image, data, store_gps=True)
            assert image._im is None  # no pixel buffer was ever allocated
            assert metadata.width == image.size[0]


def test_corpus_facts(corpus_dir: Path) -> None:
    def read(name: str) -> Any:
        return extract_metadata((corpus_dir / name).read_bytes(), store_gps=False)

    cmyk = read("Channel_digital_image_CMYK_color_no_profile.jpg")
    assert (cmyk.space, cmyk.channels, cmyk.has_alpha) == ("cmyk", 4, False)
    flag = read("Flag_of_the_Netherlands-16bit.png")
    assert (flag.space, flag.bits_per_sample) == ("rgb16", 16)
    alpha = read("with-alpha.png")
    assert (alpha.space, alpha.channels, alpha.has_alpha) == ("srgb", 4, True)
    grey = read("concert.jpg")
    assert (grey.space, grey.channels, grey.has_icc_profile) == ("b-w", 1, True)
    gif = read("animated-loop-3.gif")
    assert (gif.format, gif.frames) == (ImageFormat.GIF, 10)
    webp = read("animated-loop-3.webp")
    assert (webp.format, webp.frames, webp.has_alpha) == (ImageFormat.WEBP, 10, True)
    transparent_gif = read("grey-plus-alpha.gif")
    assert (transparent_gif.has_alpha, transparent_gif.channels) == (True, 4)
    assert read("320x240.jpg").exif.software == "GIMP 2.6.7"


# --- colour facts of generated images -------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "mode", "space", "channels", "alpha", "bits"),
    [
        ("PNG", "RGB", "srgb", 3, False, 8),
        ("PNG", "RGBA", "srgb", 4, True, 8),
        ("PNG", "L", "b-w", 1, False, 8),
        ("PNG", "LA", "b-w", 2, True, 8),
        ("PNG", "1", "b-w", 1, False, 1),
        ("PNG", "I;16", "grey16", 1, False, 16),
        ("PNG", "P", "srgb", 3, False, 1),  # Pillow writes a one-colour palette at 1 bit
        ("JPEG", "RGB", "srgb", 3, False, 8),
        ("JPEG", "L", "b-w", 1, False, 8),
        ("JPEG", "CMYK", "cmyk", 4, False, 8),
        ("GIF", "P", "srgb", 3, False, 8),
        ("WEBP", "RGB", "srgb", 3, False, 8),
        ("WEBP", "RGBA", "srgb", 4, True, 8),
    ],
)
def test_colour_facts(
    make_image: Any, fmt: str, mode: str, space: str, channels: int, alpha: bool, bits: int
) -> None:
    metadata = extract_metadata(make_image(fmt, (9, 7), mode), store_gps=False)
    assert (metadata.width, metadata.height) == (9, 7)
    assert metadata.format is ImageFormat(fmt.lower())
    assert (metadata.space, metadata.channels, metadata.has_alpha) == (space, channels, alpha)
    assert metadata.bits_per_sample == bits
    assert metadata.frames == 1
    assert metadata.exif is None


def test_palette_with_transparency_has_alpha() -> None:
    image = Image.new("P", (4, 4), 3)
    buffer = io.BytesIO()
    image.save(buffer, "PNG", transparency=3)
    metadata = extract_metadata(buffer.getvalue(), store_gps=False)
    assert (metadata.has_alpha, metadata.channels) == (True, 4)


def test_icc_profile_presence() -> None:
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "JPEG", icc_profile=profile)
    assert extract_metadata(buffer.getvalue(), store_gps=False).has_icc_profile is True


def test_animation_frames(make_animation: Any) -> None:
    assert extract_metadata(make_animation("GIF", (8, 8), 5), store_gps=False).frames == 5
    assert extract_metadata(make_animation("PNG", (8, 8), 4), store_gps=False).frames == 4


# --- EXIF ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_camera_exif_summary(fmt: str, with_exif: Any, exif_block: Any) -> None:
    data = with_exif(fmt, (30, 20), exif_block(CAMERA_IFD0, CAMERA_EXIF))
    exif = extract_metadata(data, store_gps=False).exif
    assert exif is not None
    assert exif.make == "Canon"
    assert exif.model == "Canon EOS R5"
    assert exif.lens_model == "RF24-105mm F4 L IS USM"
    assert exif.exposure_time == pytest.approx(1 / 250)
    assert exif.f_number == pytest.approx(2.8)
    assert exif.iso == 400
    assert exif.focal_length == pytest.approx(50.0)
    assert exif.taken_at == "2024-05-06T07:08:09"  # DateTimeOriginal wins over DateTime
    assert exif.software == "Firmware 1.8.1"
    assert exif.gps is None


def test_taken_at_falls_back_to_datetime(with_exif: Any, exif_block: Any) -> None:
    data = with_exif("JPEG", (8, 8), exif_block(CAMERA_IFD0))
    assert extract_metadata(data, store_gps=False).exif.taken_at == "2024-05-06T10:00:00"


def test_gps_is_not_stored_by_default(with_exif: Any, exif_block: Any) -> None:
    data = with_exif("JPEG", (8, 8), exif_block(CAMERA_IFD0, CAMERA_EXIF, SYDNEY))
    metadata = extract_metadata(data, store_gps=False)
    assert metadata.exif is not None
    assert metadata.exif.gps is None
    assert "gps" not in str(metadata.to_json_dict()).lower()


def test_gps_is_stored_when_enabled(with_exif: Any, exif_block: Any) -> None:
    data = with_exif("JPEG", (8, 8), exif_block(CAMERA_IFD0, CAMERA_EXIF, SYDNEY))
    gps = extract_metadata(data, store_gps=True).exif.gps
    assert gps is not None
    assert gps.latitude == pytest.approx(-(33 + 51 / 60 + 30 / 3600))
    assert gps.longitude == pytest.approx(151 + 12 / 60 + 36 / 3600)
    assert gps.altitude == pytest.approx(-12.5)  # altitude reference 1: below sea level


def test_gps_out_of_range_is_dropped(with_exif: Any, exif_block: Any) -> None:
    bad = [(1, ASCII, "N"), (2, RATIONAL, [(95, 1), (0, 1), (0, 1)])]
    bad += [(3, ASCII, "E"), (4, RATIONAL, [(10, 1), (0, 1), (0, 1)])]
    data = with_exif("JPEG", (8, 8), exif_block(CAMERA_IFD0, None, bad))
    assert extract_metadata(data, store_gps=True).exif.gps is None


def test_hostile_strings_are_sanitised(with_exif: Any, exif_block: Any) -> None:
    ifd0 = [
        (0x010F, ASCII, "Ca\x00n\x07o\x1bn\u200b\x7f"),
        (0x0110, ASCII, "M" * 10_000),
        (0x0131, ASCII, "  \t\n  "),
    ]
    data = with_exif("JPEG", (8, 8), exif_block(ifd0))
    exif = extract_metadata(data, store_gps=False).exif
    assert exif is not None
    assert exif.make == "Canon"
    assert exif.model == "M" * MAX_TEXT_LENGTH
    assert exif.software is None


def test_zero_denominators_and_nonsense_numbers_are_ignored(
    with_exif: Any, exif_block: Any
) -> None:
    details = [
        (0x829A, RATIONAL, [(1, 0)]),
        (0x829D, RATIONAL, [(0, 0)]),
        (0x920A, RATIONAL, [(0, 1)]),
        (0x8827, SHORT, [0]),
        (0x9003, ASCII, "2024:13:45 99:99:99"),
    ]
    data = with_exif("JPEG", (8, 8), exif_block([(0x010F, ASCII, "Nikon")], details))
    exif = extract_metadata(data, store_gps=False).exif
    assert exif is not None
    assert exif.make == "Nikon"
    assert (exif.exposure_time, exif.f_number, exif.focal_length, exif.iso) == (None,) * 4
    assert exif.taken_at is None


@pytest.mark.parametrize(
    "orientation", [(SHORT, [0]), (SHORT, [9]), (SHORT, [65535]), (ASCII, "6"), (LONG, [6, 6])]
)
def test_invalid_orientation_is_one(with_exif: Any, exif_block: Any, orientation: Any) -> None:
    kind, value = orientation
    data = with_exif("JPEG", (30, 20), exif_block([(0x0112, kind, value)]))
    metadata = extract_metadata(data, store_gps=False)
    assert metadata.orientation in (1, 6)  # a list of 6s means 6; anything else means 1
    if kind == SHORT:
        assert metadata.orientation == 1
        assert (metadata.display_width, metadata.display_height) == (30, 20)


@pytest.mark.parametrize(
    "block",
    [
        b"Exif\x00\x00II*\x00\xff\xff\xff\x7f",  # IFD0 offset far past the end
        b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff",  # 65535 entries promised, none there
        b"Exif\x00\x00garbage that is not TIFF at all",
        b"Exif\x00\x00II*\x00\x08\x00\x00\x00\x01\x00\x69\x87\x04\x00\x01\x00\x00\x00"
        b"\xff\xff\xff\x00\x00\x00\x00\x00",  # Exif IFD pointer out of range
    ],
)
def test_malformed_exif_never_crashes(block: bytes) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (12, 10)).save(buffer, "JPEG", exif=block)
    metadata = extract_metadata(buffer.getvalue(), store_gps=True)
    assert (metadata.width, metadata.height, metadata.orientation) == (12, 10, 1)


def test_late_png_exif_is_read_without_decoding(
    late_exif_png: Any, exif_block: Any, decode_spy: list[str]
) -> None:
    png = io.BytesIO()
    Image.new("RGB", (40, 30)).save(png, "PNG")
    data = late_exif_png(png.getvalue(), exif_block([(0x0112, SHORT, [6]), (0x010F, ASCII, "X")]))
    with Image.open(io.BytesIO(data)) as probe:
        assert "exif" not in probe.info  # Pillow's open does not see it
    metadata = extract_metadata(data, store_gps=False)
    assert (metadata.orientation, metadata.display_width, metadata.display_height) == (6, 30, 40)
    assert metadata.exif is not None
    assert metadata.exif.make == "X"
    assert decode_spy == []


def test_clean_text_edge_cases() -> None:
    assert clean_text(b"Sony\x00\x00\x00") == "Sony"
    assert clean_text(b"\xff\xfeBad") == "\ufffd\ufffdBad"
    assert clean_text("Ã\x89cran") == "Écran"  # UTF-8 bytes Pillow read as Latin-1
    assert clean_text("Café") == "Café"  # real Latin-1 stays as it is
    assert clean_text(("Leica", "extra")) == "Leica"
    assert clean_text(42) is None
    assert clean_text("a\r\nb\tc") == "a b c"


@pytest.mark.parametrize("data", [b"", b"plain text", b"\x89PNG\r\n\x1a\n" + b"\x00" * 20])
def test_unreadable_input_is_a_permanent_error(data: bytes) -> None:
    with pytest.raises(PermanentError) as caught:
        extract_metadata(data, store_gps=False)
    assert caught.value.code == "UNREADABLE_IMAGE"
