"""The default stack, synthesized once per session for every suite under `platform/stack/tests`
(the infra checks read it as a `Template`, the security checks as JSON).

Layers are stand-in directories here (the real ones are built by `nox -s synth`); function code
is the real bundle of each service.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest

# pytest's importlib mode registers this repository's `platform/` directory as a namespace module
# named `platform`, shadowing the standard library module that jsii (through attrs) imports.
if not hasattr(sys.modules.get("platform"), "python_implementation"):
    sys.modules.pop("platform", None)
    import platform  # noqa: F401
from aws_cdk.assertions import Template

from qip_platform.app import build_app
from qip_platform.layers import LayerDirs
from qip_platform.stack import QipStack


@pytest.fixture(scope="session")
def stub_layers(tmp_path_factory: pytest.TempPathFactory) -> LayerDirs:
    """Two layer asset dirs holding a placeholder module each."""
    root = tmp_path_factory.mktemp("layers")
    for name in ("pillow", "deps"):
        (root / name / "python").mkdir(parents=True)
        (root / name / "python" / f"stub_{name}.py").write_text("# test stand-in\n")
    return LayerDirs(pillow=root / "pillow", deps=root / "deps")


@pytest.fixture(scope="session")
def synthesize(
    stub_layers: LayerDirs, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[dict[str, str]], QipStack]:
    """Build the stack for a context, cdk-nag off (it runs in its own test, `validate_scope`)."""

    def build(context: dict[str, str]) -> QipStack:
        root = tmp_path_factory.mktemp("synth")
        _app, stack = build_app(
            {**context, "nag": "false"},
            outdir=str(root / "cdk.out"),
            layer_dirs=stub_layers,
            build_dir=root / "functions",
        )
        return stack

    return build


@pytest.fixture(scope="session")
def full_stack(synthesize: Callable[[dict[str, str]], QipStack]) -> QipStack:
    """The default stack: every stage, Express."""
    return synthesize({})


@pytest.fixture(scope="session")
def template(full_stack: QipStack) -> Template:
    """`Template` of the default stack."""
    return Template.from_stack(full_stack)
