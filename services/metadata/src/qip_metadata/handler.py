"""Metadata Lambda: record the image's properties and EXIF summary, read from its header.

Input: the execution state (`PipelineState`, after validate). Output:
`MetadataOutput.to_json_dict()`.
Order: stages.metadata IN_PROGRESS → read the object → `core.extract_metadata` (GPS only when
QIP_STORE_GPS is on) → stages.metadata COMPLETED with width/height/format and `details` (the
ImageMetadata) → StageCompleted event + STAGE_COMPLETED notification (best effort).
A failure records stages.metadata FAILED (best effort) and raises the shared error class.
Re-runs are idempotent: a refused stage write means the stage is done or the record finished;
a completed stage answers from the record, writing and publishing nothing.
"""

from __future__ import annotations

from qip_metadata.adapters import Adapters
from qip_metadata.core import extract_metadata
from qip_shared.enums import StageName, StageStatus
from qip_shared.errors import PermanentError
from qip_shared.pipeline import ImageMetadata, MetadataOutput, PipelineState
from qip_shared.stage import Stage, StageDone

SERVICE = "qip-metadata"
STAGE = StageName.METADATA

stage: Stage[Adapters] = Stage(service=SERVICE, stage=STAGE, build=Adapters.from_env)
logger, tracer, metrics = stage.logger, stage.tracer, stage.metrics
dependencies, set_dependencies = stage.dependencies, stage.inject


def extract(
    state: PipelineState, adapters: Adapters, *, execution_arn: str | None = None
) -> MetadataOutput:
    """The whole stage for one image, with injected adapters."""
    return stage.run(
        state,
        adapters,
        work=lambda: _extract(state, adapters),
        already_done=lambda: _already_done(state, adapters),
        execution_arn=execution_arn,
    )


def _extract(state: PipelineState, adapters: Adapters) -> StageDone[MetadataOutput]:
    """Read the object and extract its metadata; the COMPLETED stage carries it as `details`."""
    metadata = _read_metadata(state, adapters)
    logger.info(
        "metadata extracted",
        extra={
            "format": metadata.format.value,
            "width": metadata.width,
            "height": metadata.height,
            "orientation": metadata.orientation,
        },
    )
    return StageDone(
        output=MetadataOutput(image_key=state.image_key, bucket=state.bucket, metadata=metadata),
        stage_fields={
            "width": metadata.width,
            "height": metadata.height,
            "format": metadata.format.value,
            "details": metadata,
        },
        event_metadata=metadata.to_json_dict(),
    )


def _already_done(state: PipelineState, adapters: Adapters) -> MetadataOutput:
    """Answer a refused stage write from the record: a completed stage is the answer."""
    record = adapters.get_record(state.image_key)
    if record is None:
        raise PermanentError("no record for this image", code="RECORD_NOT_FOUND")
    recorded = record.stages.get(STAGE)
    if recorded is not None and recorded.status is StageStatus.COMPLETED:
        logger.info("metadata already recorded; answering from the record")
        # A completed stage recorded without its details: extract again, writing nothing.
        metadata = recorded.details or _read_metadata(state, adapters)
        return MetadataOutput(image_key=state.image_key, bucket=state.bucket, metadata=metadata)
    raise PermanentError(
        f"record is {record.status.value}; metadata needs PROCESSING", code="RECORD_NOT_READY"
    )


def _read_metadata(state: PipelineState, adapters: Adapters) -> ImageMetadata:
    """Read the (capped) object and extract its metadata (GPS only when the settings say so)."""
    settings = adapters.settings
    data = adapters.read_object(state.bucket, state.image_key, state.version_id, settings.max_bytes)
    return extract_metadata(data, store_gps=settings.store_gps)


handler = stage.handler(extract)
