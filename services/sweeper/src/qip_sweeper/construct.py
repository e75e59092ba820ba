"""CDK construct of the sweeper: its function, role and log group (the stack grants)."""

from __future__ import annotations

from typing import Unpack

from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from qip_shared.cdk import PipelineFunction, PipelineProps
from qip_shared.config import ENV_STATE_MACHINE_ARN, ENV_SWEEP_AFTER_SECONDS
from qip_shared.limits import FUNCTION_TIMEOUT_SECONDS


class SweeperFunction(PipelineFunction):
    """The sweeper Lambda: ends FAILED the records an execution left PROCESSING past its cap."""

    SERVICE = "sweeper"
    MEMORY_SIZE = 256
    TIMEOUT_SECONDS = FUNCTION_TIMEOUT_SECONDS[SERVICE]
    HANDLER = "qip_sweeper.handler.handler"

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        state_machine: sfn.IStateMachine,
        sweep_after_seconds: int,
        **props: Unpack[PipelineProps],
    ) -> None:
        environment = {
            ENV_STATE_MACHINE_ARN: state_machine.state_machine_arn,
            ENV_SWEEP_AFTER_SECONDS: str(sweep_after_seconds),
        }
        super().__init__(scope, construct_id, environment=environment, **props)
