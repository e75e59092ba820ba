"""CDK construct of the validate stage: its function, role and log group (the stack grants)."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, RemovalPolicy, Tags
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from qip_shared import config

SERVICE = "validate"


class ValidateFunction(Construct):
    """The validate Lambda: checks that the upload is an acceptable image."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: lambda_.Code,
        layers: Sequence[lambda_.ILayerVersion],
        version: str,
        upload_bucket: s3.IBucket,
        table: dynamodb.ITable,
        topic: sns.ITopic,
        event_bus: events.IEventBus,
        max_bytes: int = config.DEFAULT_MAX_BYTES,
        max_pixels: int = config.DEFAULT_MAX_PIXELS,
        architecture: lambda_.Architecture = lambda_.Architecture.ARM_64,
        memory_size: int = 512,
        timeout_seconds: int = 30,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
    ) -> None:
        super().__init__(scope, construct_id)
        environment = {
            config.ENV_UPLOAD_BUCKET: upload_bucket.bucket_name,
            config.ENV_TABLE_NAME: table.table_name,
            config.ENV_TOPIC_ARN: topic.topic_arn,
            config.ENV_EVENT_BUS_NAME: event_bus.event_bus_name,
            config.ENV_MAX_BYTES: str(max_bytes),
            config.ENV_MAX_PIXELS: str(max_pixels),
            config.ENV_SERVICE_VERSION: version,
            "POWERTOOLS_SERVICE_NAME": f"qip-{SERVICE}",
            "POWERTOOLS_METRICS_NAMESPACE": "QIP",
        }
        self.log_group = logs.LogGroup(
            self, "LogGroup", retention=log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        # A role of its own with no managed policy: the stack adds exactly what the function uses.
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"qip-{SERVICE} {version}",
        )
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=lambda_.Runtime.PYTHON_3_14,
            architecture=architecture,
            handler="qip_validate.handler.handler",
            code=code,
            layers=list(layers),
            role=self.role,
            log_group=self.log_group,
            tracing=lambda_.Tracing.ACTIVE,
            memory_size=memory_size,
            timeout=Duration.seconds(timeout_seconds),
            description=f"QIP {SERVICE} {version}",
            environment=environment,
        )
        Tags.of(self).add("qip:service", SERVICE)
        Tags.of(self).add("qip:version", version)
