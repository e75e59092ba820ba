"""CDK construct of the images read API: its function, role and log group (the stack grants)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Unpack

from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from constructs import Construct

from qip_images_api.adapters import DEFAULT_DOWNLOAD_URL_EXPIRES, ENV_DOWNLOAD_URL_EXPIRES
from qip_shared import config
from qip_shared.cdk import FunctionProps, ServiceFunction


class ImagesApiFunction(ServiceFunction):
    """The images-api Lambda: a caller's own records, with presigned GET URLs of the outputs."""

    SERVICE = "images-api"
    MEMORY_SIZE = 256
    TIMEOUT_SECONDS = 10
    HANDLER = "qip_images_api.handler.handler"

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        table: dynamodb.ITable,
        upload_bucket: s3.IBucket,
        cors_origins: Sequence[str] = (),
        download_url_expires: int = DEFAULT_DOWNLOAD_URL_EXPIRES,
        **props: Unpack[FunctionProps],
    ) -> None:
        environment = {
            config.ENV_TABLE_NAME: table.table_name,
            config.ENV_UPLOAD_BUCKET: upload_bucket.bucket_name,
            ENV_DOWNLOAD_URL_EXPIRES: str(download_url_expires),
            **config.cors_environment(cors_origins),
        }
        super().__init__(scope, construct_id, environment=environment, **props)
