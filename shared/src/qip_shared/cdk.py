"""The CDK base of every service construct: one function, its own role and its own log group.

Build time only (extra `cdk`). A service construct subclasses `ServiceFunction`
(`PipelineFunction` when it works on upload records, `ImageFunction` when it also decodes them)
and states only what is its own: its name and handler, the `QIP_*` settings it reads and its
memory/timeout defaults (class constants; the keywords override them). Code, layers and the
runtime come from the stack (it holds the one runtime version). Grants are the stack's job:
the role has no managed policy and only the X-Ray statement that active tracing adds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar, NotRequired, TypedDict, Unpack

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

__all__ = [
    "DEFAULT_ARCHITECTURE",
    "DEFAULT_LOG_RETENTION",
    "FunctionProps",
    "ImageFunction",
    "ImageProps",
    "PipelineFunction",
    "PipelineProps",
    "ServiceFunction",
]

DEFAULT_ARCHITECTURE = lambda_.Architecture.ARM_64
DEFAULT_LOG_RETENTION = logs.RetentionDays.ONE_MONTH


class FunctionProps(TypedDict):
    """What the stack hands every service construct (its `**kwargs` besides the resources)."""

    code: lambda_.Code
    layers: Sequence[lambda_.ILayerVersion]
    runtime: lambda_.Runtime
    version: str
    architecture: NotRequired[lambda_.Architecture]
    log_retention: NotRequired[logs.RetentionDays]
    memory_size: NotRequired[int]
    timeout_seconds: NotRequired[int]


class PipelineProps(FunctionProps):
    """`FunctionProps` plus the shared resources of a function that works on upload records."""

    upload_bucket: s3.IBucket
    table: dynamodb.ITable
    topic: sns.ITopic
    event_bus: events.IEventBus


class ImageProps(PipelineProps):
    """`PipelineProps` plus the decoder's pixel limit."""

    max_pixels: NotRequired[int]


class ServiceFunction(Construct):
    """One QIP Lambda (`.function`) with its own role (`.role`) and log group (`.log_group`)."""

    # What a subclass states once; the keywords of the same names override them.
    SERVICE: ClassVar[str]
    HANDLER: ClassVar[str]
    MEMORY_SIZE: ClassVar[int] = 256
    TIMEOUT_SECONDS: ClassVar[int] = 30

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: lambda_.Code,
        layers: Sequence[lambda_.ILayerVersion],
        runtime: lambda_.Runtime,
        version: str,
        environment: Mapping[str, str] | None = None,
        service: str | None = None,
        handler: str | None = None,
        memory_size: int | None = None,
        timeout_seconds: int | None = None,
        architecture: lambda_.Architecture = DEFAULT_ARCHITECTURE,
        log_retention: logs.RetentionDays = DEFAULT_LOG_RETENTION,
    ) -> None:
        super().__init__(scope, construct_id)
        service = self.SERVICE if service is None else service
        handler = self.HANDLER if handler is None else handler
        memory_size = self.MEMORY_SIZE if memory_size is None else memory_size
        timeout_seconds = self.TIMEOUT_SECONDS if timeout_seconds is None else timeout_seconds
        self.service = service
        variables = {
            **(environment or {}),
            config.ENV_SERVICE_VERSION: version,
            "POWERTOOLS_SERVICE_NAME": f"qip-{service}",
            config.ENV_METRICS_NAMESPACE: config.METRICS_NAMESPACE,
        }
        # An explicit log group: retention without the LogRetention custom resource.
        self.log_group = logs.LogGroup(
            self, "LogGroup", retention=log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        # A role of its own with no managed policy: the stack adds exactly what the function uses.
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"qip-{service} {version}",
        )
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=runtime,
            architecture=architecture,
            handler=handler,
            code=code,
            layers=list(layers),
            role=self.role,
            log_group=self.log_group,
            tracing=lambda_.Tracing.ACTIVE,
            memory_size=memory_size,
            timeout=Duration.seconds(timeout_seconds),
            description=f"QIP {service} {version}",
            environment=variables,
        )
        Tags.of(self).add("qip:service", service)
        Tags.of(self).add("qip:version", version)


class PipelineFunction(ServiceFunction):
    """A `ServiceFunction` told where uploads, records, events and notifications live."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        upload_bucket: s3.IBucket,
        table: dynamodb.ITable,
        topic: sns.ITopic,
        event_bus: events.IEventBus,
        environment: Mapping[str, str] | None = None,
        service: str | None = None,
        handler: str | None = None,
        **props: Unpack[FunctionProps],
    ) -> None:
        shared = {
            config.ENV_UPLOAD_BUCKET: upload_bucket.bucket_name,
            config.ENV_TABLE_NAME: table.table_name,
            config.ENV_TOPIC_ARN: topic.topic_arn,
            config.ENV_EVENT_BUS_NAME: event_bus.event_bus_name,
        }
        super().__init__(
            scope,
            construct_id,
            service=service,
            handler=handler,
            environment={**shared, **(environment or {})},
            **props,
        )


class ImageFunction(PipelineFunction):
    """A `PipelineFunction` that decodes uploads, told the pixel limit (`QIP_MAX_PIXELS`)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        max_pixels: int = config.DEFAULT_MAX_PIXELS,
        environment: Mapping[str, str] | None = None,
        **props: Unpack[PipelineProps],
    ) -> None:
        pixels = {config.ENV_MAX_PIXELS: str(max_pixels)}
        super().__init__(
            scope, construct_id, environment={**pixels, **(environment or {})}, **props
        )
