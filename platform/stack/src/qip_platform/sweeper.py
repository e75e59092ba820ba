"""The sweeper: a schedule that ends FAILED the records an execution left PROCESSING."""

from __future__ import annotations

from typing import TypedDict, Unpack

from aws_cdk import Acknowledgment, ArnFormat, Duration, Stack, Validations
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from qip_platform.component import Component, allow
from qip_platform.functions import FunctionAssets
from qip_platform.stages import grant_common
from qip_platform.storage import Storage
from qip_shared.limits import Workflow, sweep_after_seconds
from qip_shared.record import STATUS_INDEX_NAME
from qip_sweeper.construct import SweeperFunction

SWEEP_EVERY = Duration.minutes(5)
EXECUTIONS_REASON = (
    "Executions of the one pipeline state machine (execution:<machine>:* and express:<machine>:*):"
    " their names are chosen at run time, so the machine's executions are the narrowest resource."
)


class SweeperProps(TypedDict):
    """The shared resources, the state machine and its workflow, the function assets."""

    storage: Storage
    state_machine: sfn.StateMachine
    workflow: str
    assets: FunctionAssets


class Sweeper(Component):
    """The sweeper function (`.function`), its grants and its schedule (`.schedule`)."""

    def __init__(self, scope: Construct, construct_id: str, **props: Unpack[SweeperProps]) -> None:
        super().__init__(scope, construct_id)
        storage, machine = props["storage"], props["state_machine"]
        sweeper = SweeperFunction(
            self,
            "Sweeper",
            upload_bucket=storage.upload_bucket,
            table=storage.table,
            topic=storage.topic,
            event_bus=storage.event_bus,
            state_machine=machine,
            sweep_after_seconds=sweep_after_seconds(Workflow(props["workflow"])),
            **props["assets"].props("sweeper"),
        )
        self.function: lambda_.Function = sweeper.function
        fn = self.function
        grant_common(sweeper, storage)
        index = f"{storage.table.table_arn}/index/{STATUS_INDEX_NAME}"
        allow(fn, "FindStuckRecords", ["dynamodb:Query"], [index])
        allow(fn, "FailStuckRecords", ["dynamodb:UpdateItem"], [storage.table.table_arn])
        stack = Stack.of(self)
        executions = [
            stack.format_arn(
                service="states",
                resource=kind,
                resource_name=f"{machine.state_machine_name}:*",
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            )
            for kind in ("execution", "express")
        ]
        allow(fn, "DescribeExecutions", ["states:DescribeExecution"], executions)
        assert fn.role is not None
        machine_id = stack.resolve(machine.state_machine_name)["Fn::GetAtt"][0]
        for kind in ("execution", "express"):
            finding = (
                "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:"
                f"<AWS::AccountId>:{kind}:<{machine_id}.Name>:*]"
            )
            Validations.of(fn.role).acknowledge(
                Acknowledgment(id=finding, reason=EXECUTIONS_REASON)
            )
        self.schedule = events.Rule(
            self,
            "SweepSchedule",
            description="Every 5 minutes: end FAILED the records an execution left PROCESSING",
            schedule=events.Schedule.rate(SWEEP_EVERY),
        )
        self.schedule.add_target(targets.LambdaFunction(fn, retry_attempts=0))
