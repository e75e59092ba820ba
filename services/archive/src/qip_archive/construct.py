"""CDK construct of the archive stage: its function, role and log group (the stack grants)."""

from __future__ import annotations

from typing import Unpack

from aws_cdk import aws_s3 as s3
from constructs import Construct

from qip_shared import config
from qip_shared.cdk import PipelineFunction, PipelineProps

SERVICE = "archive"


class ArchiveFunction(PipelineFunction):
    """The archive Lambda: copies the original and its outputs into the archive bucket."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        archive_bucket: s3.IBucket,
        delete_upload: bool = False,
        memory_size: int = 256,
        timeout_seconds: int = 60,
        **props: Unpack[PipelineProps],
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            service=SERVICE,
            handler="qip_archive.handler.handler",
            environment={
                config.ENV_ARCHIVE_BUCKET: archive_bucket.bucket_name,
                config.ENV_DELETE_UPLOAD: str(delete_upload).lower(),
            },
            memory_size=memory_size,
            timeout_seconds=timeout_seconds,
            **props,
        )
