"""extract_metadata on HEIC/HEIF/AVIF: size and orientation from the container, EXIF too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pillow_heif.as_plugin
import pytest
from PIL import AvifImagePlugin

from qip_metadata.core import extract_metadata
from qip_shared.enums import ImageFormat
from qip_shared.errors import PermanentError
from qip_shared.testing.images import encode, oriented, quadrant_image
from qip_shared.testing.isobmff import ftyp

UPRIGHT = (64, 48)


@pytest.fixture
def heif_decode_spy(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every pixel decode of the HEIF and AVIF plugins: metadata needs none."""
    calls: list[str] = []
    for cls in (pillow_heif.as_plugin._LibHeifImageFile, AvifImagePlugin.AvifImageFile):
        original = cls.__dict__["load"]

        def spy(self: Any, _original: Any = original, _name: str = cls.__name__) -> Any:
            calls.append(_name)
            return _original(self)

        monkeypatch.setattr(cls, "load", spy)
    return calls


def test_exif_is_read_from_a_heic(corpus_dir: Path, heif_decode_spy: list[str]) -> None:
    metadata = extract_metadata((corpus_dir / "L_exif_xmp_iptc.heic").read_bytes(), store_gps=False)
    assert metadata.format is ImageFormat.HEIC
    assert metadata.exif is not None
    assert (metadata.exif.make, metadata.exif.model) == ("SONY", "ILCE-7SM3")
    assert metadata.exif.taken_at == "2020-09-14T11:09:34"
    assert metadata.exif.iso == 80
    assert heif_decode_spy == []


def test_deep_alpha_and_multi_image_facts(corpus_dir: Path, heif_decode_spy: list[str]) -> None:
    ten_bit = extract_metadata((corpus_dir / "RGBA_10__128x128.heif").read_bytes(), store_gps=False)
    assert (ten_bit.bits_per_sample, ten_bit.has_alpha, ten_bit.channels) == (10, True, 4)
    assert ten_bit.space == "rgb16"
    pug = extract_metadata((corpus_dir / "zPug_3.heic").read_bytes(), store_gps=False)
    assert (pug.frames, pug.width, pug.height) == (3, 64, 64)
    avif = extract_metadata((corpus_dir / "concert.avif").read_bytes(), store_gps=False)
    assert (avif.format, avif.width, avif.height, avif.has_icc_profile) == (
        ImageFormat.AVIF,
        400,
        267,
        True,
    )
    assert heif_decode_spy == []


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_comes_from_irot_and_imir(
    fmt: str, orientation: int, heif_decode_spy: list[str]
) -> None:
    metadata = extract_metadata(
        oriented(quadrant_image(UPRIGHT), orientation, fmt), store_gps=False
    )
    assert metadata.orientation == orientation
    assert (metadata.display_width, metadata.display_height) == UPRIGHT
    stored = UPRIGHT[::-1] if orientation >= 5 else UPRIGHT
    assert (metadata.width, metadata.height) == stored
    assert heif_decode_spy == []


def test_a_heic_exif_orientation_without_irot_is_not_the_orientation() -> None:
    data = oriented(quadrant_image(UPRIGHT), 6, "HEIF")  # EXIF 6 and irot 3
    at = data.index(b"irot")
    data = data[: at + 4] + b"\x00" + data[at + 5 :]  # irot 0: only the EXIF tag says 6
    metadata = extract_metadata(data, store_gps=False)
    assert metadata.orientation == 1
    assert (metadata.display_width, metadata.display_height) == (48, 64)


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_gps_from_a_container_only_when_asked(fmt: str) -> None:
    data = oriented(quadrant_image(UPRIGHT), 1, fmt)  # EXIF with make and a GPS block
    kept = extract_metadata(data, store_gps=True).exif
    assert kept is not None
    assert kept.gps is not None
    assert round(kept.gps.latitude, 3) == 52.367
    dropped = extract_metadata(data, store_gps=False).exif
    assert dropped is not None
    assert dropped.make == "QIP test camera"
    assert dropped.gps is None


def test_a_heic_with_a_clean_aperture_reports_the_shown_picture() -> None:
    # pillow-heif codes 64x48 as 64x64 cropped back by clap: the picture is 64x48.
    metadata = extract_metadata(encode(quadrant_image(UPRIGHT), "HEIF"), store_gps=False)
    assert (metadata.width, metadata.height) == UPRIGHT


def test_an_unreadable_container_is_a_permanent_error() -> None:
    with pytest.raises(PermanentError) as caught:
        extract_metadata(ftyp(b"heic", b"mif1") + b"\0" * 32, store_gps=False)
    assert caught.value.code == "UNREADABLE_IMAGE"
