"""The AWS calls images-api makes: record reads (GetItem, GSI Query) and presigned S3 GETs."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.config import Config

from qip_images_api.query import ImageQuery
from qip_shared.aws import client, presigning_s3_client
from qip_shared.config import QipSettings

# Service-only setting: how long a presigned GET of an output stays valid.
ENV_DOWNLOAD_URL_EXPIRES = "QIP_DOWNLOAD_URL_EXPIRES"
DEFAULT_DOWNLOAD_URL_EXPIRES = 300
MAX_DOWNLOAD_URL_EXPIRES = 3600
# SigV4 presigning, addressed like the upload-url POSTs (the bucket's own regional endpoint).
S3_CONFIG = Config(signature_version="s3v4", s3={"addressing_style": "virtual"})


def download_url_expires(environ: Mapping[str, str] | None = None) -> int:
    """`QIP_DOWNLOAD_URL_EXPIRES` seconds (default 300), bounded to 1..3600."""
    env = os.environ if environ is None else environ
    seconds = int(env.get(ENV_DOWNLOAD_URL_EXPIRES, DEFAULT_DOWNLOAD_URL_EXPIRES))
    return max(1, min(seconds, MAX_DOWNLOAD_URL_EXPIRES))


class OutputSigner:
    """Presigned GET URLs for objects of one bucket (signing is local: no request is made)."""

    def __init__(self, s3: Any, bucket: str, *, expires_in: int) -> None:
        self._s3 = s3
        self.bucket = bucket
        self.expires_in = expires_in

    def sign(self, keys: Mapping[str, str]) -> dict[str, str]:
        """A short-lived GET URL for each named key."""
        return {
            name: str(
                self._s3.generate_presigned_url(
                    "get_object",
                    Params={"Bucket": self.bucket, "Key": key},
                    ExpiresIn=self.expires_in,
                )
            )
            for name, key in keys.items()
        }


@dataclass(frozen=True)
class Adapters:
    """Everything the handler needs from the outside world."""

    settings: QipSettings
    images: ImageQuery
    signer: OutputSigner

    @classmethod
    def from_env(cls) -> Adapters:
        """Read the settings and build the clients (call only when AWS, or moto, is ready)."""
        settings = QipSettings.from_env()
        return cls(
            settings=settings,
            images=ImageQuery(client("dynamodb"), settings.table_name),
            signer=OutputSigner(
                presigning_s3_client(S3_CONFIG),
                settings.upload_bucket,
                expires_in=download_url_expires(),
            ),
        )
