"""The default stack, synthesized once per session for every suite under `platform/stack/tests`
(the infra checks read it as a `Template`, the security checks as JSON).

Layers are stand-in directories here (the real ones are built by `nox -s synth`); function code
is the real bundle of each service.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

# pytest's importlib mode registers this repository's `platform/` directory as a namespace module
# named `platform`, shadowing the standard library module that jsii (through attrs) imports.
if not hasattr(sys.modules.get("platform"), "python_implementation"):
    sys.modules.pop("platform", None)
    import platform  # noqa: F401
from aws_cdk.assertions import Template

from qip_platform import functions
from qip_platform.app import build_app
from qip_platform.bundle import bundle_service
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
    """Build the stack for a context, cdk-nag off (it runs in its own test, `validate_scope`).

    The stacks of a session share one bundle per function: a bundle is the same bytes wherever
    and whenever it is built (`test_bundles_are_reproducible_wherever_they_are_built`).
    """
    bundles = tmp_path_factory.mktemp("functions")
    built: dict[str, Path] = {}

    def bundle_once(service: str, out_root: Path) -> Path:
        if service not in built:
            built[service] = bundle_service(service, out_root)
        return built[service]

    def build(context: dict[str, str]) -> QipStack:
        root = tmp_path_factory.mktemp("synth")
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(functions, "bundle_service", bundle_once)
            _app, stack = build_app(
                {**context, "nag": "false"},
                outdir=str(root / "cdk.out"),
                layer_dirs=stub_layers,
                build_dir=bundles,
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
