"""Names of the system's resources, shared by the CDK stack (logical ids) and the local
runtime (physical names on the embedded AWS), so both build the same system."""

from __future__ import annotations

from dataclasses import dataclass

from qip_shared.enums import StageName

# Stage -> the service package that implements it (and its function's short name).
STAGE_SERVICES: dict[StageName, str] = {
    StageName.VALIDATION: "validate",
    StageName.METADATA: "metadata",
    StageName.RESIZE: "resize",
    StageName.THUMBNAIL: "thumbnail",
    StageName.ARCHIVE: "archive",
}
INGEST_SERVICES = ("trigger", "upload-url")
API_SERVICES = ("images-api",)
# Run on a schedule, outside the pipeline: ends records an execution left PROCESSING.
OPERATIONS_SERVICES = ("sweeper",)
ALL_SERVICES = (*STAGE_SERVICES.values(), *INGEST_SERVICES, *API_SERVICES, *OPERATIONS_SERVICES)

# The stack's CfnOutput names: `cdk deploy --outputs-file` writes them, `qip ... --outputs` reads.
OUTPUT_UPLOAD_API_URL = "UploadApiUrl"
OUTPUT_IMAGES_API_URL = "ImagesApiUrl"
OUTPUT_UPLOAD_BUCKET = "UploadBucketName"
OUTPUT_ARCHIVE_BUCKET = "ArchiveBucketName"
OUTPUT_TABLE = "TableName"
OUTPUT_TOPIC = "TopicArn"
OUTPUT_STATE_MACHINE = "StateMachineArn"
OUTPUT_QUEUE_URL = "ProcessingQueueUrl"
OUTPUT_DLQ_URL = "DeadLetterQueueUrl"
OUTPUT_STAGES = "PipelineStages"
# Only when a rendering stage (resize, thumbnail) is selected: `qip recipe`, `qip backfill` read it.
OUTPUT_RECIPE_PARAMETER = "RecipeParameterName"


def handler_path(service: str) -> str:
    """The Lambda handler string of a service (`qip_<service>.handler.handler`)."""
    return f"qip_{service.replace('-', '_')}.handler.handler"


def function_name(service: str, prefix: str = "qip") -> str:
    """The function name of a service (`qip-validate`, ...)."""
    return f"{prefix}-{service}"


@dataclass(frozen=True)
class ResourceNames:
    """Physical names used by the local runtime; CDK uses the same strings as logical ids."""

    prefix: str = "qip"

    @property
    def upload_bucket(self) -> str:
        """Bucket that receives uploads (and holds `processed/`)."""
        return f"{self.prefix}-uploads"

    @property
    def archive_bucket(self) -> str:
        """Bucket for the long-term archive."""
        return f"{self.prefix}-archive"

    @property
    def table(self) -> str:
        """The image metadata table."""
        return f"{self.prefix}-images"

    @property
    def queue(self) -> str:
        """The processing queue."""
        return f"{self.prefix}-processing"

    @property
    def dlq(self) -> str:
        """The dead-letter queue of the processing queue."""
        return f"{self.prefix}-processing-dlq"

    @property
    def topic(self) -> str:
        """The notification topic."""
        return f"{self.prefix}-notifications"

    @property
    def state_machine(self) -> str:
        """The processing pipeline."""
        return f"{self.prefix}-pipeline"

    @property
    def upload_rule(self) -> str:
        """EventBridge rule: upload bucket Object Created -> processing queue."""
        return f"{self.prefix}-upload-created"

    @property
    def sweep_schedule(self) -> str:
        """EventBridge schedule that runs the sweeper."""
        return f"{self.prefix}-sweep"

    @property
    def recipe_parameter(self) -> str:
        """SSM parameter holding the recipe the resize and thumbnail stages render."""
        return f"/{self.prefix}/recipe"

    @property
    def audit_log_group(self) -> str:
        """Log group receiving the audit trail of upload events."""
        return f"/{self.prefix}/audit"


# EventBridge rule pattern: only new objects under uploads/ of the upload bucket start work
# (the pipeline writes processed/ into the same bucket; those must not loop back).
def upload_event_pattern(bucket_name: str) -> dict[str, object]:
    """The event pattern routing upload-bucket Object Created events to the queue."""
    return {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {
            "bucket": {"name": [bucket_name]},
            "object": {"key": [{"prefix": "uploads/"}]},
        },
    }
