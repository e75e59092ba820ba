"""The upload-url construct: runtime, entry point, environment, version stamp and no grants."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Template

from qip_shared import config
from qip_shared.limits import FUNCTION_TIMEOUT_SECONDS
from qip_shared.testing.cdk import (
    ServiceFunctionChecks,
    bare_stack,
    function_properties,
    stub_props,
)
from qip_upload_url.construct import UploadUrlFunction


class TestUploadUrlFunction(ServiceFunctionChecks):
    construct = UploadUrlFunction
    handler = "qip_upload_url.handler.handler"
    qip_environment = frozenset(
        {
            config.ENV_UPLOAD_BUCKET,
            config.ENV_MAX_BYTES,
            config.ENV_UPLOAD_URL_EXPIRES,
            config.ENV_SERVICE_VERSION,
        }
    )
    memory_size = 256
    timeout_seconds = FUNCTION_TIMEOUT_SECONDS["upload-url"]

    @classmethod
    def resources(cls, stack: Stack) -> Mapping[str, Any]:
        return {"upload_bucket": s3.Bucket(stack, "Uploads")}

    def test_cors_origins_reach_the_function_environment(self, service_version: str) -> None:
        stack = bare_stack()
        UploadUrlFunction(
            stack,
            "Construct",
            upload_bucket=s3.Bucket(stack, "Uploads"),
            cors_origins=("https://app.example.com", "https://admin.example.com"),
            **stub_props(service_version),
        )
        variables = function_properties(Template.from_stack(stack))["Environment"]["Variables"]
        origins = "https://app.example.com,https://admin.example.com"
        assert variables[config.ENV_CORS_ORIGINS] == origins
        assert config.QipSettings.from_env({config.ENV_CORS_ORIGINS: origins}).cors_origins == (
            "https://app.example.com",
            "https://admin.example.com",
        )
