"""The AWS calls validate makes: the shared stage calls, plus S3 head and ranged reads."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from qip_shared.aws import StageAdapters, from_aws_error, version_args


class Adapters(StageAdapters):
    """Clients and settings validate needs; tests build one around moto clients."""

    def object_size(self, bucket: str, key: str, version_id: str | None) -> int:
        """The object's size in bytes, from `head_object` (nothing is downloaded)."""
        return int(self.head_object(bucket, key, version_id)["ContentLength"])

    def read_range(
        self, bucket: str, key: str, version_id: str | None, start: int, end: int | None = None
    ) -> bytes:
        """Bytes `start`..`end` (inclusive; None: to the end) of the object."""
        byte_range = f"bytes={start}-{'' if end is None else end}"
        try:
            response = self.s3.get_object(
                Bucket=bucket, Key=key, Range=byte_range, **version_args(version_id)
            )
            body: bytes = response["Body"].read()
        except (ClientError, BotoCoreError) as exc:
            raise from_aws_error(exc, "s3 get_object") from exc
        return body
