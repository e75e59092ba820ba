"""CDK construct of the validate stage: its function, role and log group (the stack grants)."""

from __future__ import annotations

from typing import Unpack

from constructs import Construct

from qip_shared import config
from qip_shared.cdk import PipelineFunction, PipelineProps

SERVICE = "validate"


class ValidateFunction(PipelineFunction):
    """The validate Lambda: checks that the upload is an acceptable image."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        max_bytes: int = config.DEFAULT_MAX_BYTES,
        max_pixels: int = config.DEFAULT_MAX_PIXELS,
        memory_size: int = 512,
        timeout_seconds: int = 30,
        **props: Unpack[PipelineProps],
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            service=SERVICE,
            handler="qip_validate.handler.handler",
            environment={
                config.ENV_MAX_BYTES: str(max_bytes),
                config.ENV_MAX_PIXELS: str(max_pixels),
            },
            memory_size=memory_size,
            timeout_seconds=timeout_seconds,
            **props,
        )
