"""CDK construct of the validate stage: its function, role and log group (the stack grants)."""

from __future__ import annotations

from typing import Unpack

from constructs import Construct

from qip_shared import config
from qip_shared.cdk import ImageFunction, PipelineProps
from qip_shared.limits import FUNCTION_TIMEOUT_SECONDS


class ValidateFunction(ImageFunction):
    """The validate Lambda: checks that the upload is an acceptable image."""

    SERVICE = "validate"
    MEMORY_SIZE = 512
    TIMEOUT_SECONDS = FUNCTION_TIMEOUT_SECONDS[SERVICE]
    HANDLER = "qip_validate.handler.handler"

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        max_bytes: int = config.DEFAULT_MAX_BYTES,
        max_pixels: int = config.DEFAULT_MAX_PIXELS,
        **props: Unpack[PipelineProps],
    ) -> None:
        # Validate enforces both limits, so its signature states both.
        environment = {config.ENV_MAX_BYTES: str(max_bytes)}
        super().__init__(
            scope, construct_id, max_pixels=max_pixels, environment=environment, **props
        )
