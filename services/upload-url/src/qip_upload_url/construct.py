"""CDK construct of the upload-url endpoint: its function, role and log group (the stack grants)."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, RemovalPolicy, Tags
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from qip_shared import config

SERVICE = "upload-url"


class UploadUrlFunction(Construct):
    """The upload-url Lambda: signs browser POST uploads to `uploads/yyyy/mm/dd/{uuid}.{ext}`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: lambda_.Code,
        layers: Sequence[lambda_.ILayerVersion],
        version: str,
        upload_bucket: s3.IBucket,
        max_bytes: int = config.DEFAULT_MAX_BYTES,
        upload_url_expires: int = config.DEFAULT_UPLOAD_URL_EXPIRES,
        architecture: lambda_.Architecture = lambda_.Architecture.ARM_64,
        memory_size: int = 256,
        timeout_seconds: int = 10,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
    ) -> None:
        super().__init__(scope, construct_id)
        environment = {
            config.ENV_UPLOAD_BUCKET: upload_bucket.bucket_name,
            config.ENV_MAX_BYTES: str(max_bytes),
            config.ENV_UPLOAD_URL_EXPIRES: str(upload_url_expires),
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
            handler="qip_upload_url.handler.handler",
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
