"""The `recipe` context of the CDK app: a file, the JSON itself, or the default."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qip_platform.app import recipe_from_context
from qip_shared.recipe import DEFAULT_RECIPE, Recipe

REPO = Path(__file__).resolve().parents[4]
ALL_FORMATS = REPO / "recipes" / "all-formats.json"


def test_absent_means_the_default_recipe() -> None:
    assert recipe_from_context(None) == DEFAULT_RECIPE
    assert recipe_from_context("") == DEFAULT_RECIPE


def test_a_file_the_json_text_or_the_object_give_the_same_recipe() -> None:
    expected = Recipe.from_json(ALL_FORMATS.read_text())
    assert recipe_from_context(str(ALL_FORMATS)) == expected
    assert recipe_from_context(ALL_FORMATS.read_text()) == expected
    assert recipe_from_context(json.loads(ALL_FORMATS.read_text())) == expected


def test_a_missing_or_invalid_recipe_fails_synth_with_a_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read the recipe file"):
        recipe_from_context(str(tmp_path / "none.json"))
    with pytest.raises(ValueError, match="variants"):
        recipe_from_context('{"version": "1", "variants": []}')
