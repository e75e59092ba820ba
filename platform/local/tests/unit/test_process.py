"""LocalClient.process: a few uploads at a time, outcomes in order, outputs as images settle."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qip_local.client import LocalClient, Outcome
from qip_shared.enums import ImageStatus
from qip_shared.record import ImageRecord


def _record(key: str, status: ImageStatus) -> ImageRecord:
    return ImageRecord.model_validate(
        {
            "imageKey": key,
            "uploadTimestamp": "2026-12-06T05:00:00.000Z",
            "size": 10,
            "contentType": "image/jpeg",
            "status": status.value,
        }
    )


class ScriptedClient(LocalClient):
    """Uploads that take a while (the later files quicker), records that complete at once."""

    def __init__(self) -> None:
        super().__init__(None, None)  # type: ignore[arg-type] - no AWS behind it
        self.lock = threading.Lock()
        self.in_flight = 0
        self.most_in_flight = 0
        self.copied: list[tuple[str, Path]] = []
        self.first_copy = threading.Event()
        self.last_file: str | None = None
        self.copied_before_last_upload = False

    def _upload_one(self, name: str) -> Outcome:
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        time.sleep(0.05 if name.endswith("0.jpg") else 0.01)
        if name == self.last_file:
            self.copied_before_last_upload = self.first_copy.wait(10)
        with self.lock:
            self.in_flight -= 1
        if name.endswith(".svg"):
            return Outcome(name, None, ImageStatus.REJECTED.value, "UNSUPPORTED_FORMAT")
        return Outcome(name, f"uploads/{name}", ImageStatus.UPLOADED.value)

    def statuses(self, image_keys: Sequence[str]) -> dict[str, str | None]:
        return dict.fromkeys(image_keys, ImageStatus.COMPLETED.value)

    def records(self, image_keys: Sequence[str]) -> dict[str, ImageRecord | None]:
        return {k: _record(k, ImageStatus.COMPLETED) for k in image_keys}

    def is_settled(self, record: ImageRecord | None) -> bool:
        return record is not None

    def download_outputs(self, record: ImageRecord, directory: Path) -> dict[str, Any] | None:
        with self.lock:
            self.copied.append((record.image_key, directory))
        self.first_copy.set()
        return {"resized": str(directory / "resized.jpg")}


def test_process_uploads_a_few_at_a_time_and_keeps_the_file_order(tmp_path: Path) -> None:
    files = [f"in/{i}/photo{i % 2}.jpg" for i in range(8)] + ["in/x/drawing.svg"]
    client = ScriptedClient()
    outcomes = client.process(files, tmp_path, timeout=30, upload_concurrency=3)
    assert client.most_in_flight == 3
    assert [o.file for o in outcomes] == files
    assert [o.status for o in outcomes] == ["COMPLETED"] * 8 + ["REJECTED"]
    assert all(o.seconds > 0 for o in outcomes[:8])
    assert outcomes[-1].seconds == 0.0  # refused at upload: never watched


def test_outputs_are_copied_as_each_image_settles_into_its_files_folder(tmp_path: Path) -> None:
    files = ["a/photo.jpg", "b/photo.jpg", "c/other.jpg", "d/photo.jpg"]
    client = ScriptedClient()
    client.last_file = files[-1]
    outcomes = client.process(files, tmp_path, timeout=30, upload_concurrency=1)
    assert client.copied_before_last_upload  # not all at the end
    folders = {key: directory.name for key, directory in client.copied}
    assert folders == {
        "uploads/a/photo.jpg": "photo.jpg",
        "uploads/b/photo.jpg": "photo.jpg-2",
        "uploads/c/other.jpg": "other.jpg",
        "uploads/d/photo.jpg": "photo.jpg-3",
    }
    assert len(client.copied) == len(files)  # once each, not again at the end
    for outcome in outcomes:
        assert outcome.outputs is not None
        assert (Path(outcome.outputs["resized"]).parent / "record.json").is_file()
