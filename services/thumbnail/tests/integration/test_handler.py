"""The thumbnail handler on moto: object written, record updated, event and notification sent."""

from __future__ import annotations

import random
from typing import Any

from PIL import Image, ImageDraw, ImageStat

from qip_shared.duplicates import BAND_ATTRIBUTES, hash_bands
from qip_shared.enums import StageName
from qip_shared.keys import thumbnail_key
from qip_shared.pipeline import RenderRecord, ThumbnailOutput
from qip_shared.testing.image_stage import ImageStageHandlerChecks
from qip_thumbnail import handler
from qip_thumbnail.errors import RecordNotFoundError, UndecodableImageError


class TestThumbnailHandler(ImageStageHandlerChecks):
    """Any source becomes an exact 200x200 crop around its focal point, with render facts."""

    HANDLER = handler
    STAGE = StageName.THUMBNAIL
    OUTPUT = ThumbnailOutput
    OUTPUT_ATTR = "thumbnail_key"
    KEY_FIELD = "thumbnailKey"
    KEY_OF = staticmethod(thumbnail_key)
    SIZE = (200, 200)
    FUNCTION = "qip-thumbnail"
    CORE = "render_thumbnails"
    EXTRA_OUTPUT_FIELDS = frozenset({"render"})
    UNDECODABLE = UndecodableImageError
    RECORD_NOT_FOUND = RecordNotFoundError


def busy_corner_jpeg(images: Any) -> bytes:
    """A flat 1200x600 picture with a noisy 200x200 subject in its top-right corner."""
    rng = random.Random(3)
    picture = Image.new("RGB", (1200, 600), (128, 128, 128))
    draw = ImageDraw.Draw(picture)
    for y in range(20, 220, 10):
        for x in range(980, 1180, 10):
            draw.rectangle((x, y, x + 9, y + 9), (rng.randrange(256), 0, rng.randrange(256)))
    encoded: bytes = images.encode(picture, "JPEG", quality=92)
    return encoded


def test_render_facts_go_on_the_record_and_the_crop_follows_the_subject(
    account: Any, sample_state: dict[str, Any], invoke: Any, images: Any
) -> None:
    key = sample_state["imageKey"]
    account.put_upload(key, busy_corner_jpeg(images))
    account.seed_record(key)

    output = ThumbnailOutput.model_validate(invoke(sample_state))

    render = output.render
    assert render is not None
    assert 980 / 1200 <= render.focal_point.x <= 1180 / 1200
    assert 20 / 600 <= render.focal_point.y <= 220 / 600
    assert render.near_matchable
    record = account.record(key)
    assert record.render == RenderRecord(
        thumbhash=render.thumbhash,
        dominant_color=render.dominant_color,
        focal_point=render.focal_point,
        perceptual_hash=render.perceptual_hash,
    )
    item = account.dynamodb.get_item(TableName=account.settings().table_name, Key=record_key(key))
    assert tuple(item["Item"][band]["S"] for band in BAND_ATTRIBUTES) == hash_bands(
        render.perceptual_hash
    )
    # The 600x600 crop sits at the right edge: the whole subject (x 980..1180) is in it, so
    # its noisy columns show at the thumbnail's right and the flat grey at its left.
    thumb = images.assert_clean_jpeg(account.get_object(thumbnail_key(key))["data"])
    assert ImageStat.Stat(thumb.crop((0, 0, 100, 200))).stddev[0] < 8
    assert ImageStat.Stat(thumb.crop((134, 7, 193, 73))).stddev[0] > 30


def record_key(image_key: str) -> dict[str, Any]:
    return {"imageKey": {"S": image_key}}
