"""Every file of the corpus (`corpus/manifest.json`) through the whole local
pipeline: its terminal status, reason code and output geometry are what the manifest says."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from PIL import Image

from qip_images_api.query import ImageQuery
from qip_local.client import UploadRefusedError, declared_content_type
from qip_shared.enums import ImageStatus

RESIZE_BOX = (1024, 768)


def honest_upload(client: Any, path: Path) -> str | UploadRefusedError:
    """Upload as a well-behaved client would; upload-url may refuse it at the door."""
    try:
        return str(client.upload_file(path))
    except UploadRefusedError as refused:
        return refused


def smuggled_upload(client: Any, path: Path) -> str:
    """Upload the bytes anyway, under a ticket for an accepted type (moto ignores POST
    policies), so the pipeline's own checks decide."""
    data = path.read_bytes()
    ticket = client.request_upload(
        content_type="image/png", size=max(1, len(data)), file_name=path.name
    )
    client.post_file(ticket, data, path.name)
    return str(ticket.image_key)


def test_every_corpus_file_ends_as_its_manifest_says(system: Any, corpus_dir: Path) -> None:
    manifest: dict[str, dict[str, Any]] = json.loads((corpus_dir / "manifest.json").read_text())
    client = system.client
    keys: dict[str, str] = {}
    refusals: dict[str, UploadRefusedError] = {}
    for name in sorted(manifest):
        answer = honest_upload(client, corpus_dir / name)
        if isinstance(answer, UploadRefusedError):
            refusals[name] = answer
            keys[name] = smuggled_upload(client, corpus_dir / name)
        else:
            keys[name] = answer

    records = client.wait_for(list(keys.values()), timeout=600)
    s3 = system.runtime.client("s3")
    mismatches = []
    for name, expected in sorted(manifest.items()):
        record = records[keys[name]]
        got = (
            record.status.value if record else None,
            record.rejection_reason.value if record and record.rejection_reason else None,
        )
        if got != (expected["status"], expected["reason"]):
            mismatches.append((name, got, (expected["status"], expected["reason"])))
            continue
        if expected["status"] != "COMPLETED":
            assert record.resized_key is None or not record.archived_location, name
            continue
        assert record.archived_location, name
        width, height = expected["displayed_size"]
        body = s3.get_object(Bucket=client.resources.upload_bucket, Key=record.resized_key)["Body"]
        with Image.open(io.BytesIO(body.read())) as resized:
            assert resized.format == "JPEG", name
            assert resized.width <= RESIZE_BOX[0], name
            assert resized.height <= RESIZE_BOX[1], name
            # Same aspect as the displayed (EXIF-oriented) original, to a pixel of rounding.
            assert abs(resized.width * height - resized.height * width) <= max(width, height), (
                name,
                resized.size,
                (width, height),
            )
        body = s3.get_object(Bucket=client.resources.upload_bucket, Key=record.thumbnail_key)[
            "Body"
        ]
        with Image.open(io.BytesIO(body.read())) as thumbnail:
            assert thumbnail.size == (200, 200), name
    assert mismatches == []

    # What upload-url refused at the door, it refused for the manifest's reason.
    for name, refused in refusals.items():
        assert manifest[name]["status"] == "REJECTED", name
        assert (
            declared_content_type(name) == "application/octet-stream"
            or (corpus_dir / name).stat().st_size == 0
        ), name
        assert refused.status in (400, 415), (name, refused.status)

    # Property 9: Query support by multiple fields
    images = ImageQuery(system.runtime.client("dynamodb"), client.resources.table)
    for status in (ImageStatus.COMPLETED, ImageStatus.REJECTED):
        listed = {r.image_key for page in images.pages_by_status(status) for r in page.records}
        expected_keys = {keys[n] for n, e in manifest.items() if e["status"] == status.value}
        assert listed == expected_keys, status
    everything = {r.image_key for page in images.pages_in_range() for r in page.records}
    assert everything == set(keys.values())
    for key in keys.values():
        assert images.get(key) == records[key]
