"""CDK construct of the resize stage: its function, role and log group (the stack grants)."""

from __future__ import annotations

from qip_shared.cdk import ImageFunction
from qip_shared.limits import FUNCTION_TIMEOUT_SECONDS


class ResizeFunction(ImageFunction):
    """The resize Lambda: fits the upload into 1024x768 and writes `processed/{id}/resized.jpg`."""

    SERVICE = "resize"
    MEMORY_SIZE = 1536
    TIMEOUT_SECONDS = FUNCTION_TIMEOUT_SECONDS[SERVICE]
    HANDLER = "qip_resize.handler.handler"
