"""The thumbnail construct: runtime, entry point, environment, version stamp and no grants."""

from __future__ import annotations

from qip_shared.limits import FUNCTION_TIMEOUT_SECONDS
from qip_shared.testing.cdk import IMAGE_ENVIRONMENT, ServiceFunctionChecks
from qip_thumbnail.construct import ThumbnailFunction


class TestThumbnailFunction(ServiceFunctionChecks):
    construct = ThumbnailFunction
    handler = "qip_thumbnail.handler.handler"
    qip_environment = IMAGE_ENVIRONMENT
    memory_size = 1024
    timeout_seconds = FUNCTION_TIMEOUT_SECONDS["thumbnail"]
