"""The checks every service construct's synthesized template must pass, stated once.

A service's `tests/infra/test_construct.py` subclasses `ServiceFunctionChecks` in a `Test...`
class and states only its specifics: the construct class, handler, `QIP_*` variable names and
memory/timeout defaults (plus `resources` when it takes more than the shared stubs). The service
name and version come from the pyproject.toml beside the construct's `src/`.
"""

from __future__ import annotations

import inspect
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Template

from qip_shared import config
from qip_shared.cdk import FunctionProps, PipelineFunction, PipelineProps, ServiceFunction

__all__ = [
    "IMAGE_ENVIRONMENT",
    "PIPELINE_ENVIRONMENT",
    "TRACING_ACTIONS",
    "ServiceFunctionChecks",
    "bare_stack",
    "function_properties",
    "pipeline_stubs",
    "pyproject_version",
    "stub_props",
]

# What `Tracing.ACTIVE` adds to a function's own role: the only statement a construct may make.
# The runtime `stub_props` hands a construct (the stack picks the deployed one).
STUB_RUNTIME = lambda_.Runtime.PYTHON_3_13
TRACING_ACTIONS = frozenset({"xray:PutTraceSegments", "xray:PutTelemetryRecords"})
# The `QIP_*` names every `PipelineFunction` carries, and an `ImageFunction` besides.
PIPELINE_ENVIRONMENT = frozenset(
    {
        config.ENV_UPLOAD_BUCKET,
        config.ENV_TABLE_NAME,
        config.ENV_TOPIC_ARN,
        config.ENV_EVENT_BUS_NAME,
        config.ENV_SERVICE_VERSION,
    }
)
IMAGE_ENVIRONMENT = PIPELINE_ENVIRONMENT | {config.ENV_MAX_PIXELS}


def pyproject_project(pyproject: Path) -> Mapping[str, Any]:
    """The `[project]` table of a pyproject.toml."""
    project: Mapping[str, Any] = tomllib.loads(pyproject.read_text())["project"]
    return project


def pyproject_version(pyproject: Path) -> str:
    """The `project.version` of a pyproject.toml."""
    return str(pyproject_project(pyproject)["version"])


def bare_stack() -> Stack:
    """An empty stack in a fresh app, to hold one construct and its stub resources."""
    return Stack(App(), "Bare")


def stub_props(version: str) -> FunctionProps:
    """What the stack gives every construct, with inline code and no layers."""
    return {
        "code": lambda_.Code.from_inline("def handler(event, context): ..."),
        "layers": [],
        "runtime": STUB_RUNTIME,
        "version": version,
    }


def pipeline_stubs(stack: Stack, version: str) -> PipelineProps:
    """`stub_props` plus stub upload bucket, record table, topic and the default event bus."""
    return {
        **stub_props(version),
        "upload_bucket": s3.Bucket(stack, "Uploads"),
        "table": dynamodb.Table(
            stack,
            "Table",
            partition_key=dynamodb.Attribute(name="imageKey", type=dynamodb.AttributeType.STRING),
        ),
        "topic": sns.Topic(stack, "Topic"),
        "event_bus": events.EventBus.from_event_bus_name(stack, "Bus", "default"),
    }


def function_properties(template: Template) -> Mapping[str, Any]:
    """The `Properties` of the template's one Lambda function."""
    functions = template.find_resources("AWS::Lambda::Function")
    assert len(functions) == 1
    properties: Mapping[str, Any] = next(iter(functions.values()))["Properties"]
    return properties


class ServiceFunctionChecks:
    """Tests of one service construct: a `Test...` subclass sets the attributes and `build`."""

    construct: ClassVar[type[ServiceFunction]]
    handler: ClassVar[str]
    qip_environment: ClassVar[frozenset[str]]
    memory_size: ClassVar[int]
    timeout_seconds: ClassVar[int]

    @classmethod
    def pyproject(cls) -> Path:
        """The pyproject.toml of the distribution whose `src/` holds the construct."""
        return Path(inspect.getfile(cls.construct)).resolve().parents[2] / "pyproject.toml"

    @classmethod
    def service(cls) -> str:
        """The service name: the distribution's name without its `qip-` prefix."""
        return str(pyproject_project(cls.pyproject())["name"]).removeprefix("qip-")

    @classmethod
    def resources(cls, stack: Stack) -> Mapping[str, Any]:
        """Stub resources the construct takes besides the shared ones (override to add)."""
        return {}

    @classmethod
    def build(cls, stack: Stack, version: str) -> ServiceFunction:
        """The construct (id "Construct") in `stack` with its defaults and stub resources."""
        shared: Mapping[str, Any]
        if issubclass(cls.construct, PipelineFunction):
            shared = pipeline_stubs(stack, version)
        else:
            shared = stub_props(version)
        return cls.construct(stack, "Construct", **shared, **cls.resources(stack))

    @pytest.fixture(scope="class")
    @classmethod
    def service_version(cls) -> str:
        """The version in the service's pyproject.toml."""
        return pyproject_version(cls.pyproject())

    @pytest.fixture(scope="class")
    @classmethod
    def template(cls, service_version: str) -> Template:
        """`Template` of a bare stack holding only the construct and its stub resources."""
        stack = bare_stack()
        cls.build(stack, service_version)
        return Template.from_stack(stack)

    def test_function_runs_the_handler_on_the_given_runtime_arm64_with_tracing(
        self, template: Template
    ) -> None:
        props = function_properties(template)
        assert props["Runtime"] == STUB_RUNTIME.name
        assert props["Architectures"] == ["arm64"]
        assert props["Handler"] == self.handler
        assert props["TracingConfig"] == {"Mode": "Active"}

    def test_memory_and_timeout_defaults(self, template: Template) -> None:
        props = function_properties(template)
        assert props["MemorySize"] == self.memory_size
        assert props["Timeout"] == self.timeout_seconds

    def test_environment_is_the_qip_contract_and_carries_the_version(
        self, template: Template, service_version: str
    ) -> None:
        variables = function_properties(template)["Environment"]["Variables"]
        assert {name for name in variables if name.startswith("QIP_")} == self.qip_environment
        assert variables[config.ENV_SERVICE_VERSION] == service_version
        assert variables["POWERTOOLS_SERVICE_NAME"] == f"qip-{self.service()}"
        # The literal settings parse under the shared contract the handler reads them with.
        literal = {k: v for k, v in variables.items() if isinstance(v, str)}
        assert config.QipSettings.from_env(literal).service_version == service_version

    def test_version_and_service_are_tags_of_the_function(
        self, template: Template, service_version: str
    ) -> None:
        tags = {t["Key"]: t["Value"] for t in function_properties(template)["Tags"]}
        assert tags["qip:version"] == service_version
        assert tags["qip:service"] == self.service()

    def test_logs_go_to_an_explicit_log_group_without_a_retention_custom_resource(
        self, template: Template
    ) -> None:
        props = function_properties(template)
        groups = template.find_resources("AWS::Logs::LogGroup")
        assert len(groups) == 1
        assert props["LoggingConfig"]["LogGroup"] == {"Ref": next(iter(groups))}
        assert not template.find_resources("Custom::LogRetention")

    def test_construct_grants_nothing_but_tracing(self, template: Template) -> None:
        # The stack grants; the construct's own role may only send traces (added by Tracing.ACTIVE).
        actions: set[str] = set()
        for policy in template.find_resources("AWS::IAM::Policy").values():
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                found = statement["Action"]
                actions.update([found] if isinstance(found, str) else found)
        assert actions == TRACING_ACTIONS
        roles = template.find_resources("AWS::IAM::Role")
        assert len(roles) == 1
        for role in roles.values():
            assert "ManagedPolicyArns" not in role["Properties"]
