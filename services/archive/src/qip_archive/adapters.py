"""The AWS calls archive makes: the shared stage calls, plus server-side copies and the delete."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from qip_archive.core import PlannedCopy
from qip_shared.aws import StageAdapters, from_aws_error, version_args


class Adapters(StageAdapters):
    """boto3 clients and settings; built once per process, or injected by tests."""

    def copy(self, planned: PlannedCopy) -> None:
        """One server-side copy into the archive (the bytes never leave S3)."""
        try:
            self.s3.copy_object(**planned.copy_request())
        except (ClientError, BotoCoreError) as err:
            raise from_aws_error(err, f"s3 copy_object ({planned.kind.value})") from err

    def delete_upload(self, bucket: str, key: str, version_id: str | None) -> None:
        """Delete the archived upload (that exact version when the bucket is versioned)."""
        request: dict[str, Any] = {"Bucket": bucket, "Key": key, **version_args(version_id)}
        try:
            self.s3.delete_object(**request)
        except (ClientError, BotoCoreError) as err:
            raise from_aws_error(err, "s3 delete_object") from err
