"""The input generator: deterministic, photo-like, the requested format and size, cached."""

from __future__ import annotations

import io

import imagegen
from PIL import Image


def test_same_seed_same_pixels_other_seed_other_pixels():
    first = imagegen.photo_like(96, 64, seed=3)
    assert first.size == (96, 64)
    assert first.mode == "RGB"
    assert first.tobytes() == imagegen.photo_like(96, 64, seed=3).tobytes()
    assert first.tobytes() != imagegen.photo_like(96, 64, seed=4).tobytes()


def test_jpeg_case_has_camera_exif_and_its_size(tmp_path):
    case = imagegen.make_case(tmp_path, "tiny", "JPEG", (160, 120), seed=1)
    assert case.path.suffix == ".jpg"
    with Image.open(case.path) as image:
        assert image.format == "JPEG"
        assert image.size == (160, 120)
        exif = image.getexif()
    assert exif[0x010F] == "QIP Bench"
    assert exif[0x0112] == 1
    assert exif.get_ifd(0x8769)[0x8827] >= 100
    assert case.to_json()["bytes"] == case.path.stat().st_size


def test_png_and_webp_cases_decode(tmp_path):
    for fmt in ("PNG", "WEBP"):
        case = imagegen.make_case(tmp_path, "tiny", fmt, (64, 48), seed=2)
        with Image.open(io.BytesIO(case.path.read_bytes())) as image:
            assert image.format == fmt
            assert image.size == (64, 48)


def test_heic_and_avif_cases_decode_with_their_exif(tmp_path):
    for fmt, suffix in (("HEIF", ".heic"), ("AVIF", ".avif")):
        case = imagegen.make_case(tmp_path, "tiny", fmt, (64, 48), seed=2)
        assert case.path.suffix == suffix
        with Image.open(io.BytesIO(case.path.read_bytes())) as image:
            assert image.format == fmt
            assert image.size == (64, 48)
            assert image.getexif()[0x010F] == "QIP Bench"


def test_cached_file_is_reused_not_rewritten(tmp_path):
    case = imagegen.make_case(tmp_path, "tiny", "JPEG", (64, 48), seed=5)
    stamp = case.path.stat().st_mtime_ns
    again = imagegen.make_case(tmp_path, "tiny", "JPEG", (64, 48), seed=5)
    assert again.path == case.path
    assert again.path.stat().st_mtime_ns == stamp
    assert not list(tmp_path.glob("*.part"))


def test_batch_files_are_distinct(tmp_path):
    cases = imagegen.batch(tmp_path, (48, 32), distinct=3)
    assert len({c.path for c in cases}) == 3
    assert len({c.path.read_bytes() for c in cases}) == 3


def test_generated_jpeg_compresses_like_a_photo(tmp_path):
    # A flat or pure-noise image would make every decode figure meaningless.
    case = imagegen.make_case(tmp_path, "photo", "JPEG", (640, 480), seed=7)
    bytes_per_pixel = case.bytes / (640 * 480)
    assert 0.1 < bytes_per_pixel < 1.5
