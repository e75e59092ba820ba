"""CDK construct of the upload-url endpoint: its function, role and log group (the stack grants)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Unpack

from aws_cdk import aws_s3 as s3
from constructs import Construct

from qip_shared import config
from qip_shared.cdk import FunctionProps, ServiceFunction
from qip_shared.limits import FUNCTION_TIMEOUT_SECONDS


class UploadUrlFunction(ServiceFunction):
    """The upload-url Lambda: signs browser POST uploads to `uploads/yyyy/mm/dd/{uuid}.{ext}`."""

    SERVICE = "upload-url"
    MEMORY_SIZE = 256
    TIMEOUT_SECONDS = FUNCTION_TIMEOUT_SECONDS[SERVICE]
    HANDLER = "qip_upload_url.handler.handler"

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        upload_bucket: s3.IBucket,
        max_bytes: int = config.DEFAULT_MAX_BYTES,
        upload_url_expires: int = config.DEFAULT_UPLOAD_URL_EXPIRES,
        cors_origins: Sequence[str] = (),
        **props: Unpack[FunctionProps],
    ) -> None:
        environment = {
            config.ENV_UPLOAD_BUCKET: upload_bucket.bucket_name,
            config.ENV_MAX_BYTES: str(max_bytes),
            config.ENV_UPLOAD_URL_EXPIRES: str(upload_url_expires),
            **config.cors_environment(cors_origins),
        }
        super().__init__(scope, construct_id, environment=environment, **props)
