"""CDK construct of the thumbnail stage: its function, role and log group (the stack grants)."""

from __future__ import annotations

from typing import Unpack

from constructs import Construct

from qip_shared import config
from qip_shared.cdk import PipelineFunction, PipelineProps

SERVICE = "thumbnail"


class ThumbnailFunction(PipelineFunction):
    """The thumbnail Lambda: crops the upload to a 200x200 `processed/{id}/thumbnail.jpg`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        max_pixels: int = config.DEFAULT_MAX_PIXELS,
        memory_size: int = 1024,
        timeout_seconds: int = 60,
        **props: Unpack[PipelineProps],
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            service=SERVICE,
            handler="qip_thumbnail.handler.handler",
            environment={config.ENV_MAX_PIXELS: str(max_pixels)},
            memory_size=memory_size,
            timeout_seconds=timeout_seconds,
            **props,
        )
