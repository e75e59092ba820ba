"""`qip synth`: the stack's CloudFormation template, offline."""

# Imports are lazy on purpose: `qip process` must never load CDK, and `--help` stays fast.
# Typer commands take their options as parameters.
# ruff: noqa: PLC0415

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from qip_local.cli.common import (
    CliError,
    app,
    err,
    one_line_errors,
    parse_stage_list,
)
from qip_shared.enums import StageName


@app.command()
def synth(
    stages: Annotated[
        str | None, typer.Option(help="Comma-separated stages (default: all five).")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the template here.")
    ] = None,
) -> None:
    """Print the CloudFormation template of the stack (CDK synth, no AWS account needed).

    Examples:

        qip synth > template.json

        qip synth --stages validation,thumbnail -o thumbs-only.json
    """
    with one_line_errors():
        stage_list = parse_stage_list(stages)
        started = time.perf_counter()
        template = _synth_template(stage_list)
        text = json.dumps(template, indent=1, sort_keys=True) + "\n"
        if output is None:
            sys.stdout.write(text)
        else:
            output.write_text(text)
            err.print(f"wrote {output} in {time.perf_counter() - started:.1f}s")


def _synth_template(stage_list: tuple[StageName, ...]) -> dict[str, Any]:
    """Synthesize the platform's CDK app for a stage selection; the stack's template."""
    import tempfile

    # jsii's banner about the Node version would break the "one clear line" promise.
    os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
    try:
        from qip_platform.app import build_app
        from qip_platform.layers import LayerBuildError
    except ImportError:
        raise CliError(
            "qip synth needs the CDK app (package qip-platform, ~430 MB with aws-cdk-lib): "
            "install it with `uv sync --all-packages`, then run this again"
        ) from None
    with tempfile.TemporaryDirectory(prefix="qip-synth-") as outdir:
        try:
            app, stack = build_app({"stages": ",".join(s.value for s in stage_list)}, outdir=outdir)
            assembly = app.synth()
        except LayerBuildError as exc:
            raise CliError(f"could not build the Lambda layers: {exc}") from None
        template: dict[str, Any] = assembly.get_stack_by_name(stack.stack_name).template
    return template
