"""The resize construct: runtime, entry point, environment, version stamp and no grants."""

from __future__ import annotations

from qip_resize.construct import ResizeFunction
from qip_shared.limits import FUNCTION_TIMEOUT_SECONDS
from qip_shared.testing.cdk import IMAGE_ENVIRONMENT, ServiceFunctionChecks


class TestResizeFunction(ServiceFunctionChecks):
    construct = ResizeFunction
    handler = "qip_resize.handler.handler"
    qip_environment = IMAGE_ENVIRONMENT
    memory_size = 1536
    timeout_seconds = FUNCTION_TIMEOUT_SECONDS["resize"]
