"""docs/licences.md describes the pillow-heif wheel the `pillow` layer ships (pinned by uv.lock)."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import pillow_heif

from qip_platform.layers import LAYERS, requirements

REPO = Path(__file__).resolve().parents[4]
NOTE = REPO / "docs" / "licences.md"


def _bundled() -> dict[str, tuple[str, str]]:
    """Library -> (licence, version) as the installed wheel's LICENSES_bundled.txt lists them."""
    text = metadata.distribution("pillow-heif").read_text("licenses/LICENSES_bundled.txt")
    assert text, "pillow-heif ships no LICENSES_bundled.txt"
    found: dict[str, tuple[str, str]] = {}
    for block in text.split("\n\n"):
        name = re.search(r"^Name: (.+)$", block, flags=re.MULTILINE)
        licence = re.search(r"^License: (.+)$", block, flags=re.MULTILINE)
        version = re.search(r"/tree/v?([0-9][0-9.]*)\b", block)
        if name and licence and version:
            found[name.group(1).strip()] = (licence.group(1).strip(), version.group(1))
    return found


def test_the_note_is_about_the_pillow_heif_the_layer_pins() -> None:
    assert "pillow-heif" in LAYERS["pillow"]
    assert f"pillow-heif=={pillow_heif.__version__}" in requirements("pillow")
    assert f"pillow-heif {pillow_heif.__version__}" in NOTE.read_text()


def test_the_note_names_every_bundled_library_with_its_licence_and_version() -> None:
    bundled = _bundled()
    assert set(bundled) >= {"libheif", "libde265", "x265"}
    note = NOTE.read_text()
    for name, (licence, version) in bundled.items():
        assert f"{name} {version}" in note, name
        assert licence in note, (name, licence)


def test_the_wheel_still_carries_the_x265_encoder_the_note_warns_about() -> None:
    # When a release drops it (or QIP moves to pi-heif), the note must change with it.
    assert "x265" in pillow_heif.libheif_info()["encoders"]
    assert str(pillow_heif.libheif_version()) in NOTE.read_text()
