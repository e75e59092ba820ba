"""The upload-url construct: runtime, entry point, environment, version stamp and no grants."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_s3 as s3

from qip_shared import config
from qip_shared.limits import FUNCTION_TIMEOUT_SECONDS
from qip_shared.testing.cdk import ServiceFunctionChecks
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
