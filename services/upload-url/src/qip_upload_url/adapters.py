"""The S3 calls upload-url makes: check the bucket, sign a POST."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from qip_shared.aws import presigning_s3_client
from qip_shared.config import QipSettings
from qip_upload_url.core import UploadPlan
from qip_upload_url.errors import BucketUnavailableError

# SigV4 (SigV2 POST policies are legacy) and the SDK's standard retry mode.
S3_CONFIG = Config(
    signature_version="s3v4",
    retries={"mode": "standard", "max_attempts": 5},
    s3={"addressing_style": "virtual"},
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
        return cls(
            settings=settings,
            signer=UploadSigner(presigning_s3_client(S3_CONFIG), settings.upload_bucket),
        )
