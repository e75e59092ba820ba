"""Storage: the buckets, the image table, the topic, the event bus and the dead-letter queue."""

from __future__ import annotations

from typing import Any, TypedDict, Unpack

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from qip_platform.component import Component
from qip_shared.record import SECONDARY_INDEXES, TTL_ATTRIBUTE


class StorageProps(TypedDict):
    """Who may POST to the upload bucket from a browser (no origin: no CORS rule)."""

    cors_origins: tuple[str, ...]


class Storage(Component):
    """Upload, archive and access-log buckets; the image table; the topic; the default bus; the
    dead-letter queue (the processing queue's, and the pipeline's failure path writes to it)."""

    def __init__(self, scope: Construct, construct_id: str, **props: Unpack[StorageProps]) -> None:
        super().__init__(scope, construct_id)
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
        origins = list(props["cors_origins"])
        self.upload_bucket = self._bucket(
            "UploadBucket",
            "upload-bucket/",
            cors=[
                s3.CorsRule(
                    allowed_methods=[s3.HttpMethods.POST],
                    allowed_origins=origins,
                    allowed_headers=["*"],
                    max_age=3000,
                )
            ]
            if origins
            else None,
        )
        # Native EventBridge switch instead of CDK's notifications custom resource (and its Lambda).
        upload_cfn = self.upload_bucket.node.default_child
        assert isinstance(upload_cfn, s3.CfnBucket)
        upload_cfn.add_property_override(
            "NotificationConfiguration.EventBridgeConfiguration.EventBridgeEnabled", True
        )
        self.archive_bucket = self._bucket("ArchiveBucket", "archive-bucket/")
        self.table = self._table()
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

    def _table(self) -> dynamodb.Table:
        """The image table (one record per upload), its status, duplicate-lookup and owner
        indexes (`qip_shared.record.SECONDARY_INDEXES`)."""
        table = dynamodb.Table(
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
        for index in SECONDARY_INDEXES:
            table.add_global_secondary_index(
                index_name=index.name,
                partition_key=dynamodb.Attribute(
                    name=index.partition_key, type=dynamodb.AttributeType.STRING
                ),
                sort_key=dynamodb.Attribute(
                    name=index.sort_key, type=dynamodb.AttributeType.STRING
                ),
                projection_type=(
                    dynamodb.ProjectionType.ALL
                    if index.non_key_attributes is None
                    else dynamodb.ProjectionType.INCLUDE
                ),
                non_key_attributes=(
                    list(index.non_key_attributes) if index.non_key_attributes else None
                ),
            )
        return table
