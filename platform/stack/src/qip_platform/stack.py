"""The deployable system: any stage selection composed into one least-privilege CDK stack.

Service constructs make the functions (code, layers, environment, version); this stack creates
the shared resources and grants each function exactly the actions it uses, one statement per need
(see `FUNCTION_NEEDS` in the infra tests). The state machine is `definition_json(stages)`,
deployed verbatim with `DefinitionSubstitutions`, the same text the local runtime runs on moto.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import (
    Acknowledgment,
    ArnFormat,
    CfnElement,
    CfnOutput,
    Duration,
    RemovalPolicy,
    Stack,
    Tags,
    Validations,
)
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk.interfaces.aws_events import IRuleRef
from constructs import Construct, IConstruct

from qip_archive.construct import ArchiveFunction
from qip_metadata.construct import MetadataFunction
from qip_pipeline import names
from qip_pipeline.definition import (
    ALL_STAGES,
    DEAD_LETTER_QUEUE_PLACEHOLDER,
    EVENT_BUS_PLACEHOLDER,
    FUNCTION_PLACEHOLDERS,
    TABLE_PLACEHOLDER,
    TOPIC_PLACEHOLDER,
    StageSelectionError,
    definition_json,
    parse_stages,
)
from qip_platform.bundle import bundle_service
from qip_platform.layers import LayerDirs
from qip_platform.monitoring import Monitoring
from qip_platform.versions import needs_pillow, service_version
from qip_resize.construct import ResizeFunction
from qip_shared import config, keys
from qip_shared.enums import StageName
from qip_shared.record import (
    STATUS_INDEX_NAME,
    STATUS_INDEX_PARTITION_KEY,
    STATUS_INDEX_SORT_KEY,
    TTL_ATTRIBUTE,
)
from qip_thumbnail.construct import ThumbnailFunction
from qip_trigger.construct import TriggerFunction
from qip_upload_url.construct import UploadUrlFunction
from qip_validate.construct import ValidateFunction

WORKFLOWS = {"EXPRESS": sfn.StateMachineType.EXPRESS, "STANDARD": sfn.StateMachineType.STANDARD}
ARCHITECTURES = {"arm64": lambda_.Architecture.ARM_64, "x86_64": lambda_.Architecture.X86_64}
QUEUE_VISIBILITY = Duration.seconds(300)
QUEUE_RETENTION = Duration.days(4)
MAX_RECEIVES = 3
TRIGGER_BATCH_SIZE = 1
TRIGGER_MAX_CONCURRENCY = 10


@dataclass(frozen=True)
class StackSettings:
    """Deployment settings that reach the functions through their environment."""

    max_bytes: int = config.DEFAULT_MAX_BYTES
    max_pixels: int = config.DEFAULT_MAX_PIXELS
    store_gps: bool = False
    delete_upload: bool = False
    upload_url_expires: int = config.DEFAULT_UPLOAD_URL_EXPIRES
    record_ttl_days: int | None = None
    cors_origins: tuple[str, ...] = ("*",)
    log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH


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


class QipStack(Stack):
    """The whole pipeline for a stage selection (default: every stage, Express workflow)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        layer_dirs: LayerDirs,
        build_dir: Path,
        stages: Sequence[str | StageName] = ALL_STAGES,
        workflow: str = "EXPRESS",
        architecture: str = "arm64",
        settings: StackSettings | None = None,
        **kwargs: Any,
    ) -> None:
        self.stages = parse_stages(stages)
        if workflow.upper() not in WORKFLOWS:
            raise StageSelectionError(f"unknown workflow {workflow!r}; choose EXPRESS or STANDARD")
        if architecture not in ARCHITECTURES:
            raise StageSelectionError(
                f"unknown architecture {architecture!r}; choose {' or '.join(ARCHITECTURES)}"
            )
        super().__init__(scope, construct_id, **kwargs)
        self.workflow = workflow.upper()
        self.settings = settings or StackSettings()
        self._architecture = ARCHITECTURES[architecture]
        self._build_dir = build_dir
        Tags.of(self).add("qip:stages", "+".join(s.value for s in self.stages))

        self._storage()
        self._data()
        self._layers(layer_dirs)
        self.stage_functions = self._stage_functions()
        self._state_machine()
        self._ingest()
        self._upload_api()
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            state_machine=self.state_machine,
            functions=dict(self.functions),
            queue=self.queue,
            dlq=self.dlq,
        )
        self._outputs()
        self._acknowledge()

    # -- resources ---------------------------------------------------------------------------

    def _bucket(self, construct_id: str, log_prefix: str, **kwargs: Any) -> s3.Bucket:
        """A private, encrypted, TLS-only, versioned bucket that logs its access."""
        return s3.Bucket(
            self,
            construct_id,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            versioned=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix=log_prefix,
            removal_policy=RemovalPolicy.RETAIN,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="glacier-after-90-days",
                    transitions=[
                        s3.Transition(
                            storage_class=s3.StorageClass.GLACIER,
                            transition_after=Duration.days(90),
                        )
                    ],
                    noncurrent_version_expiration=Duration.days(30),
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                )
            ],
            **kwargs,
        )

    def _storage(self) -> None:
        self.access_logs = s3.Bucket(
            self,
            "AccessLogBucket",
            encryption=s3.BucketEncryption.S3_MANAGED,  # log delivery cannot write SSE-KMS
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            removal_policy=RemovalPolicy.RETAIN,
            lifecycle_rules=[
                s3.LifecycleRule(id="expire-after-1-year", expiration=Duration.days(365))
            ],
        )
        self.upload_bucket = self._bucket(
            "UploadBucket",
            "upload-bucket/",
            cors=[
                s3.CorsRule(
                    allowed_methods=[s3.HttpMethods.POST],
                    allowed_origins=list(self.settings.cors_origins),
                    allowed_headers=["*"],
                    max_age=3000,
                )
            ],
        )
        # Native EventBridge switch instead of CDK's notifications custom resource (and its Lambda).
        upload_cfn = self.upload_bucket.node.default_child
        assert isinstance(upload_cfn, s3.CfnBucket)
        upload_cfn.add_property_override(
            "NotificationConfiguration.EventBridgeConfiguration.EventBridgeEnabled", True
        )
        self.archive_bucket = self._bucket("ArchiveBucket", "archive-bucket/")

    def _data(self) -> None:
        self.table = dynamodb.Table(
            self,
            "ImageTable",
            partition_key=dynamodb.Attribute(name="imageKey", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=TTL_ATTRIBUTE,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.table.add_global_secondary_index(
            index_name=STATUS_INDEX_NAME,
            partition_key=dynamodb.Attribute(
                name=STATUS_INDEX_PARTITION_KEY, type=dynamodb.AttributeType.STRING
            ),
            sort_key=dynamodb.Attribute(
                name=STATUS_INDEX_SORT_KEY, type=dynamodb.AttributeType.STRING
            ),
            projection_type=dynamodb.ProjectionType.ALL,
        )
        # The AWS-managed SNS key: SSE at rest without a key policy to maintain; in-account
        # publishers (functions, the state machine) may use it through SNS.
        self.topic = sns.Topic(
            self,
            "NotificationTopic",
            master_key=kms.Alias.from_alias_name(self, "SnsKey", "alias/aws/sns"),
            enforce_ssl=True,
        )
        self.event_bus = events.EventBus.from_event_bus_name(self, "DefaultBus", "default")
        self.dlq = sqs.Queue(
            self,
            "ProcessingDlq",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        self.queue = sqs.Queue(
            self,
            "ProcessingQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            visibility_timeout=QUEUE_VISIBILITY,
            retention_period=QUEUE_RETENTION,
            dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=MAX_RECEIVES, queue=self.dlq),
        )

    def _layers(self, layer_dirs: LayerDirs) -> None:
        def layer(construct_id: str, path: Path, what: str) -> lambda_.LayerVersion:
            return lambda_.LayerVersion(
                self,
                construct_id,
                code=lambda_.Code.from_asset(str(path)),
                compatible_runtimes=[lambda_.Runtime.PYTHON_3_14],
                compatible_architectures=[self._architecture],
                description=f"QIP {what} ({path.name})",
            )

        self.deps_layer = layer("DepsLayer", layer_dirs.deps, "pydantic, powertools, xray")
        self.pillow_layer = layer("PillowLayer", layer_dirs.pillow, "Pillow")

    def _function_kwargs(self, service: str) -> dict[str, Any]:
        """What every service construct receives: code, layers, version, architecture."""
        layers: list[lambda_.ILayerVersion] = [self.deps_layer]
        if needs_pillow(service):
            layers.append(self.pillow_layer)
        return {
            "code": lambda_.Code.from_asset(str(bundle_service(service, self._build_dir))),
            "layers": layers,
            "version": service_version(service),
            "architecture": self._architecture,
            "log_retention": self.settings.log_retention,
        }

    def _stage_functions(self) -> dict[StageName, lambda_.Function]:
        common = {
            "upload_bucket": self.upload_bucket,
            "table": self.table,
            "topic": self.topic,
            "event_bus": self.event_bus,
        }
        s = self.settings
        self.functions: dict[str, lambda_.Function] = {}
        made: dict[StageName, lambda_.Function] = {}
        for stage in self.stages:
            service = names.STAGE_SERVICES[stage]
            kwargs = self._function_kwargs(service) | common
            construct: Any
            if stage is StageName.VALIDATION:
                construct = ValidateFunction(
                    self, "Validate", max_bytes=s.max_bytes, max_pixels=s.max_pixels, **kwargs
                )
            elif stage is StageName.METADATA:
                construct = MetadataFunction(
                    self, "Metadata", max_pixels=s.max_pixels, store_gps=s.store_gps, **kwargs
                )
            elif stage is StageName.RESIZE:
                construct = ResizeFunction(self, "Resize", max_pixels=s.max_pixels, **kwargs)
            elif stage is StageName.THUMBNAIL:
                construct = ThumbnailFunction(self, "Thumbnail", max_pixels=s.max_pixels, **kwargs)
            else:
                construct = ArchiveFunction(
                    self,
                    "Archive",
                    archive_bucket=self.archive_bucket,
                    delete_upload=s.delete_upload,
                    **kwargs,
                )
            made[stage] = construct.function
            self.functions[service] = construct.function
            self._grant_stage(stage, construct)
        return made

    # -- grants: one statement per need ------------------------------------------------------

    @staticmethod
    def _allow(fn: lambda_.Function, sid: str, actions: list[str], resources: list[str]) -> None:
        fn.add_to_role_policy(iam.PolicyStatement(sid=sid, actions=actions, resources=resources))

    def _allow_objects(
        self, fn: lambda_.Function, sid: str, actions: list[str], bucket: s3.IBucket, prefix: str
    ) -> None:
        """Actions on the objects under one key prefix of one bucket (never the whole bucket)."""
        self._allow(fn, sid, actions, [bucket.arn_for_objects(f"{prefix}*")])
        assert fn.role is not None
        finding = f"AwsSolutions-IAM5[Resource::<{self._logical(bucket)}.Arn>/{prefix}*]"
        Validations.of(fn.role).acknowledge(Acknowledgment(id=finding, reason=_PREFIX_REASON))

    def _grant_common(self, construct: Any) -> None:
        """Its own log group, its record, its events and notifications."""
        fn = construct.function
        self._allow(
            fn,
            "WriteOwnLogs",
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            [construct.log_group.log_group_arn],
        )
        self._allow(fn, "PublishEvents", ["events:PutEvents"], [self.event_bus.event_bus_arn])
        self._allow(fn, "PublishNotifications", ["sns:Publish"], [self.topic.topic_arn])

    def _grant_stage(self, stage: StageName, construct: Any) -> None:
        fn = construct.function
        self._grant_common(construct)
        self._allow(
            fn, "UpdateRecord", ["dynamodb:GetItem", "dynamodb:UpdateItem"], [self.table.table_arn]
        )
        uploads, processed = keys.UPLOAD_PREFIX, keys.PROCESSED_PREFIX
        # Stages read the exact object version they were started for.
        actions = ["s3:GetObject", "s3:GetObjectVersion"]
        self._allow_objects(fn, "ReadUploads", actions, self.upload_bucket, uploads)
        if stage in (StageName.RESIZE, StageName.THUMBNAIL):
            self._allow_objects(
                fn, "WriteProcessed", ["s3:PutObject"], self.upload_bucket, processed
            )
        if stage is StageName.ARCHIVE:
            self._allow_objects(
                fn, "ReadProcessed", ["s3:GetObject"], self.upload_bucket, processed
            )
            self._allow_objects(
                fn, "WriteArchive", ["s3:PutObject"], self.archive_bucket, keys.ARCHIVE_PREFIX
            )
            if self.settings.delete_upload:
                actions = ["s3:DeleteObject", "s3:DeleteObjectVersion"]
                self._allow_objects(fn, "DeleteUploads", actions, self.upload_bucket, uploads)

    # -- orchestration -----------------------------------------------------------------------

    def _state_machine(self) -> None:
        substitutions = {
            FUNCTION_PLACEHOLDERS[stage]: fn.function_arn
            for stage, fn in self.stage_functions.items()
        }
        substitutions[TOPIC_PLACEHOLDER] = self.topic.topic_arn
        substitutions[TABLE_PLACEHOLDER] = self.table.table_name
        substitutions[EVENT_BUS_PLACEHOLDER] = self.event_bus.event_bus_name
        substitutions[DEAD_LETTER_QUEUE_PLACEHOLDER] = self.dlq.queue_url
        self.pipeline_log_group = logs.LogGroup(
            self,
            "PipelineLogGroup",
            # The vendedlogs prefix keeps Step Functions off the account's log resource policy.
            log_group_name=f"/aws/vendedlogs/states/{self.stack_name}-pipeline",
            retention=self.settings.log_retention,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.definition = definition_json(self.stages)
        self.state_machine = sfn.StateMachine(
            self,
            "Pipeline",
            definition_body=sfn.DefinitionBody.from_string(self.definition),
            definition_substitutions=substitutions,
            state_machine_type=WORKFLOWS[self.workflow],
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=self.pipeline_log_group,
                level=sfn.LogLevel.ALL,
                include_execution_data=True,
            ),
        )
        # from_string grants nothing by itself: exactly its functions, its topic, its table.
        self.state_machine.add_to_role_policy(
            iam.PolicyStatement(
                sid="InvokeStageFunctions",
                actions=["lambda:InvokeFunction"],
                resources=[fn.function_arn for fn in self.stage_functions.values()],
            )
        )
        self.state_machine.add_to_role_policy(
            iam.PolicyStatement(
                sid="PublishOutcome", actions=["sns:Publish"], resources=[self.topic.topic_arn]
            )
        )
        self.state_machine.add_to_role_policy(
            iam.PolicyStatement(
                sid="MarkRecord", actions=["dynamodb:UpdateItem"], resources=[self.table.table_arn]
            )
        )
        self.state_machine.add_to_role_policy(
            iam.PolicyStatement(
                sid="AnnounceOutcome",
                actions=["events:PutEvents"],
                resources=[self.event_bus.event_bus_arn],
            )
        )
        self.state_machine.add_to_role_policy(
            iam.PolicyStatement(
                sid="DeadLetterFailure", actions=["sqs:SendMessage"], resources=[self.dlq.queue_arn]
            )
        )

    def _ingest(self) -> None:
        s = self.settings
        trigger = TriggerFunction(
            self,
            "Trigger",
            upload_bucket=self.upload_bucket,
            table=self.table,
            topic=self.topic,
            event_bus=self.event_bus,
            state_machine=self.state_machine,
            max_bytes=s.max_bytes,
            record_ttl_days=s.record_ttl_days,
            **self._function_kwargs("trigger"),
        )
        fn = trigger.function
        self.functions["trigger"] = fn
        self._grant_common(trigger)
        self._allow_objects(
            fn,
            "SniffUploads",
            ["s3:GetObject", "s3:GetObjectVersion"],
            self.upload_bucket,
            keys.UPLOAD_PREFIX,
        )
        self._allow(
            fn,
            "CreateRecord",
            ["dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem"],
            [self.table.table_arn],
        )
        self._allow(
            fn, "StartPipeline", ["states:StartExecution"], [self.state_machine.state_machine_arn]
        )
        # The event source grants the queue's receive/delete actions to this function only.
        fn.add_event_source(
            sources.SqsEventSource(
                self.queue,
                batch_size=TRIGGER_BATCH_SIZE,
                max_concurrency=TRIGGER_MAX_CONCURRENCY,
                report_batch_item_failures=True,
            )
        )

        upload_rule = events.Rule(
            self,
            "UploadCreatedRule",
            description="Upload bucket Object Created under uploads/ -> processing queue",
            event_pattern=_event_pattern(
                names.upload_event_pattern(self.upload_bucket.bucket_name)
            ),
        )
        upload_rule.add_target(targets.SqsQueue(self.queue))

        self.audit_log_group = logs.LogGroup(
            self,
            "AuditLogGroup",
            log_group_name=f"/aws/events/{self.stack_name}-upload-audit",
            retention=logs.RetentionDays.ONE_YEAR,
            removal_policy=RemovalPolicy.RETAIN,
        )
        audit_rule = events.Rule(
            self,
            "UploadAuditRule",
            description="Every upload bucket object event -> audit log group",
            event_pattern=events.EventPattern(
                source=["aws.s3"],
                detail={"bucket": {"name": [self.upload_bucket.bucket_name]}},
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
                self.format_arn(
                    service="logs",
                    resource="log-group",
                    resource_name=self.audit_log_group.log_group_name,
                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                )
            )
        )

    def _upload_api(self) -> None:
        s = self.settings
        upload = UploadUrlFunction(
            self,
            "UploadUrl",
            upload_bucket=self.upload_bucket,
            max_bytes=s.max_bytes,
            upload_url_expires=s.upload_url_expires,
            **self._function_kwargs("upload-url"),
        )
        fn = upload.function
        self.functions["upload-url"] = fn
        self._allow(
            fn,
            "WriteOwnLogs",
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            [upload.log_group.log_group_arn],
        )
        # A presigned POST carries this role's authority: it may create objects under uploads/ only.
        self._allow_objects(
            fn, "SignUploads", ["s3:PutObject"], self.upload_bucket, keys.UPLOAD_PREFIX
        )
        self._allow(fn, "HeadUploadBucket", ["s3:ListBucket"], [self.upload_bucket.bucket_arn])

        self.user_pool = cognito.UserPool(
            self,
            "UserPool",
            self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(username=True, email=True),
            password_policy=cognito.PasswordPolicy(
                min_length=12,
                require_digits=True,
                require_lowercase=True,
                require_uppercase=True,
                require_symbols=True,
            ),
            mfa=cognito.Mfa.OPTIONAL,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.user_pool_client = self.user_pool.add_client(
            "WebClient",
            auth_flows=cognito.AuthFlow(user_srp=True, user_password=True),
            generate_secret=False,
        )
        authorizer = apigw.CognitoUserPoolsAuthorizer(
            self, "UploadAuthorizer", cognito_user_pools=[self.user_pool]
        )
        access_logs = logs.LogGroup(
            self,
            "ApiAccessLogGroup",
            retention=s.log_retention,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.api = apigw.RestApi(
            self,
            "UploadApi",
            description="QIP upload URLs (Cognito-authorized presigned POST)",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=True,
            deploy_options=apigw.StageOptions(
                stage_name="v1",
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=True,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
                ),
                logging_level=apigw.MethodLoggingLevel.ERROR,
                tracing_enabled=True,
                metrics_enabled=True,
                throttling_rate_limit=50,
                throttling_burst_limit=100,
            ),
            default_cors_preflight_options=apigw.CorsOptions(
                allow_origins=list(s.cors_origins),
                allow_methods=["GET", "POST", "OPTIONS"],
                allow_headers=["Authorization", "Content-Type"],
            ),
        )
        validator = self.api.add_request_validator(
            "RequestValidator", validate_request_body=True, validate_request_parameters=True
        )
        resource = self.api.root.add_resource("upload-url")
        integration = apigw.LambdaIntegration(fn)
        for verb in ("GET", "POST"):
            resource.add_method(
                verb,
                integration,
                authorizer=authorizer,
                authorization_type=apigw.AuthorizationType.COGNITO,
                request_validator=validator,
            )

    # -- outputs and acknowledged findings ---------------------------------------------------

    def _outputs(self) -> None:
        values = {
            "UploadApiUrl": self.api.url_for_path("/upload-url"),
            "UserPoolId": self.user_pool.user_pool_id,
            "UserPoolClientId": self.user_pool_client.user_pool_client_id,
            "UploadBucketName": self.upload_bucket.bucket_name,
            "ArchiveBucketName": self.archive_bucket.bucket_name,
            "TableName": self.table.table_name,
            "TopicArn": self.topic.topic_arn,
            "StateMachineArn": self.state_machine.state_machine_arn,
            "ProcessingQueueUrl": self.queue.queue_url,
            "DeadLetterQueueUrl": self.dlq.queue_url,
            "DashboardName": self.monitoring.dashboard.dashboard_name,
        }
        for name, value in values.items():
            CfnOutput(self, name, value=value)

    def _acknowledge(self) -> None:
        """cdk-nag findings accepted on purpose, each on its own construct, with a reason."""

        def ack(scope: IConstruct, rule_id: str) -> None:
            Validations.of(scope).acknowledge(
                Acknowledgment(id=rule_id, reason=NAG_REASONS[rule_id])
            )

        for fn in self.functions.values():
            assert fn.role is not None
            ack(fn.role, XRAY_WILDCARD)
        ack(self.state_machine.role, XRAY_WILDCARD)
        ack(self.user_pool, "AwsSolutions-COG2")
        ack(self.user_pool, "AwsSolutions-COG8")
        ack(self.api, "AwsSolutions-APIG3")
        ack(self.api, API_LOGS_ROLE)

    def _logical(self, construct: IConstruct) -> str:
        """The logical id of a construct's CloudFormation resource (as cdk-nag names it)."""
        child = construct.node.default_child
        assert isinstance(child, CfnElement)
        return self.resolve(child.logical_id)  # type: ignore[no-any-return]


XRAY_WILDCARD = "AwsSolutions-IAM5[Resource::*]"
API_LOGS_ROLE = (
    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
    "AmazonAPIGatewayPushToCloudWatchLogs]"
)
_PREFIX_REASON = (
    "An object-key prefix of the one bucket this function uses (uploads/*, processed/* or "
    "archive/*): object names are chosen at run time, so the prefix is the narrowest resource S3 "
    "offers."
)
NAG_REASONS: dict[str, str] = {
    XRAY_WILDCARD: (
        "Only for actions that support no resource-level permissions (service authorization "
        "reference): X-Ray PutTraceSegments/PutTelemetryRecords/GetSampling*, and for the state "
        "machine the CloudWatch Logs vended-delivery actions (CreateLogDelivery, ...)."
    ),
    "AwsSolutions-COG2": (
        "MFA is OPTIONAL (TOTP) so that machine clients of the upload API can authenticate; "
        "set Mfa.REQUIRED when the pool holds human users."
    ),
    "AwsSolutions-COG8": (
        "The Plus feature plan is billed per active user; the pool is admin-created users only "
        "(self sign-up off) with a 12-character complex password policy."
    ),
    "AwsSolutions-APIG3": (
        "No WAF web ACL by default (fixed monthly cost): the API is Cognito-authorized, "
        "stage-throttled (50 rps, burst 100) and only signs upload URLs; attach a web ACL in "
        "production accounts."
    ),
    API_LOGS_ROLE: (
        "The account-level API Gateway logging role needs exactly this AWS-managed service-role "
        "policy (logs:CreateLogGroup/CreateLogStream/PutLogEvents/Describe*)."
    ),
}
