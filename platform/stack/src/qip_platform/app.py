"""The CDK app: `cdk synth` (via cdk.json) or `python -m qip_platform.app`, no AWS account needed.

Context (cdk.json defaults, override with `-c key=value`, also accepted by this module directly):
`stages` (comma list), `workflow` (EXPRESS|STANDARD), `architecture` (arm64|x86_64),
`stackName` (QipStack), `deleteUpload`, `storeGps` (true|false), `recordTtlDays`, `corsOrigins`
(browser origins, comma list; default none), `alarmEmails` and `alarmUrls` (comma lists: who
the alarm topic reaches), `nag` (true: run cdk-nag AwsSolutions at synth; findings fail it),
`recipe` (a recipe JSON file, or the recipe itself; default: the design's two JPEGs).
Layers are built into `platform/build/layers` on first synth (see `layers.py`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aws_cdk import App, Environment, Validations
from cdk_nag import AwsSolutionsChecks

from qip_pipeline.definition import parse_stages
from qip_platform.bytecode import LambdaPythonMissingError
from qip_platform.layers import LayerBuildError, LayerDirs, ensure_layers, repo_root
from qip_platform.stack import QipStack, StackSettings
from qip_shared.recipe import DEFAULT_RECIPE, Recipe

PLATFORM_DIR = Path(__file__).resolve().parents[2]


def file_context(cdk_json: Path | None = None) -> dict[str, Any]:
    """The `context` of platform/cdk.json (feature flags + defaults), as the CLI would read it."""
    path = cdk_json or PLATFORM_DIR / "cdk.json"
    return dict(json.loads(path.read_text()).get("context", {}))


def _flag(value: Any) -> bool:
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


def _list(value: Any) -> list[str]:
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return [part for part in str(value).split(",") if part.strip()]


def settings_from_context(app: App) -> StackSettings:
    """Deployment settings from the app's context."""
    get = app.node.try_get_context
    ttl = get("recordTtlDays")
    origins = get("corsOrigins")
    return StackSettings(
        store_gps=_flag(get("storeGps") or False),
        delete_upload=_flag(get("deleteUpload") or False),
        record_ttl_days=int(ttl) if ttl not in (None, "") else None,
        cors_origins=tuple(_list(origins)) if origins else (),
        alarm_emails=tuple(_list(get("alarmEmails") or "")),
        alarm_urls=tuple(_list(get("alarmUrls") or "")),
        recipe=recipe_from_context(get("recipe")),
    )


def recipe_from_context(value: Any) -> Recipe:
    """The `recipe` context: a JSON file's path, the JSON text or object, or absent (default)."""
    if value in (None, ""):
        return DEFAULT_RECIPE
    if isinstance(value, Mapping):
        return Recipe.model_validate(value)
    text = str(value).strip()
    if text.startswith("{"):
        return Recipe.from_json(text)
    try:
        return Recipe.from_json(Path(text).read_text())
    except OSError as error:
        raise ValueError(f"cannot read the recipe file {text}: {error}") from None


def build_app(
    context: Mapping[str, Any] | None = None,
    outdir: str | None = None,
    layer_dirs: LayerDirs | None = None,
    build_dir: Path | None = None,
) -> tuple[App, QipStack]:
    """The app and its one stack for a context (cdk.json's, overridden by `context`)."""
    app = App(context={**file_context(), **(context or {})}, outdir=outdir)
    get = app.node.try_get_context
    architecture = str(get("architecture") or "arm64")
    # A bad selection fails here, before any layer is built.
    stages = parse_stages(_list(get("stages") or "validation,metadata,resize,thumbnail,archive"))
    stack = QipStack(
        app,
        str(get("stackName") or "QipStack"),
        stages=stages,
        workflow=str(get("workflow") or "EXPRESS"),
        architecture=architecture,
        layer_dirs=layer_dirs or ensure_layers(architecture),
        build_dir=build_dir or repo_root() / "platform" / "stack" / "build" / "functions",
        settings=settings_from_context(app),
        description="QIP serverless image pipeline",
        env=Environment(
            account=os.environ.get("CDK_DEFAULT_ACCOUNT"),
            region=os.environ.get("CDK_DEFAULT_REGION"),
        ),
    )
    if _flag(get("nag") if get("nag") is not None else True):
        Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
    return app, stack


def main(argv: list[str] | None = None) -> int:
    """Synthesize; `-c key=value` like the CDK CLI; `--outdir` when run without the CLI."""
    parser = argparse.ArgumentParser(description="Synthesize the QIP stack.")
    parser.add_argument("-c", "--context", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--outdir", default=None)
    args = parser.parse_args(argv)
    context: dict[str, str] = {}
    for pair in args.context:
        key, sep, value = pair.partition("=")
        if not sep:
            parser.error(f"context must be KEY=VALUE, got {pair!r}")
        context[key] = value
    # Under the CDK CLI the outdir comes from CDK_OUTDIR; alone, write ./cdk.out.
    outdir = args.outdir or (None if os.environ.get("CDK_OUTDIR") else "cdk.out")
    try:  # a bad selection (StageSelectionError is a ValueError), no layers, no Python 3.13
        app, stack = build_app(context, outdir=outdir)
    except (ValueError, LayerBuildError, LambdaPythonMissingError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    assembly = app.synth()
    print(
        f"synthesized {stack.stack_name} ({', '.join(s.value for s in stack.stages)}, "
        f"{stack.workflow}) into {assembly.directory}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
