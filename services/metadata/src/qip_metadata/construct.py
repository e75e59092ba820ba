"""CDK construct of the metadata stage: its function, role and log group (the stack grants)."""

from __future__ import annotations

from typing import Unpack

from constructs import Construct

from qip_shared import config
from qip_shared.cdk import ImageFunction, ImageProps
from qip_shared.limits import FUNCTION_TIMEOUT_SECONDS


class MetadataFunction(ImageFunction):
    """The metadata Lambda: extracts dimensions, format and EXIF into the image record."""

    SERVICE = "metadata"
    MEMORY_SIZE = 512
    TIMEOUT_SECONDS = FUNCTION_TIMEOUT_SECONDS[SERVICE]
    HANDLER = "qip_metadata.handler.handler"

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        store_gps: bool = False,
        **props: Unpack[ImageProps],
    ) -> None:
        environment = {config.ENV_STORE_GPS: str(store_gps).lower()}
        super().__init__(scope, construct_id, environment=environment, **props)
