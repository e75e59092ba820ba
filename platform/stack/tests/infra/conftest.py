"""Stacks synthesized once per session (jsii is slow): the full default and a minimal selection.

Layers are stand-in directories here (the real ones are built by `nox -s synth`); function code
is the real bundle of each service.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

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

MINIMAL_CONTEXT = {
    "stages": "validate,resize,archive",
    "workflow": "STANDARD",
    "deleteUpload": "true",
    "alarmEmails": "ops@example.com, oncall@example.com",
    "alarmUrls": "https://hooks.example.com/qip",
    "corsOrigins": "https://app.example.com,https://admin.example.com",
}


@pytest.fixture(scope="session")
def stub_layers(tmp_path_factory: pytest.TempPathFactory) -> LayerDirs:
    """Two layer asset dirs holding a placeholder module each."""
    root = tmp_path_factory.mktemp("layers")
    for name in ("pillow", "deps"):
        (root / name / "python").mkdir(parents=True)
        (root / name / "python" / f"stub_{name}.py").write_text("# test stand-in\n")
    return LayerDirs(pillow=root / "pillow", deps=root / "deps")


def _stack(context: dict[str, str], layers: LayerDirs, root: Path) -> QipStack:
    # nag=false: cdk-nag runs in its own test (validate_scope), not as a plugin on every synth.
    _app, stack = build_app(
        {**context, "nag": "false"},
        outdir=str(root / "cdk.out"),
        layer_dirs=layers,
        build_dir=root / "functions",
    )
    return stack


@pytest.fixture(scope="session")
def full_stack(stub_layers: LayerDirs, tmp_path_factory: pytest.TempPathFactory) -> QipStack:
    """The default stack: every stage, Express."""
    return _stack({}, stub_layers, tmp_path_factory.mktemp("full"))


@pytest.fixture(scope="session")
def template(full_stack: QipStack) -> Template:
    """`Template` of the default stack."""
    return Template.from_stack(full_stack)


@pytest.fixture(scope="session")
def minimal_stack(stub_layers: LayerDirs, tmp_path_factory: pytest.TempPathFactory) -> QipStack:
    """validate + resize + archive, Standard workflow, uploads deleted after archiving."""
    return _stack(MINIMAL_CONTEXT, stub_layers, tmp_path_factory.mktemp("minimal"))


@pytest.fixture(scope="session")
def minimal_template(minimal_stack: QipStack) -> Template:
    """`Template` of the minimal stack."""
    return Template.from_stack(minimal_stack)


class Rendered:
    """Helpers that read a template: functions by service, IAM statements as readable strings."""

    def __init__(self, template: Template) -> None:
        self.data: dict[str, Any] = template.to_json()
        self.resources: dict[str, Any] = self.data["Resources"]

    def of_type(self, kind: str) -> dict[str, Any]:
        """Resources of one CloudFormation type, by logical id."""
        return {k: v for k, v in self.resources.items() if v["Type"] == kind}

    def functions(self) -> dict[str, tuple[str, dict[str, Any]]]:
        """service -> (logical id, properties) of each function tagged `qip:service`."""
        found = {}
        for logical_id, resource in self.of_type("AWS::Lambda::Function").items():
            tags = {t["Key"]: t["Value"] for t in resource["Properties"].get("Tags", [])}
            if "qip:service" in tags:
                found[tags["qip:service"]] = (logical_id, resource["Properties"])
        return found

    def name(self, value: Any) -> str:
        """An intrinsic as a short readable string: `UploadBucket.Arn/uploads/*`, `ImageTable`."""
        if isinstance(value, str):
            return value
        if "Ref" in value:
            return _strip_hash(value["Ref"])
        if "Fn::GetAtt" in value:
            logical_id, attribute = value["Fn::GetAtt"]
            return f"{_strip_hash(logical_id)}.{attribute}"
        if "Fn::Join" in value:
            separator, parts = value["Fn::Join"]
            return separator.join(self.name(part) for part in parts)
        return json.dumps(value, sort_keys=True)

    def role_statements(self, role_logical_id: str) -> list[dict[str, Any]]:
        """Every statement of every policy attached to a role."""
        statements = []
        for policy in self.of_type("AWS::IAM::Policy").values():
            if {"Ref": role_logical_id} in policy["Properties"]["Roles"]:
                statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
        return statements

    def grants(self, role_logical_id: str) -> dict[str, set[str]]:
        """action -> readable resources the role is allowed it on."""
        table: dict[str, set[str]] = {}
        for statement in self.role_statements(role_logical_id):
            assert statement["Effect"] == "Allow"
            actions = statement["Action"]
            resources = statement["Resource"]
            for action in [actions] if isinstance(actions, str) else actions:
                listed = resources if isinstance(resources, list) else [resources]
                table.setdefault(action, set()).update(self.name(r) for r in listed)
        return table


def _strip_hash(logical_id: str) -> str:
    return re.sub(r"[0-9A-F]{8}$", "", logical_id)


@pytest.fixture(scope="session")
def rendered(template: Template) -> Rendered:
    """Readable view of the default stack's template."""
    return Rendered(template)


@pytest.fixture(scope="session")
def minimal_rendered(minimal_template: Template) -> Rendered:
    """Readable view of the minimal stack's template."""
    return Rendered(minimal_template)
