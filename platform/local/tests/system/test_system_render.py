"""The render-ready record on the whole local system (issue 18): the six fields on every
completed image, the focal point and smart crop, the dominant colour, and duplicates (an exact
copy and a resized, re-encoded copy name the original; an unrelated photo names nothing)."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageStat

from qip_shared.enums import ImageStatus

SUBJECT = (980, 20, 1180, 220)  # a busy subject in the top-right corner of a 1200x600 picture


def encode(image: Image.Image, fmt: str, **params: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def busy_corner() -> Image.Image:
    rng = random.Random(5)
    picture = Image.new("RGB", (1200, 600), (120, 130, 140))
    draw = ImageDraw.Draw(picture)
    for y in range(SUBJECT[1], SUBJECT[3], 10):
        for x in range(SUBJECT[0], SUBJECT[2], 10):
            colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
            draw.rectangle((x, y, x + 9, y + 9), colour)
    return picture


def mostly_red() -> Image.Image:
    picture = Image.new("RGB", (640, 480), (210, 25, 30))
    ImageDraw.Draw(picture).ellipse((40, 40, 200, 200), fill=(250, 240, 230))
    return picture


def upload(client: Any, folder: Path, name: str, data: bytes) -> str:
    path = folder / name
    path.write_bytes(data)
    return str(client.upload_file(path))


def completion_messages(client: Any) -> dict[str, dict[str, Any]]:
    """The PROCESSING_COMPLETED notifications published so far, by image key."""
    found = {}
    for body in client.notifications():
        message = json.loads(body["Message"]) if isinstance(body.get("Message"), str) else body
        if message.get("eventType") == "PROCESSING_COMPLETED":
            found[message["imageKey"]] = message
    return found


def test_render_fields_smart_crop_and_duplicates(
    system: Any, corpus_dir: Path, tmp_path: Path
) -> None:
    client = system.client
    original_bytes = (corpus_dir / "concert.jpg").read_bytes()
    original = upload(client, tmp_path, "concert.jpg", original_bytes)
    corner = upload(client, tmp_path, "corner.png", encode(busy_corner(), "PNG"))
    red = upload(client, tmp_path, "red.jpg", encode(mostly_red(), "JPEG", quality=90))
    first = client.wait_for([original, corner, red], timeout=300)
    assert all(r is not None and r.status is ImageStatus.COMPLETED for r in first.values())

    # Later uploads: the same bytes, a resized and re-encoded copy, and an unrelated photo.
    with Image.open(io.BytesIO(original_bytes)) as opened:
        smaller = opened.convert("RGB").resize((opened.width // 2, opened.height // 2))
    exact = upload(client, tmp_path, "exact.jpg", original_bytes)
    resized = upload(client, tmp_path, "resized.webp", encode(smaller, "WEBP", quality=80))
    unrelated = upload(client, tmp_path, "4.webp", (corpus_dir / "4.webp").read_bytes())
    second = client.wait_for([exact, resized, unrelated], timeout=300)
    records = {**first, **second}

    for key, record in records.items():
        assert record is not None
        assert record.status is ImageStatus.COMPLETED, key
        render = record.render.to_public_dict()
        assert set(render) == {
            "thumbhash",
            "dominantColor",
            "focalPoint",
            "perceptualHash",
            "contentSha256",
            "duplicateOf",
        }
        assert all(render[field] is not None for field in set(render) - {"duplicateOf"}), key

    assert records[original].duplicate_of is None
    assert records[exact].duplicate_of == original
    assert records[exact].content_sha256 == records[original].content_sha256
    assert records[resized].duplicate_of == original
    assert records[unrelated].duplicate_of is None
    assert records[corner].duplicate_of is None
    assert records[red].duplicate_of is None

    # The subject is where the focal point is, and the 200x200 thumbnail shows it.
    focal = records[corner].focal_point
    assert focal is not None
    assert SUBJECT[0] / 1200 <= focal.x <= SUBJECT[2] / 1200
    assert SUBJECT[1] / 600 <= focal.y <= SUBJECT[3] / 600
    s3 = system.runtime.client("s3")
    bucket = client.resources.upload_bucket
    body = s3.get_object(Bucket=bucket, Key=records[corner].thumbnail_key)["Body"].read()
    with Image.open(io.BytesIO(body)) as thumbnail:
        # The 600x600 crop takes the right edge: subject (x 980..1180 -> 127..193) at the right.
        assert ImageStat.Stat(thumbnail.crop((134, 7, 193, 73))).stddev[0] > 30
        assert ImageStat.Stat(thumbnail.crop((0, 0, 100, 200))).stddev[0] < 8

    colour = records[red].dominant_color
    assert colour is not None
    red_level, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    assert red_level > 150 > max(green, blue) + 70

    # The completion notification carries the same render object.
    messages = completion_messages(client)
    assert messages[resized]["render"] == records[resized].render.model_dump(
        mode="json", by_alias=True, exclude_none=True
    )
    assert messages[resized]["render"]["duplicateOf"] == original
