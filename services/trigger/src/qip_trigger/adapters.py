"""The AWS calls trigger makes: the shared ones (record, events) plus S3 head and ranged get,
the conditional create, and Step Functions."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from qip_shared import config
from qip_shared.aws import (
    ExecutionAdapters,
    error_code,
    from_aws_error,
    is_conditional_check_failed,
    version_args,
)
from qip_shared.config import QipSettings
from qip_shared.signatures import SNIFF_BYTES
from qip_trigger.core import DEFAULT_CLAIM_LEASE, S3Upload, candidate_keys

# Trigger-only settings (not in QipSettings): the claim lease, and the queue's maxReceiveCount
# (set by the platform), which tells the handler that a delivery is the last before the DLQ.
ENV_CLAIM_LEASE_SECONDS = "QIP_CLAIM_LEASE_SECONDS"

_MISSING = frozenset({"404", "NoSuchKey", "NotFound", "NoSuchVersion"})


@dataclass(frozen=True)
class TriggerSettings:
    """Trigger's own knobs."""

    claim_lease: timedelta = DEFAULT_CLAIM_LEASE
    max_receive_count: int = config.MAX_RECEIVES

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TriggerSettings:
        """Read `QIP_CLAIM_LEASE_SECONDS` and `QIP_MAX_RECEIVE_COUNT`."""
        env = os.environ if environ is None else environ
        lease = float(env.get(ENV_CLAIM_LEASE_SECONDS, DEFAULT_CLAIM_LEASE.total_seconds()))
        receives = int(env.get(config.ENV_MAX_RECEIVE_COUNT, config.MAX_RECEIVES))
        return cls(claim_lease=timedelta(seconds=lease), max_receive_count=max(1, receives))


@dataclass(frozen=True)
class ObjectHead:
    """What S3 says about an uploaded object."""

    bucket: str
    key: str
    content_type: str
    size: int
    etag: str | None
    version_id: str | None
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Adapters(ExecutionAdapters):
    """The shared clients plus Step Functions and a clock, and trigger's settings."""

    trigger: TriggerSettings = field(default_factory=TriggerSettings)

    @classmethod
    def from_settings(
        cls,
        settings: QipSettings,
        session: boto3.Session | None = None,
        trigger: TriggerSettings | None = None,
    ) -> Adapters:
        """Create the clients for some settings (from `session`, default boto3's)."""
        adapters = super().from_settings(settings, session)
        adapters.trigger = trigger or TriggerSettings.from_env()
        return adapters

    # S3

    def head(self, upload: S3Upload) -> ObjectHead | None:
        """The object an event names (trying the literal key, then its URL-decoded forms)."""
        for key in candidate_keys(upload.raw_key):
            try:
                response = self.s3.head_object(
                    Bucket=upload.bucket, Key=key, **version_args(upload.real_version)
                )
            except ClientError as exc:
                if error_code(exc) in _MISSING:
                    continue
                raise from_aws_error(exc, "s3 head_object") from exc
            except BotoCoreError as exc:
                raise from_aws_error(exc, "s3 head_object") from exc
            return ObjectHead(
                bucket=upload.bucket,
                key=key,
                content_type=str(response.get("ContentType") or ""),
                size=int(response.get("ContentLength", upload.size)),
                etag=str(response.get("ETag", "")).strip('"') or None,
                # The version the event names (None when unversioned: never pass "null" on).
                version_id=upload.real_version,
                metadata=dict(response.get("Metadata") or {}),
            )
        return None

    def first_bytes(self, bucket: str, key: str, version_id: str | None) -> bytes:
        """The first `SNIFF_BYTES` of an object (one ranged GET), enough to sniff its format."""
        try:
            body = self.s3.get_object(
                Bucket=bucket,
                Key=key,
                Range=f"bytes=0-{SNIFF_BYTES - 1}",
                **version_args(version_id),
            )["Body"]
            try:
                data: bytes = body.read(SNIFF_BYTES)
            finally:
                body.close()
        except ClientError as exc:
            if error_code(exc) == "InvalidRange":
                return b""  # an empty object has no first byte
            raise from_aws_error(exc, "s3 ranged get_object") from exc
        except BotoCoreError as exc:
            raise from_aws_error(exc, "s3 ranged get_object") from exc
        return data[:SNIFF_BYTES]

    # DynamoDB (update_record and get_record are the shared ones)

    def create_record(self, request: dict[str, Any]) -> bool:
        """Create the record if absent; False when it already exists."""
        try:
            self.dynamodb.put_item(**request)
        except ClientError as exc:
            if is_conditional_check_failed(exc):
                return False
            raise from_aws_error(exc, "dynamodb put_item") from exc
        except BotoCoreError as exc:
            raise from_aws_error(exc, "dynamodb put_item") from exc
        return True

    # Step Functions

    def start_execution(self, name: str, payload: str) -> str | None:
        """Start the pipeline; the new ARN, or None when `name` already exists."""
        try:
            response = self.stepfunctions.start_execution(
                stateMachineArn=self.settings.state_machine_arn, name=name, input=payload
            )
        except ClientError as exc:
            if error_code(exc) == "ExecutionAlreadyExists":
                return None
            raise
        return str(response["executionArn"])
