"""The pipeline: the state machine deployed verbatim from `definition_json(stages)`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypedDict, Unpack

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from qip_pipeline.definition import (
    DEAD_LETTER_QUEUE_PLACEHOLDER,
    EVENT_BUS_PLACEHOLDER,
    FUNCTION_PLACEHOLDERS,
    HANDLE_ERROR_STATE,
    TABLE_PLACEHOLDER,
    TOPIC_PLACEHOLDER,
    definition_json,
)
from qip_platform.component import Component
from qip_platform.storage import Storage
from qip_shared.config import METRICS_NAMESPACE
from qip_shared.enums import StageName

WORKFLOWS = {"EXPRESS": sfn.StateMachineType.EXPRESS, "STANDARD": sfn.StateMachineType.STANDARD}


class PipelineProps(TypedDict):
    """The stage functions in order, the workflow type, the shared resources, log retention."""

    stage_functions: Mapping[StageName, lambda_.IFunction]
    workflow: str
    storage: Storage
    log_retention: logs.RetentionDays


class Pipeline(Component):
    """The state machine (`.state_machine`), its log group, and exactly the grants it needs."""

    def __init__(self, scope: Construct, construct_id: str, **props: Unpack[PipelineProps]) -> None:
        super().__init__(scope, construct_id)
        storage, functions = props["storage"], props["stage_functions"]
        substitutions = {
            FUNCTION_PLACEHOLDERS[stage]: fn.function_arn for stage, fn in functions.items()
        }
        substitutions[TOPIC_PLACEHOLDER] = storage.topic.topic_arn
        substitutions[TABLE_PLACEHOLDER] = storage.table.table_name
        substitutions[EVENT_BUS_PLACEHOLDER] = storage.event_bus.event_bus_name
        substitutions[DEAD_LETTER_QUEUE_PLACEHOLDER] = storage.dlq.queue_url
        self.log_group = logs.LogGroup(
            self,
            "PipelineLogGroup",
            # The vendedlogs prefix keeps Step Functions off the account's log resource policy.
            log_group_name=f"/aws/vendedlogs/states/{Stack.of(self).stack_name}-pipeline",
            retention=props["log_retention"],
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.definition = definition_json(list(functions), props["workflow"])
        self.state_machine = sfn.StateMachine(
            self,
            "Pipeline",
            definition_body=sfn.DefinitionBody.from_string(self.definition),
            definition_substitutions=substitutions,
            state_machine_type=WORKFLOWS[props["workflow"]],
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=True
            ),
        )
        # A failed image is counted once, where the machine records it FAILED (not per attempt).
        logs.MetricFilter(
            self,
            "PipelineFailuresFilter",
            log_group=self.log_group,
            metric_namespace=METRICS_NAMESPACE,
            metric_name="PipelineFailures",
            metric_value="1",
            filter_pattern=logs.FilterPattern.all(
                logs.FilterPattern.string_value("$.type", "=", "TaskStateEntered"),
                logs.FilterPattern.string_value("$.details.name", "=", HANDLE_ERROR_STATE),
            ),
        )
        # from_string grants nothing by itself: exactly its functions, topic, table, bus, DLQ.
        self._allow(
            "InvokeStageFunctions",
            ["lambda:InvokeFunction"],
            [fn.function_arn for fn in functions.values()],
        )
        self._allow("PublishOutcome", ["sns:Publish"], [storage.topic.topic_arn])
        self._allow("MarkRecord", ["dynamodb:UpdateItem"], [storage.table.table_arn])
        self._allow("AnnounceOutcome", ["events:PutEvents"], [storage.event_bus.event_bus_arn])
        self._allow("DeadLetterFailure", ["sqs:SendMessage"], [storage.dlq.queue_arn])

    def _allow(self, sid: str, actions: list[str], resources: Sequence[str]) -> None:
        self.state_machine.add_to_role_policy(
            iam.PolicyStatement(sid=sid, actions=actions, resources=list(resources))
        )
