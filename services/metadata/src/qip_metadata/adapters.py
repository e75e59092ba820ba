"""The AWS calls metadata makes: the shared stage calls, plus one capped S3 read."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from qip_shared.aws import StageAdapters, from_aws_error, version_args
from qip_shared.errors import PermanentError


class Adapters(StageAdapters):
    """Clients and settings metadata needs; tests build one around moto clients."""

    def read_object(self, bucket: str, key: str, version_id: str | None, max_bytes: int) -> bytes:
        """The object's bytes; PermanentError beyond `max_bytes` (validate refuses those)."""
        try:
            response = self.s3.get_object(Bucket=bucket, Key=key, **version_args(version_id))
            length = int(response.get("ContentLength", 0))
            if length > max_bytes:
                response["Body"].close()
                raise PermanentError(
                    f"the object is {length} bytes; the limit is {max_bytes}", code="TOO_LARGE"
                )
            body: bytes = response["Body"].read(max_bytes + 1)
        except (ClientError, BotoCoreError) as exc:
            raise from_aws_error(exc, "s3 get_object") from exc
        if len(body) > max_bytes:
            raise PermanentError(f"the object exceeds {max_bytes} bytes", code="TOO_LARGE")
        return body
