"""State machine inputs and outputs (design section 6).

Each task's result is placed by the state machine under its own key of the execution state
(`ResultPath`), so every stage receives a `PipelineState`: the `PipelineInput` fields plus the
results of the stages that ran before it. Optional stages simply leave their key absent.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from pydantic import Field

from qip_shared.base import Contract
from qip_shared.enums import ImageFormat
from qip_shared.errors import RetryableError
from qip_shared.recipe import OutputFormat

# Where each task's result is placed in the execution state (`ResultPath: "$.<key>"`).
RESULT_PATH_VALIDATION = "validation"
RESULT_PATH_METADATA = "metadata"
RESULT_PATH_PROCESSED = "processed"
RESULT_PATH_ARCHIVE = "archive"
RESULT_PATH_ERROR = "error"

SHA256_HEX_PATTERN = r"^[0-9a-f]{64}$"
"""A SHA-256 digest as 64 lowercase hex characters (`hashlib.sha256(data).hexdigest()`)."""


class PipelineInput(Contract):
    """What the trigger starts an execution with (design "StepFunctionsInput")."""

    image_key: str = Field(min_length=1)
    bucket: str = Field(min_length=1)
    upload_timestamp: str
    content_type: str
    size: int = Field(ge=0)
    version_id: str | None = None
    etag: str | None = None
    # Set by a backfill: the recipe version the outputs must be rendered with.
    recipe_version: str | None = None


class ValidateOutput(Contract):
    """Validate's result: the image is acceptable, its format and header dimensions."""

    image_key: str
    bucket: str
    valid: bool
    format: ImageFormat
    width: int = Field(ge=1)
    height: int = Field(ge=1)
    frames: int = Field(default=1, ge=1)
    # The upload's SHA-256, hashed once where validate reads the whole object; later stages
    # reuse it (duplicates, output lineage) instead of hashing again.
    content_sha256: str | None = Field(default=None, pattern=SHA256_HEX_PATTERN)


class GpsCoordinates(Contract):
    """Decimal-degree position; only recorded when a setting asks for it."""

    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    altitude: float | None = None


class ExifSummary(Contract):
    """The useful EXIF fields (camera, lens, exposure, taken-at)."""

    make: str | None = None
    model: str | None = None
    lens_model: str | None = None
    exposure_time: float | None = None
    f_number: float | None = None
    iso: int | None = None
    focal_length: float | None = None
    taken_at: str | None = None
    software: str | None = None
    gps: GpsCoordinates | None = None


class ImageMetadata(Contract):
    """Image properties read from the header, without decoding pixels."""

    width: int = Field(ge=1)
    height: int = Field(ge=1)
    format: ImageFormat
    space: str
    channels: int = Field(ge=1, le=5)
    has_alpha: bool
    frames: int = Field(default=1, ge=1)
    orientation: int = Field(default=1, ge=1, le=8)
    display_width: int = Field(ge=1)
    display_height: int = Field(ge=1)
    bits_per_sample: int | None = None
    has_icc_profile: bool = False
    exif: ExifSummary | None = None


class MetadataOutput(Contract):
    """Metadata's result."""

    image_key: str
    bucket: str
    metadata: ImageMetadata


class RenderedVariant(Contract):
    """One written output and its lineage: what made it, from what, with which recipe."""

    name: str = Field(min_length=1)
    format: OutputFormat
    width: int = Field(ge=1)
    height: int = Field(ge=1)
    key: str = Field(min_length=1)
    bytes: int = Field(ge=1)
    recipe_version: str = Field(min_length=1)
    source_sha256: str = Field(pattern=SHA256_HEX_PATTERN)
    decoder: str = Field(min_length=1)
    encoder: str = Field(min_length=1)


def primary_variant(variants: list[RenderedVariant]) -> RenderedVariant:
    """The variant a stage's classic output names: its first JPEG, else its first variant."""
    if not variants:
        raise ValueError("a rendering stage writes at least one variant")
    return next((v for v in variants if v.format is OutputFormat.JPEG), variants[0])


MIXED_RECIPE_VERSION = "(mixed)"
"""The recorded version of variants rendered by different recipes: never a real version, so a
backfill finds such an image stale."""


def recipe_version_of(variants: list[RenderedVariant]) -> str | None:
    """The recipe version of `variants` (`MIXED_RECIPE_VERSION` if they disagree; None if none)."""
    versions = {v.recipe_version for v in variants}
    if not versions:
        return None
    return versions.pop() if len(versions) == 1 else MIXED_RECIPE_VERSION


class ResizeOutput(Contract):
    """Resize's result: its first JPEG variant (`resizedKey`, as before) and every variant."""

    image_key: str
    resized_key: str
    width: int = Field(ge=1)
    height: int = Field(ge=1)
    bytes: int = Field(ge=1)
    variants: list[RenderedVariant] = []


HEX_COLOUR_PATTERN = r"^#[0-9a-f]{6}$"
PERCEPTUAL_HASH_PATTERN = r"^[0-9a-f]{16}$"


class FocalPoint(Contract):
    """Where the subject is, as fractions of the upright image's width and height."""

    x: float = Field(ge=0, le=1)
    y: float = Field(ge=0, le=1)


class RenderFacts(Contract):
    """What the thumbnail stage learns from its decode for a front end (issue 18)."""

    thumbhash: str = Field(min_length=1)
    dominant_color: str = Field(pattern=HEX_COLOUR_PATTERN)
    focal_point: FocalPoint
    perceptual_hash: str = Field(pattern=PERCEPTUAL_HASH_PATTERN)
    # False for a detail-less (flat) image: its perceptual hash is not used to find near copies.
    near_matchable: bool = True


class RenderRecord(Contract):
    """The render-ready fields of a finished image, as the record, events and CLI show them."""

    thumbhash: str | None = None
    dominant_color: str | None = None
    focal_point: FocalPoint | None = None
    perceptual_hash: str | None = None
    content_sha256: str | None = None
    duplicate_of: str | None = None

    def to_public_dict(self) -> dict[str, Any]:
        """All six fields, camelCase, `null` where unknown (the CLI's `render` object)."""
        return self.model_dump(mode="json", by_alias=True)


class ThumbnailOutput(Contract):
    """Thumbnail's result: its first JPEG variant (`thumbnailKey`, as before) and every variant."""

    image_key: str
    thumbnail_key: str
    width: int = Field(ge=1)
    height: int = Field(ge=1)
    bytes: int = Field(ge=1)
    variants: list[RenderedVariant] = []
    render: RenderFacts | None = None


class ArchiveOutput(Contract):
    """Archive's result; `render` is always present so the completion messages can name it."""

    image_key: str
    archived_location: str
    status: str
    archived_keys: list[str] = []
    processing_duration: int | None = None
    render: RenderRecord = RenderRecord()


class TaskError(Contract):
    """What a Catch places at `$.error`: the error name and its cause (a JSON string)."""

    error: str = Field(alias="Error")
    cause: str | None = Field(default=None, alias="Cause")


class PipelineState(PipelineInput):
    """The execution state a stage receives: the input plus earlier stages' results."""

    validation: ValidateOutput | None = None
    metadata: MetadataOutput | None = None
    # Left to right: a plain dict matches "more exactly" than a model parsed from JSON strings.
    processed: (
        list[
            Annotated[
                ResizeOutput | ThumbnailOutput | dict[str, Any], Field(union_mode="left_to_right")
            ]
        ]
        | None
    ) = None
    archive: ArchiveOutput | None = None
    error: TaskError | None = None

    @property
    def resize(self) -> ResizeOutput | None:
        """The resize result among the parallel branch outputs, if that branch ran."""
        return next((p for p in self.processed or [] if isinstance(p, ResizeOutput)), None)

    @property
    def thumbnail(self) -> ThumbnailOutput | None:
        """The thumbnail result among the parallel branch outputs, if that branch ran."""
        return next((p for p in self.processed or [] if isinstance(p, ThumbnailOutput)), None)

    def source_sha256(self, data: bytes) -> str:
        """The upload's SHA-256 for the outputs' lineage: validate's, hashed once; `data` (the
        upload's bytes) is hashed only for a state from before validate carried it."""
        if self.validation is not None and self.validation.content_sha256:
            return self.validation.content_sha256
        return hashlib.sha256(data).hexdigest()

    @property
    def variants(self) -> list[RenderedVariant]:
        """Every variant the output stages rendered, resize's first."""
        outputs = (self.resize, self.thumbnail)
        return [v for output in outputs if output is not None for v in output.variants]


class ExecutionContext(Contract):
    """Where a task runs: the state machine passes it from its context object (`$$`)."""

    execution_id: str | None = None
    execution_name: str | None = None
    execution_start_time: str | None = None
    state_name: str | None = None
    retry_count: int = Field(default=0, ge=0)
    service_retries: int | None = Field(default=None, ge=0)
    """The task's retries of a `RetryableError` or Lambda service error (its workflow's budget)."""
    task_retries: int | None = Field(default=None, ge=0)
    """The task's retries of any other task failure."""

    @property
    def attempt(self) -> int:
        """The attempt number of this task (1 on the first try)."""
        return self.retry_count + 1

    def is_last_attempt(self, err: Exception) -> bool:
        """Whether the state machine retries no more after this error (budget known)."""
        retries = self.service_retries if isinstance(err, RetryableError) else self.task_retries
        return retries is not None and self.retry_count >= retries


class TaskInput(Contract):
    """What a stage task receives: the execution state and its execution context."""

    state: PipelineState
    execution: ExecutionContext
