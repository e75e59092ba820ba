"""CDK construct of the metadata stage: its function, role and log group (the stack grants)."""

from __future__ import annotations

from typing import Unpack

from constructs import Construct

from qip_shared import config
from qip_shared.cdk import PipelineFunction, PipelineProps

SERVICE = "metadata"


class MetadataFunction(PipelineFunction):
    """The metadata Lambda: extracts dimensions, format and EXIF into the image record."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        max_pixels: int = config.DEFAULT_MAX_PIXELS,
        store_gps: bool = False,
        memory_size: int = 512,
        timeout_seconds: int = 30,
        **props: Unpack[PipelineProps],
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            service=SERVICE,
            handler="qip_metadata.handler.handler",
            environment={
                config.ENV_MAX_PIXELS: str(max_pixels),
                config.ENV_STORE_GPS: str(store_gps).lower(),
            },
            memory_size=memory_size,
            timeout_seconds=timeout_seconds,
            **props,
        )
