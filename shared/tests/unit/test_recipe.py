"""Unit tests of the recipe contract, the variant keys and the lineage fields."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from pydantic import ValidationError

from qip_shared import keys
from qip_shared.enums import ImageStatus, StageName
from qip_shared.pipeline import PipelineState, RenderedVariant
from qip_shared.recipe import DEFAULT_RECIPE, Fit, OutputFormat, Recipe
from qip_shared.record import ImageRecord

KEY = "uploads/2025/11/30/3f1c2a4e-5b6d-4e7f-8a9b-0c1d2e3f4a5b.jpg"
IMAGE_ID = "3f1c2a4e-5b6d-4e7f-8a9b-0c1d2e3f4a5b"
SHA = "ab" * 32


def variant(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "name": "display",
        "stage": "resize",
        "fit": "inside",
        "width": 1024,
        "height": 768,
        "formats": ["jpeg"],
    }
    values.update(overrides)
    return values


def recipe(*variants: dict[str, Any], version: str = "2") -> dict[str, Any]:
    thumb = variant(name="thumb", stage="thumbnail", fit="cover", width=200, height=200)
    return {"version": version, "variants": list(variants) or [variant(), thumb]}


def test_default_recipe_is_the_designs_two_jpegs_under_todays_keys() -> None:
    (resized,) = DEFAULT_RECIPE.for_stage(StageName.RESIZE)
    (thumb,) = DEFAULT_RECIPE.for_stage(StageName.THUMBNAIL)
    assert (resized.fit, resized.box, resized.formats) == (Fit.INSIDE, (1024, 768), ("jpeg",))
    assert (thumb.fit, thumb.box, thumb.formats) == (Fit.COVER, (200, 200), ("jpeg",))
    assert keys.variant_key(KEY, resized.name, OutputFormat.JPEG) == keys.resized_key(KEY)
    assert keys.variant_key(KEY, thumb.name, OutputFormat.JPEG) == keys.thumbnail_key(KEY)


def test_recipe_parses_the_documented_json_and_round_trips() -> None:
    text = json.dumps(
        recipe(
            variant(formats=["jpeg", "webp", "avif"]),
            variant(name="thumb", stage="thumbnail", fit="cover", width=96, height=96),
        )
    )
    parsed = Recipe.from_json(text)
    assert parsed.version == "2"
    assert parsed.variants[0].formats == (OutputFormat.JPEG, OutputFormat.WEBP, OutputFormat.AVIF)
    assert Recipe.from_json(parsed.to_json()) == parsed


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (recipe(variant(), variant()), "unique"),
        (recipe(variant(width=0)), "greater than or equal to 1"),
        (recipe(variant(height=5000)), "less than or equal to 4096"),
        (recipe(variant(formats=[])), "at least 1"),
        (recipe(variant(formats=["jpeg", "jpeg"])), "twice"),
        (recipe(variant(formats=["gif"])), "jpeg"),
        (recipe(variant(stage="archive")), "resize or thumbnail"),
        (recipe(variant(fit="fill")), "inside"),
        (recipe(variant(name="../x")), "pattern"),
        (recipe(variant()), "no variant for stage thumbnail"),
        (recipe(version="v 1"), "pattern"),
        ({"version": "1", "variants": [variant()], "extra": 1}, "Extra inputs"),
    ],
)
def test_recipe_refuses_what_cannot_be_rendered(document: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Recipe.model_validate(document)


def test_variant_keys_share_one_layout_under_processed_and_archive() -> None:
    assert (
        keys.variant_key(KEY, "display", OutputFormat.AVIF) == f"processed/{IMAGE_ID}/display.avif"
    )
    archived = keys.archive_variant_key(
        KEY, "2025-11-30T12:00:00.000Z", "display", OutputFormat.WEBP
    )
    assert archived == f"archive/2025/11/30/{IMAGE_ID}/display.webp"


def rendered(name: str, fmt: OutputFormat) -> RenderedVariant:
    return RenderedVariant(
        name=name,
        format=fmt,
        width=10,
        height=8,
        key=keys.variant_key(KEY, name, fmt),
        bytes=123,
        recipe_version="2",
        source_sha256=SHA,
        decoder="Pillow 13.0.0; libjpeg-turbo 3.1",
        encoder="Pillow 13.0.0; libavif 1.4.2",
    )


def test_record_keeps_variants_and_recipe_version_through_dynamodb() -> None:
    record = ImageRecord(
        image_key=KEY,
        upload_timestamp="2025-11-30T12:00:00.000Z",
        size=10,
        content_type="image/jpeg",
        status=ImageStatus.COMPLETED,
        recipe_version="2",
        variants=[rendered("display", OutputFormat.AVIF)],
    )
    item = record.to_item()
    assert item["recipeVersion"] == {"S": "2"}
    lineage = item["variants"]["L"][0]["M"]
    assert lineage["sourceSha256"] == {"S": SHA}
    assert lineage["format"] == {"S": "avif"}
    assert ImageRecord.from_item(item) == record


def test_pipeline_state_collects_the_variants_of_both_output_stages() -> None:
    base = {"imageKey": KEY, "bucket": "b", "uploadTimestamp": "t", "contentType": "c", "size": 1}
    resize = {
        "imageKey": KEY,
        "resizedKey": "r",
        "width": 1,
        "height": 1,
        "bytes": 1,
        "variants": [rendered("display", OutputFormat.WEBP).to_json_dict()],
    }
    thumb = {
        "imageKey": KEY,
        "thumbnailKey": "t",
        "width": 1,
        "height": 1,
        "bytes": 1,
        "variants": [rendered("thumb", OutputFormat.JPEG).to_json_dict()],
    }
    state = PipelineState.model_validate({**base, "processed": [thumb, resize]})
    assert [v.name for v in state.variants] == ["display", "thumb"]
    with pytest.raises(ValidationError):
        RenderedVariant.model_validate(
            {**rendered("x", OutputFormat.JPEG).to_json_dict(), "sourceSha256": "nothex"}
        )


def test_source_sha256_is_validates_hash_when_the_state_carries_it() -> None:
    base = {"imageKey": KEY, "bucket": "b", "uploadTimestamp": "t", "contentType": "c", "size": 1}
    validation = {"imageKey": KEY, "bucket": "b", "valid": True, "format": "jpeg"}
    carried = PipelineState.model_validate(
        {**base, "validation": {**validation, "width": 1, "height": 1, "contentSha256": SHA}}
    )
    assert carried.source_sha256(b"other bytes") == SHA
    older = PipelineState.model_validate(base)
    assert older.source_sha256(b"abc") == hashlib.sha256(b"abc").hexdigest()
