"""The base constructs through the shared checks, and the checks rejecting a deviant construct."""

from __future__ import annotations

from typing import Unpack

import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk.assertions import Template
from constructs import Construct

from qip_shared import config
from qip_shared.cdk import (
    FunctionProps,
    ImageFunction,
    PipelineFunction,
    ServiceFunction,
)
from qip_shared.testing.cdk import (
    IMAGE_ENVIRONMENT,
    PIPELINE_ENVIRONMENT,
    ServiceFunctionChecks,
    bare_stack,
    function_properties,
    stub_props,
)


class Plain(ServiceFunction):
    """A function with a setting of its own and the base's memory/timeout defaults."""

    SERVICE = "shared"
    HANDLER = "qip_plain.handler.handler"

    def __init__(self, scope: Construct, construct_id: str, **props: Unpack[FunctionProps]) -> None:
        super().__init__(scope, construct_id, environment={config.ENV_MAX_BYTES: "1"}, **props)


class Pipeline(PipelineFunction):
    SERVICE = "shared"
    HANDLER = "qip_pipeline.handler.handler"
    MEMORY_SIZE = 640


class Decoder(ImageFunction):
    SERVICE = "shared"
    HANDLER = "qip_decoder.handler.handler"
    TIMEOUT_SECONDS = 45


class TestServiceFunction(ServiceFunctionChecks):
    construct = Plain
    handler = "qip_plain.handler.handler"
    qip_environment = frozenset({config.ENV_MAX_BYTES, config.ENV_SERVICE_VERSION})
    memory_size = ServiceFunction.MEMORY_SIZE
    timeout_seconds = ServiceFunction.TIMEOUT_SECONDS


class TestPipelineFunction(ServiceFunctionChecks):
    construct = Pipeline
    handler = "qip_pipeline.handler.handler"
    qip_environment = PIPELINE_ENVIRONMENT
    memory_size = 640
    timeout_seconds = 30


class TestImageFunction(ServiceFunctionChecks):
    construct = Decoder
    handler = "qip_decoder.handler.handler"
    qip_environment = IMAGE_ENVIRONMENT
    memory_size = 256
    timeout_seconds = 45


@pytest.fixture(scope="module")
def deviant() -> tuple[ServiceFunction, Template]:
    """Every keyword overridden (x86_64, python3.12, 128 MB, one-week logs), a grant on its role."""
    stack = bare_stack()
    props: FunctionProps = {
        **stub_props("9.9.9"),
        "architecture": lambda_.Architecture.X86_64,
        "runtime": lambda_.Runtime.PYTHON_3_12,
        "log_retention": logs.RetentionDays.ONE_WEEK,
        "memory_size": 128,
    }
    construct = ServiceFunction(
        stack,
        "Construct",
        service="demo",
        handler="qip_demo.handler.handler",
        environment={config.ENV_MAX_BYTES: "1024", config.ENV_SERVICE_VERSION: "ignored"},
        **props,
    )
    construct.role.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=["*"]))
    return construct, Template.from_stack(stack)


def test_construct_exposes_its_function_role_and_log_group(
    deviant: tuple[ServiceFunction, Template],
) -> None:
    construct, _template = deviant
    assert isinstance(construct.function, lambda_.Function)
    assert isinstance(construct.role, iam.Role)
    assert isinstance(construct.log_group, logs.LogGroup)
    assert construct.function.role is construct.role
    assert construct.function.architecture.name == "x86_64"


def test_keywords_override_the_defaults_and_the_version_wins(
    deviant: tuple[ServiceFunction, Template],
) -> None:
    _construct, template = deviant
    props = function_properties(template)
    assert props["Architectures"] == ["x86_64"]
    assert props["Runtime"] == "python3.12"
    assert props["MemorySize"] == 128
    assert props["Handler"] == "qip_demo.handler.handler"
    assert props["Description"] == "QIP demo 9.9.9"
    # The version stamp is the construct's, whatever the service's environment says.
    assert props["Environment"]["Variables"][config.ENV_SERVICE_VERSION] == "9.9.9"
    assert props["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] == "qip-demo"
    (group,) = template.find_resources("AWS::Logs::LogGroup").values()
    assert group["Properties"]["RetentionInDays"] == 7
    (role,) = template.find_resources("AWS::IAM::Role").values()
    assert role["Properties"]["Description"] == "qip-demo 9.9.9"


def test_the_checks_reject_a_construct_that_differs(
    deviant: tuple[ServiceFunction, Template],
) -> None:
    _construct, template = deviant
    checks = TestServiceFunction()
    with pytest.raises(AssertionError):
        checks.test_function_runs_the_handler_on_the_given_runtime_arm64_with_tracing(template)
    with pytest.raises(AssertionError):
        checks.test_memory_and_timeout_defaults(template)
    with pytest.raises(AssertionError):
        checks.test_construct_grants_nothing_but_tracing(template)
    with pytest.raises(AssertionError):
        checks.test_version_and_service_are_tags_of_the_function(template, "9.9.9")
    with pytest.raises(AssertionError):
        checks.test_environment_is_the_qip_contract_and_carries_the_version(template, "9.9.9")
