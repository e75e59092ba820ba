"""The metadata construct: runtime, entry point, environment, version stamp and no grants."""

from __future__ import annotations

from qip_metadata.construct import MetadataFunction
from qip_shared import config
from qip_shared.limits import FUNCTION_TIMEOUT_SECONDS
from qip_shared.testing.cdk import IMAGE_ENVIRONMENT, ServiceFunctionChecks


class TestMetadataFunction(ServiceFunctionChecks):
    construct = MetadataFunction
    handler = "qip_metadata.handler.handler"
    qip_environment = IMAGE_ENVIRONMENT | {config.ENV_STORE_GPS}
    memory_size = 512
    timeout_seconds = FUNCTION_TIMEOUT_SECONDS["metadata"]
