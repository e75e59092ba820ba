"""Archive's pure core: which objects to copy where, and what the finished record says.

`archivedLocation` is the archive prefix as a full S3 URI,
`s3://{archive_bucket}/archive/YYYY/MM/DD/{imageId}/`, so the record names the bucket too.
`resizedKey` and `thumbnailKey` on the record are the keys the resize and thumbnail stages wrote
(in the upload bucket, under `processed/`), the meaning those names have in their outputs; the
archived copies are listed in the output's `archivedKeys`. Every rendered variant is copied
(`archive/.../{variant}.{ext}`), and the record gets their lineage (`variants`) and the
`recipeVersion` that rendered them. A run on a COMPLETED record whose outputs were rendered by
another recipe version (a backfill) copies the new variants and records them (`plan_rerender`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from qip_shared.enums import ImageStatus
from qip_shared.keys import (
    archive_original_key,
    archive_prefix,
    archive_resized_key,
    archive_thumbnail_key,
    archive_variant_key,
)
from qip_shared.pipeline import (
    ArchiveOutput,
    PipelineState,
    RenderedVariant,
    RenderRecord,
    ResizeOutput,
    ThumbnailOutput,
    recipe_version_of,
)
from qip_shared.record import ImageRecord
from qip_shared.timeutil import duration_ms

# S3's "no version" marker in events: an unversioned object must be copied without VersionId.
NULL_VERSION = "null"


class ArtifactKind(StrEnum):
    """What an archived object is."""

    ORIGINAL = "original"
    RESIZED = "resized"
    THUMBNAIL = "thumbnail"


@dataclass(frozen=True)
class PlannedCopy:
    """One server-side copy: source object (optionally a version) to an archive key."""

    kind: ArtifactKind
    source_bucket: str
    source_key: str
    target_bucket: str
    target_key: str
    source_version_id: str | None = None

    def copy_request(self) -> dict[str, Any]:
        """Keyword arguments for `s3.copy_object` (server-side, no download)."""
        source: dict[str, str] = {"Bucket": self.source_bucket, "Key": self.source_key}
        if self.source_version_id:
            source["VersionId"] = self.source_version_id
        return {"Bucket": self.target_bucket, "Key": self.target_key, "CopySource": source}


@dataclass(frozen=True)
class ArchivePlan:
    """Everything archive will do for one image, decided before any I/O."""

    image_key: str
    upload_bucket: str
    upload_version_id: str | None
    archive_bucket: str
    prefix: str
    copies: tuple[PlannedCopy, ...]
    resized_key: str | None
    thumbnail_key: str | None
    variants: tuple[RenderedVariant, ...] = ()

    @property
    def recipe_version(self) -> str | None:
        """The recipe version that rendered the variants (None: no variants in the state)."""
        return recipe_version_of(list(self.variants))

    @property
    def archived_location(self) -> str:
        """The archive prefix as an S3 URI (the value recorded as `archivedLocation`)."""
        return archived_location(self.archive_bucket, self.prefix)

    @property
    def archived_keys(self) -> list[str]:
        """The archive keys written, in copy order."""
        return [c.target_key for c in self.copies]


def archived_location(archive_bucket: str, prefix: str) -> str:
    """`s3://{bucket}/{prefix}`: where an image's archive lives."""
    return f"s3://{archive_bucket}/{prefix}"


def source_version(version_id: str | None) -> str | None:
    """The version id to copy from, or None for an unversioned object."""
    if not version_id or version_id == NULL_VERSION:
        return None
    return version_id


def plan_archive(state: PipelineState, archive_bucket: str) -> ArchivePlan:
    """Plan the copies: always the original, and each output the state says was produced."""
    if not archive_bucket:
        raise ValueError("archive bucket is not configured")
    key, stamp = state.image_key, state.upload_timestamp
    version = source_version(state.version_id)
    copies = [
        PlannedCopy(
            ArtifactKind.ORIGINAL,
            state.bucket,
            key,
            archive_bucket,
            archive_original_key(key, stamp),
            version,
        )
    ]
    resize, thumbnail = state.resize, state.thumbnail
    # Outputs live beside the upload (processed/ in the upload bucket); they are never versioned
    # copies of interest, so the current version is archived.
    copies.extend(_output_copies(state, resize, archive_bucket))
    copies.extend(_output_copies(state, thumbnail, archive_bucket))
    return ArchivePlan(
        image_key=key,
        upload_bucket=state.bucket,
        upload_version_id=version,
        archive_bucket=archive_bucket,
        prefix=archive_prefix(key, stamp),
        copies=tuple(copies),
        resized_key=resize.resized_key if resize else None,
        thumbnail_key=thumbnail.thumbnail_key if thumbnail else None,
        variants=tuple(state.variants),
    )


def _output_copies(
    state: PipelineState, output: ResizeOutput | ThumbnailOutput | None, archive_bucket: str
) -> list[PlannedCopy]:
    """The copies of one output stage: each variant, or the classic output of an older state."""
    if output is None:
        return []
    key, stamp = state.image_key, state.upload_timestamp
    if isinstance(output, ResizeOutput):
        kind, classic, classic_target = (
            ArtifactKind.RESIZED,
            output.resized_key,
            archive_resized_key(key, stamp),
        )
    else:
        kind, classic, classic_target = (
            ArtifactKind.THUMBNAIL,
            output.thumbnail_key,
            archive_thumbnail_key(key, stamp),
        )
    if not output.variants:
        return [PlannedCopy(kind, state.bucket, classic, archive_bucket, classic_target)]
    return [
        PlannedCopy(
            kind,
            state.bucket,
            variant.key,
            archive_bucket,
            archive_variant_key(key, stamp, variant.name, variant.format),
        )
        for variant in output.variants
    ]


def plan_rerender(plan: ArchivePlan) -> ArchivePlan:
    """The part of `plan` a backfill redoes: the variants' copies (the original is archived)."""
    return replace(
        plan, copies=tuple(c for c in plan.copies if c.kind is not ArtifactKind.ORIGINAL)
    )


def needs_rerender(plan: ArchivePlan, record: ImageRecord) -> bool:
    """Whether a COMPLETED record's outputs were rendered by another recipe than `plan`'s."""
    return plan.recipe_version is not None and plan.recipe_version != record.recipe_version


def variant_fields(plan: ArchivePlan) -> dict[str, Any]:
    """The record attributes (camelCase) naming the outputs: classic keys and every variant."""
    fields: dict[str, Any] = {}
    if plan.resized_key is not None:
        fields["resizedKey"] = plan.resized_key
    if plan.thumbnail_key is not None:
        fields["thumbnailKey"] = plan.thumbnail_key
    if plan.variants:
        fields["variants"] = [v.to_json_dict() for v in plan.variants]
        fields["recipeVersion"] = plan.recipe_version
    return fields


def processing_duration(upload_timestamp: str, completed_at: str) -> int:
    """Milliseconds from upload to archive completion (never negative)."""
    return duration_ms(upload_timestamp, completed_at)


def render_record(state: PipelineState, duplicate_of: str | None) -> RenderRecord:
    """The six render-ready fields: validate's content hash, thumbnail's facts, the original."""
    facts = state.thumbnail.render if state.thumbnail is not None else None
    return RenderRecord(
        thumbhash=facts.thumbhash if facts else None,
        dominant_color=facts.dominant_color if facts else None,
        focal_point=facts.focal_point if facts else None,
        perceptual_hash=facts.perceptual_hash if facts else None,
        content_sha256=state.validation.content_sha256 if state.validation else None,
        duplicate_of=duplicate_of,
    )


def near_copy_hash(state: PipelineState) -> str | None:
    """The perceptual hash to look near copies up by; None for an image without detail."""
    facts = state.thumbnail.render if state.thumbnail is not None else None
    return facts.perceptual_hash if facts is not None and facts.near_matchable else None


def completion_fields(
    plan: ArchivePlan, duration: int, render: RenderRecord | None = None
) -> dict[str, Any]:
    """The record attributes (camelCase) written with status COMPLETED."""
    fields: dict[str, Any] = {
        "archivedLocation": plan.archived_location,
        "processingDuration": duration,
        **variant_fields(plan),
    }
    if render is not None and render.duplicate_of is not None:
        fields["duplicateOf"] = render.duplicate_of
    return fields


def build_output(
    plan: ArchivePlan, duration: int | None, render: RenderRecord | None = None
) -> ArchiveOutput:
    """Archive's result for the state machine."""
    return ArchiveOutput(
        image_key=plan.image_key,
        archived_location=plan.archived_location,
        status=ImageStatus.COMPLETED.value,
        archived_keys=plan.archived_keys,
        processing_duration=duration,
        render=render or RenderRecord(),
    )


def output_from_record(plan: ArchivePlan, record: ImageRecord) -> ArchiveOutput:
    """The result of a re-run on a record already COMPLETED: what the first run recorded."""
    return ArchiveOutput(
        image_key=plan.image_key,
        archived_location=record.archived_location or plan.archived_location,
        status=record.status.value,
        archived_keys=plan.archived_keys,
        processing_duration=record.processing_duration,
        render=record.render,
    )


class RecordVerdict(StrEnum):
    """What a failed conditional write on the record means for archive."""

    ALREADY_COMPLETED = "ALREADY_COMPLETED"
    CANNOT_ARCHIVE = "CANNOT_ARCHIVE"
    MISSING = "MISSING"


def judge_record(record: ImageRecord | None) -> RecordVerdict:
    """Classify the record found after a conditional write was refused."""
    if record is None:
        return RecordVerdict.MISSING
    if record.status is ImageStatus.COMPLETED:
        return RecordVerdict.ALREADY_COMPLETED
    return RecordVerdict.CANNOT_ARCHIVE
