"""The DynamoDB image record (design "ImageMetadata") and its lossless item conversion."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from qip_shared.base import Contract
from qip_shared.dynamo import AttributeValue, from_item, to_item
from qip_shared.enums import ImageStatus, RejectionReason, StageName, StageStatus
from qip_shared.pipeline import SHA256_HEX_PATTERN, ImageMetadata, RenderedVariant
from qip_shared.timeutil import TIMESTAMP_PATTERN

Timestamp = Annotated[str, StringConstraints(pattern=TIMESTAMP_PATTERN)]

TABLE_PARTITION_KEY = "imageKey"
STATUS_INDEX_NAME = "status-uploadTimestamp-index"
STATUS_INDEX_PARTITION_KEY = "status"
STATUS_INDEX_SORT_KEY = "uploadTimestamp"
TTL_ATTRIBUTE = "ttl"
# Sparse GSI of the records of one owner (the Cognito subject that asked for the upload URL).
OWNER_INDEX_NAME = "owner-uploadTimestamp-index"
OWNER_INDEX_PARTITION_KEY = "owner"
# S3 user metadata (lower-case, without `x-amz-meta-`) carrying the owner from upload-url to
# the trigger; the POST policy pins its value.
OWNER_METADATA = "owner"


class StageInfo(Contract):
    """Status and timing of one stage (`timestamp` is the time of the last change)."""

    status: StageStatus
    timestamp: Timestamp
    started_at: Timestamp | None = None
    completed_at: Timestamp | None = None
    duration_ms: int | None = Field(default=None, ge=0)
    attempts: int | None = Field(default=None, ge=1)
    error_message: str | None = None
    # Facts the metadata stage records (design: width, height, format), and its full result.
    width: int | None = Field(default=None, ge=1)
    height: int | None = Field(default=None, ge=1)
    format: str | None = None
    details: ImageMetadata | None = None


class Stages(Contract):
    """Per-stage status map of a record."""

    validation: StageInfo | None = None
    metadata: StageInfo | None = None
    resize: StageInfo | None = None
    thumbnail: StageInfo | None = None
    archive: StageInfo | None = None

    def get(self, stage: StageName) -> StageInfo | None:
        """The info of one stage, if recorded."""
        info: StageInfo | None = getattr(self, stage.value)
        return info


class ImageRecord(Contract):
    """One image's state; the item in the metadata table (partition key `imageKey`)."""

    image_key: str = Field(min_length=1, max_length=1024)
    upload_timestamp: Timestamp
    size: int = Field(ge=0)
    content_type: str
    status: ImageStatus
    stages: Stages = Stages()
    bucket: str | None = None
    version_id: str | None = None
    etag: str | None = None
    original_name: str | None = None
    execution_name: str | None = None
    execution_arn: str | None = None
    claimed_at: Timestamp | None = None
    updated_at: str | None = None
    resized_key: str | None = None
    thumbnail_key: str | None = None
    content_sha256: str | None = Field(default=None, pattern=SHA256_HEX_PATTERN)
    # The outputs of the recipe version that rendered them (written by archive).
    recipe_version: str | None = None
    variants: list[RenderedVariant] | None = None
    archived_location: str | None = None
    error_message: str | None = None
    error_type: str | None = None
    rejection_reason: RejectionReason | None = None
    processing_duration: int | None = Field(default=None, ge=0)
    ttl: int | None = Field(default=None, ge=0)
    # The Cognito subject that asked for the upload URL (absent for uploads made otherwise).
    owner: str | None = Field(default=None, min_length=1, max_length=128)
    # Set with FAILED by the pipeline's failure path: the id its dead letter carries.
    dead_letter_id: str | None = None

    def to_item(self) -> dict[str, AttributeValue]:
        """The DynamoDB item (low-level attribute values); None fields are omitted."""
        values = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        values["stages"] = self.stages.model_dump(mode="json", by_alias=True, exclude_none=True)
        return to_item(values)

    @classmethod
    def from_item(cls, item: Mapping[str, Mapping[str, Any]]) -> ImageRecord:
        """Rebuild a record from a DynamoDB item."""
        return cls.model_validate(from_item(item))
