"""The sweeper construct: runtime, entry point, environment, version stamp and no grants."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_stepfunctions as sfn

from qip_shared import config
from qip_shared.limits import FUNCTION_TIMEOUT_SECONDS
from qip_shared.testing.cdk import PIPELINE_ENVIRONMENT, ServiceFunctionChecks
from qip_sweeper.construct import SweeperFunction


class TestSweeperFunction(ServiceFunctionChecks):
    construct = SweeperFunction
    handler = "qip_sweeper.handler.handler"
    qip_environment = PIPELINE_ENVIRONMENT | {
        config.ENV_STATE_MACHINE_ARN,
        config.ENV_SWEEP_AFTER_SECONDS,
    }
    memory_size = 256
    timeout_seconds = FUNCTION_TIMEOUT_SECONDS["sweeper"]

    @classmethod
    def resources(cls, stack: Stack) -> Mapping[str, Any]:
        arn = "arn:aws:states:us-east-1:123456789012:stateMachine:qip"
        return {
            "state_machine": sfn.StateMachine.from_state_machine_arn(stack, "Pipeline", arn),
            "sweep_after_seconds": 330,
        }
