"""Recipes on the local system: every variant to size with its lineage, `qip recipe`, backfill."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from typer.testing import CliRunner

from qip_local import cli
from qip_local.runtime import LocalConfig, LocalRuntime
from qip_shared.recipe import Recipe

REPO = Path(__file__).resolve().parents[4]
EXAMPLES = REPO / "examples"
ALL_FORMATS = REPO / "recipes" / "all-formats.json"
PIL_FORMATS = {"jpeg": "JPEG", "webp": "WEBP", "avif": "AVIF"}
PREFIX = "qiprecipes"
VARIANT_KEYS = {
    "name",
    "format",
    "width",
    "height",
    "path",
    "bytes",
    "recipeVersion",
    "sourceSha256",
}


def assert_variants_to_size(outcome: dict[str, Any], recipe: Recipe) -> None:
    """Every variant of the recipe, in every format, on disk, to size, with its lineage."""
    source = Path(outcome["file"]).read_bytes()
    variants = outcome["outputs"]["variants"]
    expected = [(v.name, f.value) for v in recipe.variants for f in v.formats]
    assert [(v["name"], v["format"]) for v in variants] == expected
    specs = {v.name: v for v in recipe.variants}
    for variant in variants:
        assert set(variant) == VARIANT_KEYS
        assert variant["recipeVersion"] == recipe.version
        assert variant["sourceSha256"] == hashlib.sha256(source).hexdigest()
        path = Path(variant["path"])
        assert path.stat().st_size == variant["bytes"]
        with Image.open(path) as image:
            assert image.format == PIL_FORMATS[variant["format"]]
            assert image.size == (variant["width"], variant["height"])
        spec = specs[variant["name"]]
        if spec.fit.value == "cover":
            assert (variant["width"], variant["height"]) == spec.box
        else:
            assert variant["width"] <= spec.width
            assert variant["height"] <= spec.height
            assert (
                spec.width in (variant["width"], None)
                or spec.height == variant["height"]
                or (variant["width"] < spec.width and variant["height"] < spec.height)
            )
    # The classic outputs stay: the first JPEG of each stage.
    assert Path(outcome["outputs"]["resized"]).name == "resized.jpg"
    assert Path(outcome["outputs"]["thumbnail"]).name == "thumbnail.jpg"


def test_process_with_a_recipe_writes_every_variant_with_its_lineage(tmp_path: Path) -> None:
    recipe = Recipe.from_json(ALL_FORMATS.read_text())
    files = [str(EXAMPLES / "landscape-rotated.jpg"), str(EXAMPLES / "logo-alpha.png")]
    result = CliRunner().invoke(
        cli.app,
        [
            "process",
            *files,
            "--json",
            "--recipe",
            str(ALL_FORMATS),
            "--retry-scale",
            "0.01",
            "--out",
            str(tmp_path / "out"),
        ],
    )
    assert result.exit_code == 0, result.output[-2000:]
    outcomes = json.loads(result.stdout)
    assert [o["status"] for o in outcomes] == ["COMPLETED", "COMPLETED"]
    for outcome in outcomes:
        assert_variants_to_size(outcome, recipe)
    rotated = {v["name"] + v["format"]: v for v in outcomes[0]["outputs"]["variants"]}
    # Stored 1600x1200 with EXIF orientation 6: every display variant is a 576x768 portrait.
    assert {(v["width"], v["height"]) for k, v in rotated.items() if "resized" in k} == {(576, 768)}


def test_a_bad_recipe_file_is_one_clear_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"version": "x", "variants": []}))
    result = CliRunner().invoke(
        cli.app, ["process", str(EXAMPLES / "spinner.gif"), "--recipe", str(bad)]
    )
    assert result.exit_code == 2
    assert "is not a valid recipe" in result.output
    assert "Traceback" not in result.output


@pytest.fixture
def running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalRuntime]:
    """A `qip serve`-like system (moto server) with the default recipe."""
    monkeypatch.setenv("QIP_STATE_FILE", str(tmp_path / "none.json"))
    # moto's backends outlive a runtime in this process: a prefix of its own avoids clashes.
    config = LocalConfig(prefix=PREFIX, retry_scale=0.01)
    with LocalRuntime(config, server=True) as runtime:
        yield runtime


def last_json(result: Any) -> Any:
    """The command's JSON: its last line (in this process the handlers' metrics print too)."""
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    start = max(i for i, line in enumerate(lines) if not line.startswith((" ", "}", "]")))
    return json.loads("\n".join(lines[start:]))


def qip(runtime: LocalRuntime, *args: str) -> Any:
    assert runtime.endpoint_url is not None
    command = [*args, "--endpoint", runtime.endpoint_url, "--prefix", PREFIX]
    result = CliRunner().invoke(cli.app, command)
    assert result.exit_code == 0, result.output[-2000:]
    return result


def test_recipe_set_then_backfill_rerenders_exactly_the_stale_images_once(
    running: LocalRuntime, tmp_path: Path
) -> None:
    client = running.local_client()
    files = [
        str(EXAMPLES / "landscape-rotated.jpg"),
        str(EXAMPLES / "spinner.gif"),
        str(EXAMPLES / "not-an-image.png"),  # REJECTED: never examined
    ]
    outcomes = client.process(files, tmp_path / "before", timeout=120)
    assert [o.status for o in outcomes] == ["COMPLETED", "COMPLETED", "REJECTED"]
    completed = [o.image_key for o in outcomes if o.status == "COMPLETED"]

    shown = last_json(qip(running, "recipe", "show", "--json"))
    assert shown["version"] == "1"
    assert (
        "recipe 2-all-formats set (was 1)" in qip(running, "recipe", "set", str(ALL_FORMATS)).stdout
    )
    assert last_json(qip(running, "recipe", "show", "--json"))["version"] == "2-all-formats"

    first = last_json(qip(running, "backfill", "--json"))
    assert first == {"examined": 2, "rerendered": 2, "failed": 0}

    recipe = Recipe.from_json(ALL_FORMATS.read_text())
    for key in completed:
        status = last_json(qip(running, "status", key, "--json"))
        assert status["status"] == "COMPLETED"
        assert status["recipeVersion"] == recipe.version
        variants = status["variants"]
        assert len(variants) == 6
        assert {v["recipeVersion"] for v in variants} == {recipe.version}
        s3 = client.client("s3")
        for variant in variants:
            body = s3.get_object(Bucket=client.resources.upload_bucket, Key=variant["key"])
            with Image.open(body["Body"]) as image:
                assert image.format == PIL_FORMATS[variant["format"]]
                assert image.size == (variant["width"], variant["height"])
        archived = s3.list_objects_v2(
            Bucket=client.resources.archive_bucket,
            Prefix=status["archivedLocation"].split("/", 3)[3],
        )
        names = sorted(o["Key"].rsplit("/", 1)[1] for o in archived["Contents"])
        assert [n for n in names if not n.startswith("original")] == sorted(
            f"{v}.{e}" for v in ("resized", "thumbnail") for e in ("jpg", "webp", "avif")
        )

    # Run again: nothing is stale, nothing is re-rendered.
    second = last_json(qip(running, "backfill", "--json"))
    assert second == {"examined": 2, "rerendered": 0, "failed": 0}
    human = qip(running, "backfill").stdout
    assert "examined 2 completed image(s): 0 re-rendered, 0 failed" in human
