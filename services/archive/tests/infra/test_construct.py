"""The archive construct: runtime, entry point, environment, version stamp and no grants."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_s3 as s3

from qip_archive.construct import ArchiveFunction
from qip_shared import config
from qip_shared.limits import FUNCTION_TIMEOUT_SECONDS
from qip_shared.testing.cdk import PIPELINE_ENVIRONMENT, ServiceFunctionChecks


class TestArchiveFunction(ServiceFunctionChecks):
    construct = ArchiveFunction
    handler = "qip_archive.handler.handler"
    qip_environment = PIPELINE_ENVIRONMENT | {config.ENV_ARCHIVE_BUCKET, config.ENV_DELETE_UPLOAD}
    memory_size = 256
    timeout_seconds = FUNCTION_TIMEOUT_SECONDS["archive"]

    @classmethod
    def resources(cls, stack: Stack) -> Mapping[str, Any]:
        return {"archive_bucket": s3.Bucket(stack, "Archive")}
