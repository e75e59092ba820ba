"""CDK construct of the resize stage: its function, role and log group (the stack grants)."""

from __future__ import annotations

from qip_shared.cdk import ImageFunction


class ResizeFunction(ImageFunction):
    """The resize Lambda: fits the upload into 1024x768 and writes `processed/{id}/resized.jpg`."""

    SERVICE = "resize"
    MEMORY_SIZE = 1536
    TIMEOUT_SECONDS = 60
    HANDLER = "qip_resize.handler.handler"
