"""The minimal stack selection (the default stack comes from `platform/stack/tests/conftest.py`,
synthesized once per session) and readable views of both templates."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from aws_cdk.assertions import Template

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
def minimal_stack(synthesize: Callable[[dict[str, str]], QipStack]) -> QipStack:
    """validate + resize + archive, Standard workflow, uploads deleted after archiving."""
    return synthesize(MINIMAL_CONTEXT)


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
