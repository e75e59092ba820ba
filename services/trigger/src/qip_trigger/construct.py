"""CDK construct of the ingest trigger: its function, role and log group (the stack grants)."""

from __future__ import annotations

from typing import Unpack

from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from qip_shared import config
from qip_shared.cdk import PipelineFunction, PipelineProps
from qip_shared.limits import FUNCTION_TIMEOUT_SECONDS


class TriggerFunction(PipelineFunction):
    """The trigger Lambda: turns a queued upload event into a record and a pipeline execution."""

    SERVICE = "trigger"
    MEMORY_SIZE = 256
    TIMEOUT_SECONDS = FUNCTION_TIMEOUT_SECONDS[SERVICE]
    HANDLER = "qip_trigger.handler.handler"

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        state_machine: sfn.IStateMachine,
        max_bytes: int = config.DEFAULT_MAX_BYTES,
        record_ttl_days: int | None = None,
        max_receive_count: int = config.MAX_RECEIVES,
        **props: Unpack[PipelineProps],
    ) -> None:
        environment = {
            config.ENV_STATE_MACHINE_ARN: state_machine.state_machine_arn,
            config.ENV_MAX_BYTES: str(max_bytes),
            # The queue's redrive count: the trigger knows a delivery is the last before the DLQ.
            config.ENV_MAX_RECEIVE_COUNT: str(max_receive_count),
        }
        if record_ttl_days is not None:
            environment[config.ENV_RECORD_TTL_DAYS] = str(record_ttl_days)
        super().__init__(scope, construct_id, environment=environment, **props)
