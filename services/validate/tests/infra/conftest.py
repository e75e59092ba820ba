"""The validate construct inside a bare stack with stub resources, synthesized once per module."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Template

from qip_validate.construct import ValidateFunction

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


@pytest.fixture(scope="module")
def service_version() -> str:
    """The version in this service's pyproject.toml."""
    return str(tomllib.loads(PYPROJECT.read_text())["project"]["version"])


@pytest.fixture(scope="module")
def template(service_version: str) -> Any:
    """`Template` of a stack holding only the construct and the resources it is given."""
    stack = Stack(App(), "Bare")
    ValidateFunction(
        stack,
        "Construct",
        code=lambda_.Code.from_inline("def handler(event, context): ..."),
        layers=[],
        version=service_version,
        upload_bucket=s3.Bucket(stack, "Uploads"),
        table=dynamodb.Table(
            stack,
            "Table",
            partition_key=dynamodb.Attribute(name="imageKey", type=dynamodb.AttributeType.STRING),
        ),
        topic=sns.Topic(stack, "Topic"),
        event_bus=events.EventBus.from_event_bus_name(stack, "Bus", "default"),
    )
    return Template.from_stack(stack)
