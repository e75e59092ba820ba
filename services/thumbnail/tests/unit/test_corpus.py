"""Every COMPLETED file of the corpus gives a clean 200x200 JPEG thumbnail."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qip_thumbnail.core import make_thumbnail


def test_every_completed_corpus_file_gives_a_200x200_thumbnail(
    corpus_dir: Path, manifest: dict[str, dict[str, Any]], images: Any
) -> None:
    completed = sorted(name for name, entry in manifest.items() if entry["status"] == "COMPLETED")
    assert completed, "the manifest lists no COMPLETED file"
    for name in completed:
        result = make_thumbnail((corpus_dir / name).read_bytes())
        image = images.assert_clean_jpeg(result.data)
        assert image.size == (result.width, result.height) == (200, 200), name
