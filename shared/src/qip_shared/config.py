"""The settings module: every value the platform and the functions must agree on, in one place.

The platform (CDK stack or local runtime) sets them; the functions read them from their environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from pydantic import Field

from qip_shared.base import Contract

ENV_TABLE_NAME = "QIP_TABLE_NAME"
ENV_UPLOAD_BUCKET = "QIP_UPLOAD_BUCKET"
ENV_ARCHIVE_BUCKET = "QIP_ARCHIVE_BUCKET"
ENV_TOPIC_ARN = "QIP_TOPIC_ARN"
ENV_EVENT_BUS_NAME = "QIP_EVENT_BUS_NAME"
ENV_STATE_MACHINE_ARN = "QIP_STATE_MACHINE_ARN"
ENV_MAX_BYTES = "QIP_MAX_BYTES"
ENV_MAX_PIXELS = "QIP_MAX_PIXELS"
ENV_STORE_GPS = "QIP_STORE_GPS"
ENV_DELETE_UPLOAD = "QIP_DELETE_UPLOAD"
ENV_UPLOAD_URL_EXPIRES = "QIP_UPLOAD_URL_EXPIRES"
ENV_RECORD_TTL_DAYS = "QIP_RECORD_TTL_DAYS"
ENV_SERVICE_VERSION = "QIP_SERVICE_VERSION"
# The sweeper only: age of a claim after which a PROCESSING record is swept (seconds).
ENV_SWEEP_AFTER_SECONDS = "QIP_SWEEP_AFTER_SECONDS"
# Comma-separated browser origins an API answers with CORS headers (none: no CORS headers).
ENV_CORS_ORIGINS = "QIP_CORS_ORIGINS"
ENV_RECIPE_PARAMETER = "QIP_RECIPE_PARAMETER"
ENV_MAX_RECEIVE_COUNT = "QIP_MAX_RECEIVE_COUNT"
ENV_METRICS_NAMESPACE = "POWERTOOLS_METRICS_NAMESPACE"

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_PIXELS = 100_000_000
DEFAULT_UPLOAD_URL_EXPIRES = 300
RESIZE_BOX = (1024, 768)
THUMBNAIL_SIZE = (200, 200)
# Deliveries of an upload event before the processing queue dead-letters it (the trigger is told).
MAX_RECEIVES = 3
# The Lambda runtime's Python: every function's and layer's runtime, the bytecode compiler's.
LAMBDA_PYTHON_VERSION = "3.13"
LAMBDA_RUNTIME = f"python{LAMBDA_PYTHON_VERSION}"
# The CloudWatch namespace of the functions' own metrics (and of the dashboard's searches).
METRICS_NAMESPACE = "QIP"
# Upload to terminal status, once per image, with these dimensions whichever function ends it
# (`qip_shared.stage.emit_processing_duration`; the dashboard searches them).
PROCESSING_DURATION_METRIC = "ImageProcessingDuration"
PROCESSING_DURATION_SERVICE = "qip-pipeline"

_TRUE = {"1", "true", "yes", "on"}


class QipSettings(Contract):
    """Settings every function reads from its environment; absent names mean "not used here"."""

    table_name: str = ""
    upload_bucket: str = ""
    archive_bucket: str = ""
    topic_arn: str = ""
    event_bus_name: str = "default"
    state_machine_arn: str = ""
    max_bytes: int = Field(default=DEFAULT_MAX_BYTES, ge=1)
    max_pixels: int = Field(default=DEFAULT_MAX_PIXELS, ge=1)
    store_gps: bool = False
    delete_upload: bool = False
    upload_url_expires: int = Field(default=DEFAULT_UPLOAD_URL_EXPIRES, ge=1, le=3600)
    record_ttl_days: int | None = Field(default=None, ge=1)
    service_version: str = "0.0.0"
    cors_origins: tuple[str, ...] = ()
    # The SSM parameter holding the recipe ("": the default recipe).
    recipe_parameter: str = ""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> QipSettings:
        """Read the settings from an environment mapping (default: `os.environ`)."""
        env = os.environ if environ is None else environ

        def flag(name: str) -> bool:
            return env.get(name, "").strip().lower() in _TRUE

        ttl = env.get(ENV_RECORD_TTL_DAYS)
        return cls(
            table_name=env.get(ENV_TABLE_NAME, ""),
            upload_bucket=env.get(ENV_UPLOAD_BUCKET, ""),
            archive_bucket=env.get(ENV_ARCHIVE_BUCKET, ""),
            topic_arn=env.get(ENV_TOPIC_ARN, ""),
            event_bus_name=env.get(ENV_EVENT_BUS_NAME, "default"),
            state_machine_arn=env.get(ENV_STATE_MACHINE_ARN, ""),
            max_bytes=int(env.get(ENV_MAX_BYTES, DEFAULT_MAX_BYTES)),
            max_pixels=int(env.get(ENV_MAX_PIXELS, DEFAULT_MAX_PIXELS)),
            store_gps=flag(ENV_STORE_GPS),
            delete_upload=flag(ENV_DELETE_UPLOAD),
            upload_url_expires=int(env.get(ENV_UPLOAD_URL_EXPIRES, DEFAULT_UPLOAD_URL_EXPIRES)),
            record_ttl_days=int(ttl) if ttl else None,
            service_version=env.get(ENV_SERVICE_VERSION, "0.0.0"),
            cors_origins=tuple(
                origin.strip()
                for origin in env.get(ENV_CORS_ORIGINS, "").split(",")
                if origin.strip()
            ),
            recipe_parameter=env.get(ENV_RECIPE_PARAMETER, ""),
        )


def cors_environment(origins: Sequence[str]) -> dict[str, str]:
    """The function environment that opens an API's CORS to `origins` (none: closed, no entry)."""
    return {ENV_CORS_ORIGINS: ",".join(origins)} if origins else {}


def metrics_namespace(environ: Mapping[str, str] | None = None) -> str:
    """The metrics namespace the platform set (`POWERTOOLS_METRICS_NAMESPACE`), else `QIP`."""
    env = os.environ if environ is None else environ
    return env.get(ENV_METRICS_NAMESPACE) or METRICS_NAMESPACE
