"""CDK construct of the archive stage: its function, role and log group (the stack grants)."""

from __future__ import annotations

from typing import Unpack

from aws_cdk import aws_s3 as s3
from constructs import Construct

from qip_shared import config
from qip_shared.cdk import PipelineFunction, PipelineProps
from qip_shared.limits import FUNCTION_TIMEOUT_SECONDS


class ArchiveFunction(PipelineFunction):
    """The archive Lambda: copies the original and its outputs into the archive bucket."""

    SERVICE = "archive"
    MEMORY_SIZE = 256
    TIMEOUT_SECONDS = FUNCTION_TIMEOUT_SECONDS[SERVICE]
    HANDLER = "qip_archive.handler.handler"

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        archive_bucket: s3.IBucket,
        delete_upload: bool = False,
        **props: Unpack[PipelineProps],
    ) -> None:
        environment = {
            config.ENV_ARCHIVE_BUCKET: archive_bucket.bucket_name,
            config.ENV_DELETE_UPLOAD: str(delete_upload).lower(),
        }
        super().__init__(scope, construct_id, environment=environment, **props)
