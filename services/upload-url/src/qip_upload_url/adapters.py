"""The S3 calls upload-url makes: check the bucket, sign a POST."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from qip_shared.config import QipSettings
from qip_upload_url.core import UploadPlan
from qip_upload_url.errors import BucketUnavailableError

# SigV4 (SigV2 POST policies are legacy) and the SDK's standard retry mode.
S3_CONFIG = Config(
    signature_version="s3v4",
    retries={"mode": "standard", "max_attempts": 5},
    s3={"addressing_style": "virtual"},
)
_ENDPOINT_OVERRIDES = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")


def s3_client() -> Any:
    """An S3 client whose presigned POST URLs name the bucket's region.

    botocore otherwise signs for the global endpoint, which answers new buckets outside
    us-east-1 with a redirect a browser POST cannot follow. An explicit endpoint (the local
    runtime's `AWS_ENDPOINT_URL`) wins.
    """
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    if any(os.environ.get(name) for name in _ENDPOINT_OVERRIDES):
        return boto3.client("s3", region_name=region, config=S3_CONFIG)
    return boto3.client(
        "s3",
        region_name=region,
        endpoint_url=f"https://s3.{region}.amazonaws.com",
        config=S3_CONFIG,
    )


class UploadSigner:
    """Signs presigned POSTs for one bucket; checks the bucket once per container."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3 = s3
        self.bucket = bucket
        self._bucket_checked = False

    def ensure_bucket(self) -> None:
        """head_bucket once; BucketUnavailableError when it is missing or unreachable."""
        if self._bucket_checked:
            return
        if not self.bucket:
            raise BucketUnavailableError("the upload bucket is not configured")
        try:
            self._s3.head_bucket(Bucket=self.bucket)
        except (ClientError, BotoCoreError) as exc:
            raise BucketUnavailableError("the upload bucket is not available") from exc
        self._bucket_checked = True

    def presign(self, plan: UploadPlan, *, expires_in: int) -> dict[str, Any]:
        """`{"url", "fields"}` of a presigned POST for the plan."""
        self.ensure_bucket()
        try:
            signed: dict[str, Any] = self._s3.generate_presigned_post(
                Bucket=self.bucket,
                Key=plan.key,
                Fields=dict(plan.fields),
                Conditions=list(plan.conditions),
                ExpiresIn=expires_in,
            )
        except (ClientError, BotoCoreError) as exc:
            # A signing failure may mean the bucket went away: look again (raises if so).
            self._bucket_checked = False
            self.ensure_bucket()
            raise BucketUnavailableError("could not sign an upload for the bucket") from exc
        return signed


@dataclass(frozen=True)
class Adapters:
    """Everything the handler needs from the outside world."""

    settings: QipSettings
    signer: UploadSigner

    @classmethod
    def from_env(cls) -> Adapters:
        """Read the settings and build the S3 client (call only when AWS, or moto, is ready)."""
        settings = QipSettings.from_env()
        return cls(settings=settings, signer=UploadSigner(s3_client(), settings.upload_bucket))
