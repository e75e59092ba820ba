"""Ingest: upload events -> processing queue -> trigger -> pipeline, and the upload audit log."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict, Unpack

import jsii
from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk.interfaces.aws_events import IRuleRef
from constructs import Construct

from qip_pipeline import names
from qip_platform.component import Component, StackSettings, allow, allow_objects
from qip_platform.functions import FunctionAssets
from qip_platform.stages import grant_common
from qip_platform.storage import Storage
from qip_shared import config, keys
from qip_trigger.construct import TriggerFunction

QUEUE_VISIBILITY = Duration.seconds(300)
QUEUE_RETENTION = Duration.days(4)
TRIGGER_BATCH_SIZE = 1
TRIGGER_MAX_CONCURRENCY = 10


@jsii.implements(events.IRuleTarget)
class _LogGroupTarget:
    """Rule target writing events to a log group whose resource policy the stack declares.

    CDK's `targets.CloudWatchLogGroup` installs that policy with a custom-resource Lambda; a plain
    `AWS::Logs::ResourcePolicy` does the same with no extra function to patch and audit.
    """

    def __init__(self, arn: str) -> None:
        self._arn = arn

    def bind(self, rule: IRuleRef, id: str | None = None) -> events.RuleTargetConfig:
        """The target's ARN (the log group, without the `:*` stream suffix)."""
        del rule, id
        return events.RuleTargetConfig(arn=self._arn)


def _event_pattern(pattern: Mapping[str, Any]) -> events.EventPattern:
    return events.EventPattern(
        source=pattern.get("source"),
        detail_type=pattern.get("detail-type"),
        detail=pattern.get("detail"),
    )


class IngestProps(TypedDict):
    """The shared resources, the state machine to start, the settings, the function assets."""

    storage: Storage
    state_machine: sfn.IStateMachine
    settings: StackSettings
    assets: FunctionAssets


class Ingest(Component):
    """The processing queue (its DLQ is storage's), the trigger, the upload rule and the audit
    trail."""

    def __init__(self, scope: Construct, construct_id: str, **props: Unpack[IngestProps]) -> None:
        super().__init__(scope, construct_id)
        storage = props["storage"]
        self.dlq = storage.dlq
        self.queue = sqs.Queue(
            self,
            "ProcessingQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            visibility_timeout=QUEUE_VISIBILITY,
            retention_period=QUEUE_RETENTION,
            dead_letter_queue=sqs.DeadLetterQueue(
                max_receive_count=config.MAX_RECEIVES, queue=self.dlq
            ),
        )
        self.function = self._trigger(props)
        upload_rule = events.Rule(
            self,
            "UploadCreatedRule",
            description="Upload bucket Object Created under uploads/ -> processing queue",
            event_pattern=_event_pattern(
                names.upload_event_pattern(storage.upload_bucket.bucket_name)
            ),
        )
        upload_rule.add_target(targets.SqsQueue(self.queue))
        self._audit_trail(storage)

    def _trigger(self, props: IngestProps) -> lambda_.Function:
        storage, settings = props["storage"], props["settings"]
        trigger = TriggerFunction(
            self,
            "Trigger",
            upload_bucket=storage.upload_bucket,
            table=storage.table,
            topic=storage.topic,
            event_bus=storage.event_bus,
            state_machine=props["state_machine"],
            max_bytes=settings.max_bytes,
            record_ttl_days=settings.record_ttl_days,
            max_receive_count=config.MAX_RECEIVES,
            **props["assets"].props("trigger"),
        )
        fn = trigger.function
        grant_common(trigger, storage)
        read = ["s3:GetObject", "s3:GetObjectVersion"]
        allow_objects(fn, "SniffUploads", read, storage.upload_bucket, keys.UPLOAD_PREFIX)
        # With ListBucket, S3 answers a vanished upload 404 (not 403), so it is acknowledged.
        fn.add_to_role_policy(
            iam.PolicyStatement(
                sid="ListUploads",
                actions=["s3:ListBucket"],
                resources=[storage.upload_bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{keys.UPLOAD_PREFIX}*"]}},
            )
        )
        record = ["dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem"]
        allow(fn, "CreateRecord", record, [storage.table.table_arn])
        start = [props["state_machine"].state_machine_arn]
        allow(fn, "StartPipeline", ["states:StartExecution"], start)
        # The event source grants the queue's receive/delete actions to this function only.
        fn.add_event_source(
            sources.SqsEventSource(
                self.queue,
                batch_size=TRIGGER_BATCH_SIZE,
                max_concurrency=TRIGGER_MAX_CONCURRENCY,
                report_batch_item_failures=True,
            )
        )
        return fn

    def _audit_trail(self, storage: Storage) -> None:
        """Every upload bucket object event into a log group kept for a year."""
        stack = Stack.of(self)
        self.audit_log_group = logs.LogGroup(
            self,
            "AuditLogGroup",
            log_group_name=f"/aws/events/{stack.stack_name}-upload-audit",
            retention=logs.RetentionDays.ONE_YEAR,
            removal_policy=RemovalPolicy.RETAIN,
        )
        audit_rule = events.Rule(
            self,
            "UploadAuditRule",
            description="Every upload bucket object event -> audit log group",
            event_pattern=events.EventPattern(
                source=["aws.s3"],
                detail={"bucket": {"name": [storage.upload_bucket.bucket_name]}},
            ),
        )
        logs.ResourcePolicy(
            self,
            "AuditLogPolicy",
            policy_statements=[
                iam.PolicyStatement(
                    principals=[
                        iam.ServicePrincipal("events.amazonaws.com"),
                        iam.ServicePrincipal("delivery.logs.amazonaws.com"),
                    ],
                    actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                    resources=[self.audit_log_group.log_group_arn],
                )
            ],
        )
        audit_rule.add_target(
            _LogGroupTarget(
                stack.format_arn(
                    service="logs",
                    resource="log-group",
                    resource_name=self.audit_log_group.log_group_name,
                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                )
            )
        )
