"""Privacy (issue 8): outputs carry no EXIF or GPS (every COMPLETED corpus file and a photo with
GPS, through the whole pipeline), records hold no GPS by default, and `qip delete KEY` removes
an image's upload, processed and archived objects (every version) and its record.

GPS kept when `QIP_STORE_GPS` is enabled is metadata's property test
(`services/metadata/tests/property/`), not repeated here.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from typer.testing import CliRunner

from qip_local.cli import app
from qip_shared.enums import ImageStatus
from qip_shared.keys import archive_prefix, processed_prefix

# The real `qip delete` talks to an endpoint: run the embedded AWS as a server.
SERVER_MODE = True
EXIF_MARKERS = (b"Exif\x00\x00", b"http://ns.adobe.com/xap/1.0/")
GPS_IFD = 0x8825


@pytest.fixture(scope="module")
def processed(system: Any, corpus_dir: Path, encode_image: Callable[..., bytes]) -> dict[str, Any]:
    """Every COMPLETED corpus file and a generated photo with GPS, through the pipeline."""
    manifest = json.loads((corpus_dir / "manifest.json").read_text())
    names = sorted(n for n, e in manifest.items() if e["status"] == "COMPLETED")
    client = system.client
    keys = {client.upload_file(corpus_dir / name): name for name in names}
    gps_photo = encode_image((120, 90), "JPEG", seed=11, gps=True)
    with Image.open(io.BytesIO(gps_photo)) as original:
        assert original.getexif().get_ifd(GPS_IFD), "the test photo must carry GPS"
    keys[client.upload_bytes(gps_photo, file_name="photo.jpg")] = "photo.jpg (generated, GPS)"
    records = client.wait_for(list(keys), timeout=180)
    return {"keys": keys, "records": records}


def test_outputs_carry_no_exif_or_gps(system: Any, processed: dict[str, Any]) -> None:
    s3 = system.aws("s3")
    bucket = system.client.resources.upload_bucket
    checked = 0
    for key, name in processed["keys"].items():
        record = processed["records"][key]
        assert record is not None
        assert record.status is ImageStatus.COMPLETED, name
        for output in (record.resized_key, record.thumbnail_key):
            data = s3.get_object(Bucket=bucket, Key=output)["Body"].read()
            assert not any(marker in data for marker in EXIF_MARKERS), (name, output)
            with Image.open(io.BytesIO(data)) as image:
                assert len(image.getexif()) == 0, (name, output)
                assert "exif" not in image.info, (name, output)
                assert not image.getexif().get_ifd(GPS_IFD), (name, output)
            checked += 1
    assert checked == 2 * len(processed["keys"])


def test_records_hold_no_gps_by_default(system: Any, processed: dict[str, Any]) -> None:
    for key, name in processed["keys"].items():
        item = system.client.record_item(key)
        assert item is not None
        text = json.dumps(item).lower()
        for word in ("gps", "latitude", "longitude"):
            assert word not in text, (name, word)


def test_qip_delete_removes_upload_processed_archive_and_record(
    system: Any, processed: dict[str, Any], kit: Any, report: Any
) -> None:
    client = system.client
    resources = client.resources
    victim, bystander = list(processed["keys"])[:2]
    record = processed["records"][victim]
    s3 = system.aws("s3")

    def versions(bucket: str, prefix: str) -> list[str]:
        listed = s3.list_object_versions(Bucket=bucket, Prefix=prefix)
        return [v["Key"] for v in [*listed.get("Versions", []), *listed.get("DeleteMarkers", [])]]

    places = {
        "upload": (resources.upload_bucket, victim),
        "processed": (resources.upload_bucket, processed_prefix(victim)),
        "archive": (
            resources.archive_bucket,
            archive_prefix(victim, record.upload_timestamp),
        ),
    }
    for where, (bucket, prefix) in places.items():
        assert versions(bucket, prefix), f"nothing to delete in {where}"
    answer = CliRunner().invoke(app, ["delete", victim, "--endpoint", system.runtime.endpoint_url])
    assert answer.exit_code == 0, answer.output
    assert f"dynamodb://{resources.table}/{victim}" in answer.output
    for where, (bucket, prefix) in places.items():
        assert versions(bucket, prefix) == [], where
    assert client.record(victim) is None
    # Only that image: its neighbour keeps everything.
    assert client.record(bystander) is not None
    assert versions(resources.upload_bucket, processed_prefix(bystander))
    removed = [line for line in answer.output.splitlines() if line.startswith("removed ")]
    names = processed["keys"]
    report.add(
        "privacy",
        f"""
## Privacy

{len(names)} images through the pipeline: every COMPLETED corpus file and a generated JPEG with
EXIF (Make, DateTime) and a GPS position. {2 * len(names)} outputs (resized and thumbnail)
checked: no EXIF/XMP segment in the bytes, no EXIF and no GPS IFD when opened. The records
hold no `gps`, `latitude` or `longitude` (GPS is stored only when `QIP_STORE_GPS` is enabled;
that is metadata's property test).

`qip delete KEY` (the real command, against the embedded AWS as a server) removed
{len(removed)} things for one image: every version of its upload, of its `processed/{{id}}/`
objects and of its archived copies, and its record; its neighbour was untouched.
""",
    )
