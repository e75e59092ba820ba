"""Every COMPLETED file of the corpus resizes to a clean JPEG with its displayed aspect."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qip_resize.core import resize_image

BOX = (1024, 768)


def test_every_completed_corpus_file_resizes(
    corpus_dir: Path, manifest: dict[str, dict[str, Any]], images: Any
) -> None:
    completed = {name: entry for name, entry in manifest.items() if entry["status"] == "COMPLETED"}
    assert completed, "the manifest lists no COMPLETED file"
    for name, entry in sorted(completed.items()):
        shown_width, shown_height = entry["displayed_size"]
        result = resize_image((corpus_dir / name).read_bytes())
        image = images.assert_clean_jpeg(result.data)
        assert image.size == (result.width, result.height), name
        # Fits the box, never larger than the displayed picture.
        assert result.width <= min(BOX[0], shown_width), name
        assert result.height <= min(BOX[1], shown_height), name
        # The displayed aspect, within a pixel of rounding on the shorter side.
        scale = min(BOX[0] / shown_width, BOX[1] / shown_height, 1.0)
        assert abs(result.width - shown_width * scale) <= 1, (name, result.width)
        assert abs(result.height - shown_height * scale) <= 1, (name, result.height)
