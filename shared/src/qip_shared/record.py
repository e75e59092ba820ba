"""The DynamoDB image record (design "ImageMetadata") and its lossless item conversion."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from qip_shared.base import Contract
from qip_shared.duplicates import BAND_ATTRIBUTES
from qip_shared.dynamo import AttributeValue, from_item, to_item
from qip_shared.enums import ImageStatus, RejectionReason, StageName, StageStatus
from qip_shared.pipeline import (
    HEX_COLOUR_PATTERN,
    PERCEPTUAL_HASH_PATTERN,
    SHA256_HEX_PATTERN,
    FocalPoint,
    ImageMetadata,
    RenderedVariant,
    RenderRecord,
)
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
CONTENT_HASH_ATTRIBUTE = "contentSha256"
CONTENT_HASH_INDEX_NAME = "contentSha256-uploadTimestamp-index"
BAND_INDEX_NAMES = tuple(f"{band}-uploadTimestamp-index" for band in BAND_ATTRIBUTES)
DUPLICATE_INDEX_NAMES = (CONTENT_HASH_INDEX_NAME, *BAND_INDEX_NAMES)
# What a duplicate lookup reads from an index item besides the keys.
DUPLICATE_INDEX_ATTRIBUTES = ("status", "perceptualHash")


@dataclass(frozen=True)
class SecondaryIndex:
    """A global secondary index of the image table (string keys), one definition for all."""

    name: str
    partition_key: str
    sort_key: str
    # None projects every attribute; otherwise the keys and these.
    non_key_attributes: tuple[str, ...] | None = None

    def create_request(self) -> dict[str, Any]:
        """The `GlobalSecondaryIndexes` entry of a `create_table` request."""
        projection: dict[str, Any] = {"ProjectionType": "ALL"}
        if self.non_key_attributes is not None:
            projection = {
                "ProjectionType": "INCLUDE",
                "NonKeyAttributes": list(self.non_key_attributes),
            }
        return {
            "IndexName": self.name,
            "KeySchema": [
                {"AttributeName": self.partition_key, "KeyType": "HASH"},
                {"AttributeName": self.sort_key, "KeyType": "RANGE"},
            ],
            "Projection": projection,
        }


SECONDARY_INDEXES: tuple[SecondaryIndex, ...] = (
    SecondaryIndex(STATUS_INDEX_NAME, STATUS_INDEX_PARTITION_KEY, STATUS_INDEX_SORT_KEY),
    # Duplicates (issue 18): exact copies by content hash, near copies by perceptual-hash band.
    SecondaryIndex(
        CONTENT_HASH_INDEX_NAME,
        CONTENT_HASH_ATTRIBUTE,
        STATUS_INDEX_SORT_KEY,
        DUPLICATE_INDEX_ATTRIBUTES,
    ),
    *(
        SecondaryIndex(name, band, STATUS_INDEX_SORT_KEY, DUPLICATE_INDEX_ATTRIBUTES)
        for name, band in zip(BAND_INDEX_NAMES, BAND_ATTRIBUTES, strict=True)
    ),
    # The images API (issue 15): one owner's images by upload time (sparse: owned images only).
    SecondaryIndex(OWNER_INDEX_NAME, OWNER_INDEX_PARTITION_KEY, STATUS_INDEX_SORT_KEY),
)


def table_create_request(table_name: str) -> dict[str, Any]:
    """`create_table` keyword arguments of the image table with every index (local, tests)."""
    keys = {TABLE_PARTITION_KEY} | {
        key for index in SECONDARY_INDEXES for key in (index.partition_key, index.sort_key)
    }
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": TABLE_PARTITION_KEY, "KeyType": "HASH"}],
        "AttributeDefinitions": [
            {"AttributeName": key, "AttributeType": "S"} for key in sorted(keys)
        ],
        "GlobalSecondaryIndexes": [index.create_request() for index in SECONDARY_INDEXES],
    }


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
    # Render-ready facts (issue 18): the thumbnail stage's analysis, archive's duplicate lookup.
    thumbhash: str | None = None
    dominant_color: str | None = Field(default=None, pattern=HEX_COLOUR_PATTERN)
    focal_point: FocalPoint | None = None
    perceptual_hash: str | None = Field(default=None, pattern=PERCEPTUAL_HASH_PATTERN)
    duplicate_of: str | None = None
    # The outputs of the recipe version that rendered them (written by archive).
    recipe_version: str | None = None
    variants: list[RenderedVariant] | None = None
    archived_location: str | None = None
    error_message: str | None = None
    error_type: str | None = None
    # The stage (or state-machine step) whose failure ended the image FAILED.
    failed_stage: str | None = None
    rejection_reason: RejectionReason | None = None
    processing_duration: int | None = Field(default=None, ge=0)
    ttl: int | None = Field(default=None, ge=0)
    # The Cognito subject that asked for the upload URL (absent for uploads made otherwise).
    owner: str | None = Field(default=None, min_length=1, max_length=128)
    # Set with FAILED by the pipeline's failure path: the id its dead letter carries.
    dead_letter_id: str | None = None

    @property
    def render(self) -> RenderRecord:
        """The six render-ready fields (None where not recorded)."""
        return RenderRecord(
            thumbhash=self.thumbhash,
            dominant_color=self.dominant_color,
            focal_point=self.focal_point,
            perceptual_hash=self.perceptual_hash,
            content_sha256=self.content_sha256,
            duplicate_of=self.duplicate_of,
        )

    def to_item(self) -> dict[str, AttributeValue]:
        """The DynamoDB item (low-level attribute values); None fields are omitted."""
        values = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        values["stages"] = self.stages.model_dump(mode="json", by_alias=True, exclude_none=True)
        return to_item(values)

    @classmethod
    def from_item(cls, item: Mapping[str, Mapping[str, Any]]) -> ImageRecord:
        """Rebuild a record from a DynamoDB item."""
        return cls.model_validate(from_item(item))
