"""The validate construct: runtime, entry point, environment, version stamp and no grants."""

from __future__ import annotations

from qip_shared import config
from qip_shared.limits import FUNCTION_TIMEOUT_SECONDS
from qip_shared.testing.cdk import IMAGE_ENVIRONMENT, ServiceFunctionChecks
from qip_validate.construct import ValidateFunction


class TestValidateFunction(ServiceFunctionChecks):
    construct = ValidateFunction
    handler = "qip_validate.handler.handler"
    qip_environment = IMAGE_ENVIRONMENT | {config.ENV_MAX_BYTES}
    memory_size = 512
    timeout_seconds = FUNCTION_TIMEOUT_SECONDS["validate"]
