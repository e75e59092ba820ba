"""The AWS calls thumbnail makes: the shared stage calls, plus writing the JPEG."""

from __future__ import annotations

from qip_shared.aws import StageAdapters

JPEG_CONTENT_TYPE = "image/jpeg"


class Adapters(StageAdapters):
    """boto3 clients and settings; built once per process, or injected by tests."""

    def put_jpeg(self, bucket: str, key: str, data: bytes) -> None:
        """Write (or overwrite: the key is deterministic) a JPEG object."""
        self.put_object(bucket, key, data, JPEG_CONTENT_TYPE)
