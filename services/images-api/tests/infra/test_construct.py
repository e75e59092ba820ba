"""The images-api construct: runtime, entry point, environment, version stamp and no grants."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3

from qip_images_api.adapters import ENV_DOWNLOAD_URL_EXPIRES
from qip_images_api.construct import ImagesApiFunction
from qip_shared import config
from qip_shared.testing.cdk import ServiceFunctionChecks


class TestImagesApiFunction(ServiceFunctionChecks):
    construct = ImagesApiFunction
    handler = "qip_images_api.handler.handler"
    qip_environment = frozenset(
        {
            config.ENV_TABLE_NAME,
            config.ENV_UPLOAD_BUCKET,
            ENV_DOWNLOAD_URL_EXPIRES,
            config.ENV_SERVICE_VERSION,
        }
    )
    memory_size = 256
    timeout_seconds = 10

    @classmethod
    def resources(cls, stack: Stack) -> Mapping[str, Any]:
        table = dynamodb.Table(
            stack,
            "Images",
            partition_key=dynamodb.Attribute(name="imageKey", type=dynamodb.AttributeType.STRING),
        )
        return {"table": table, "upload_bucket": s3.Bucket(stack, "Uploads")}
