"""Lambda entry point of the thumbnail stage: read the upload, write its 200x200 centre crop.

The lifecycle (records, events, logs, metrics, error classes) is `qip_shared.stage`'s.
"""

from __future__ import annotations

from qip_shared.enums import StageName
from qip_shared.keys import thumbnail_key
from qip_shared.pipeline import PipelineState, ThumbnailOutput
from qip_shared.stage import Stage, StageDone
from qip_thumbnail.adapters import Adapters
from qip_thumbnail.core import make_thumbnail
from qip_thumbnail.errors import RecordNotFoundError

SERVICE = "qip-thumbnail"
STAGE = StageName.THUMBNAIL

stage: Stage[Adapters] = Stage(service=SERVICE, stage=STAGE, build=Adapters.from_env)
logger, tracer, metrics = stage.logger, stage.tracer, stage.metrics
dependencies, set_dependencies = stage.dependencies, stage.inject


def process(
    state: PipelineState, adapters: Adapters, *, execution_arn: str | None = None
) -> ThumbnailOutput:
    """Run the stage: record IN_PROGRESS, make the thumbnail, write, record COMPLETED, announce."""
    return stage.run(
        state,
        adapters,
        work=lambda: _thumbnail(state, adapters),
        already_done=lambda: _rerun(state, adapters),
        execution_arn=execution_arn,
    )


def _thumbnail(state: PipelineState, adapters: Adapters) -> StageDone[ThumbnailOutput]:
    """Make the thumbnail and write it under its deterministic key."""
    output_key = thumbnail_key(state.image_key)
    result = make_thumbnail(adapters.get_object(state.bucket, state.image_key))
    adapters.put_jpeg(state.bucket, output_key, result.data)
    logger.info("thumbnail written", extra={"width": result.width, "height": result.height})
    output = ThumbnailOutput(
        image_key=state.image_key,
        thumbnail_key=output_key,
        width=result.width,
        height=result.height,
        bytes=len(result.data),
    )
    return StageDone(
        output=output,
        record_fields={"thumbnailKey": output_key},
        event_metadata={"thumbnailKey": output_key, "width": result.width, "height": result.height},
    )


def _rerun(state: PipelineState, adapters: Adapters) -> ThumbnailOutput:
    """The stage is done or the record finished: redo the (deterministic) output, record nothing."""
    if adapters.get_record(state.image_key) is None:
        raise RecordNotFoundError(f"no record for the image (bucket {state.bucket})")
    return _thumbnail(state, adapters).output


handler = stage.handler(process)
