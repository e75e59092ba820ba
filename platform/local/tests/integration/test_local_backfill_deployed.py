"""`qip recipe set` and `qip backfill` with `--outputs FILE`: a "deployed stack" whose outputs file
names resources on the embedded AWS (a moto server reached through AWS_ENDPOINT_URL, with the
environment's credentials), run through the CLI as a user runs it. Nothing is synthesized."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from qip_local import cli
from qip_local.backfill import rerender_name
from qip_local.runtime import LocalConfig, LocalRuntime
from qip_pipeline import names
from qip_shared.recipe import DEFAULT_RECIPE, Recipe

REPO = Path(__file__).resolve().parents[4]
EXAMPLES = REPO / "examples"
# Not the default prefix, no state file, no --endpoint: only the outputs file names the system.
PREFIX = "qipstaging"
NEW_RECIPE = {
    "version": "2-webp",
    "variants": [
        {"name": "resized", "stage": "resize", "fit": "inside", "width": 640, "height": 480,
         "formats": ["jpeg", "webp"]},
        {"name": "thumbnail", "stage": "thumbnail", "fit": "cover", "width": 120, "height": 120,
         "formats": ["jpeg", "webp"]},
    ],
}  # fmt: skip


@pytest.fixture
def deployed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalRuntime]:
    """A system on a moto server; the CLI finds it only through the outputs file."""
    monkeypatch.setenv("QIP_STATE_FILE", str(tmp_path / "none.json"))
    monkeypatch.delenv("QIP_ENDPOINT", raising=False)
    with LocalRuntime(LocalConfig(prefix=PREFIX, retry_scale=0.01), server=True) as runtime:
        yield runtime


def write_outputs(runtime: LocalRuntime, path: Path, *, without: str | None = None) -> Path:
    """What `cdk deploy --outputs-file` writes: stack name -> the stack's CfnOutputs."""
    resources = runtime.resources
    assert resources is not None
    outputs = {
        names.OUTPUT_UPLOAD_API_URL: "https://abc.execute-api.us-east-1.amazonaws.com/v1/upload-url",
        names.OUTPUT_UPLOAD_BUCKET: resources.upload_bucket,
        names.OUTPUT_ARCHIVE_BUCKET: resources.archive_bucket,
        names.OUTPUT_TABLE: resources.table,
        names.OUTPUT_TOPIC: resources.topic_arn,
        names.OUTPUT_STATE_MACHINE: resources.state_machine_arn,
        names.OUTPUT_QUEUE_URL: resources.queue_url,
        names.OUTPUT_DLQ_URL: resources.dlq_url,
        names.OUTPUT_STAGES: ",".join(s.value for s in resources.stages),
        names.OUTPUT_RECIPE_PARAMETER: resources.recipe_parameter,
        "DashboardName": "QipStaging-dashboard",
    }
    outputs.pop(without or "", None)
    path.write_text(json.dumps({"QipStaging": outputs}, indent=2))
    return path


def qip(*args: str) -> Any:
    """The CLI in this process (the runtime set AWS_ENDPOINT_URL and the test credentials)."""
    return CliRunner().invoke(cli.app, list(args))


def last_json(result: Any) -> Any:
    """The command's JSON: its last line (in this process the handlers' metrics print too)."""
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    return json.loads(lines[-1])


def execution_names(runtime: LocalRuntime) -> list[str]:
    """Names of every execution of the state machine."""
    resources = runtime.resources
    assert resources is not None
    sfn = runtime.local_client().client("stepfunctions")
    pages = sfn.get_paginator("list_executions").paginate(
        stateMachineArn=resources.state_machine_arn
    )
    return [e["name"] for page in pages for e in page["executions"]]


def test_backfill_with_outputs_rerenders_exactly_the_stale_images_once(
    deployed: LocalRuntime, tmp_path: Path
) -> None:
    client = deployed.local_client()
    files = [
        str(EXAMPLES / "landscape-rotated.jpg"),
        str(EXAMPLES / "spinner.gif"),
        str(EXAMPLES / "logo-alpha.png"),
        str(EXAMPLES / "not-an-image.png"),  # REJECTED: not even examined
    ]
    outcomes = client.process(files, tmp_path / "before", timeout=120)
    assert [o.status for o in outcomes] == ["COMPLETED", "COMPLETED", "COMPLETED", "REJECTED"]
    stale_keys, fresh_key = [outcomes[0].image_key, outcomes[1].image_key], outcomes[2].image_key
    outputs = write_outputs(deployed, tmp_path / "staging-outputs.json")
    recipe_file = tmp_path / "webp.json"
    recipe_file.write_text(json.dumps(NEW_RECIPE))
    recipe = Recipe.model_validate(NEW_RECIPE)

    shown = qip("recipe", "show", "--outputs", str(outputs), "--json")
    assert shown.exit_code == 0, shown.output[-2000:]
    assert last_json_document(shown)["version"] == DEFAULT_RECIPE.version
    changed = qip("recipe", "set", str(recipe_file), "--outputs", str(outputs))
    assert changed.exit_code == 0, changed.output[-2000:]
    assert f"recipe {recipe.version} set (was {DEFAULT_RECIPE.version})" in changed.stdout
    assert f"run `qip backfill --outputs {outputs}`" in changed.stdout
    # One image already carries the new version (as if rendered after the change): not stale.
    client.client("dynamodb").update_item(
        TableName=client.resources.table,
        Key={"imageKey": {"S": fresh_key}},
        UpdateExpression="SET recipeVersion = :v",
        ExpressionAttributeValues={":v": {"S": recipe.version}},
    )
    before = execution_names(deployed)

    first = qip("backfill", "--outputs", str(outputs), "--json")
    assert first.exit_code == 0, first.output[-2000:]
    assert last_json(first) == {"examined": 3, "rerendered": 2, "failed": 0}

    # One execution per stale image (its first attempt's name), and nothing else started.
    records = {key: client.record(key) for key in stale_keys}
    started = [n for n in execution_names(deployed) if n not in before]
    expected = [rerender_name(r, recipe.version, 1) for r in records.values() if r is not None]
    assert sorted(started) == sorted(expected)
    for record in records.values():
        assert record is not None
        assert record.status.value == "COMPLETED"
        assert record.recipe_version == recipe.version
        variants = record.variants or []
        assert sorted((v.name, v.format.value) for v in variants) == sorted(
            (v.name, f.value) for v in recipe.variants for f in v.formats
        )
        assert {v.recipe_version for v in variants} == {recipe.version}
    untouched = client.record(fresh_key)
    assert untouched is not None
    assert {v.recipe_version for v in untouched.variants or []} == {DEFAULT_RECIPE.version}

    second = qip("backfill", "--outputs", str(outputs), "--json")
    assert second.exit_code == 0, second.output[-2000:]
    assert last_json(second) == {"examined": 3, "rerendered": 0, "failed": 0}
    assert [n for n in execution_names(deployed) if n not in before] == started


def last_json_document(result: Any) -> Any:
    """A pretty-printed JSON document at the end of the output."""
    text = result.stdout
    return json.loads(text[text.rindex("\n{") + 1 :] if "\n{" in text else text)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no outputs file"),
        ("{not json", "cannot read the outputs file"),
        ('["QipStaging"]', "is not a `cdk deploy --outputs-file` file"),
        (json.dumps({"Other": {"Url": "x"}}), "holds 0 QIP stacks"),
    ],
)
@pytest.mark.parametrize("command", [["backfill", "--json"], ["recipe", "show"]])
def test_a_missing_or_malformed_outputs_file_is_one_clear_line(
    tmp_path: Path, content: str | None, message: str, command: list[str]
) -> None:
    path = tmp_path / "outputs.json"
    if content is not None:
        path.write_text(content)
    result = qip(*command, "--outputs", str(path))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_an_outputs_file_without_the_recipe_parameter_is_one_clear_line(tmp_path: Path) -> None:
    # A stack without resize and thumbnail renders nothing: it has no recipe to backfill.
    outputs = {
        names.OUTPUT_UPLOAD_BUCKET: "u",
        names.OUTPUT_ARCHIVE_BUCKET: "a",
        names.OUTPUT_TABLE: "t",
        names.OUTPUT_TOPIC: "arn:aws:sns:eu-west-1:123456789012:topic",
        names.OUTPUT_STATE_MACHINE: "arn:aws:states:eu-west-1:123456789012:stateMachine:m",
        names.OUTPUT_QUEUE_URL: "https://sqs.eu-west-1.amazonaws.com/123456789012/q",
        names.OUTPUT_DLQ_URL: "https://sqs.eu-west-1.amazonaws.com/123456789012/d",
    }
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps({"QipValidateOnly": outputs}))
    recipe_file = tmp_path / "webp.json"
    recipe_file.write_text(json.dumps(NEW_RECIPE))
    for command in (["backfill"], ["recipe", "show"], ["recipe", "set", str(recipe_file)]):
        result = qip(*command, "--outputs", str(path))
        assert result.exit_code == 2, command
        assert f"lacks the outputs {names.OUTPUT_RECIPE_PARAMETER}" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
