"""CDK construct of the thumbnail stage: its function, role and log group (the stack grants)."""

from __future__ import annotations

from qip_shared.cdk import ImageFunction
from qip_shared.limits import FUNCTION_TIMEOUT_SECONDS


class ThumbnailFunction(ImageFunction):
    """The thumbnail Lambda: crops the upload to a 200x200 `processed/{id}/thumbnail.jpg`."""

    SERVICE = "thumbnail"
    MEMORY_SIZE = 1024
    TIMEOUT_SECONDS = FUNCTION_TIMEOUT_SECONDS[SERVICE]
    HANDLER = "qip_thumbnail.handler.handler"
