"""Lambda entry point of the resize stage: read the upload, fit it in 1024x768, write the JPEG.

The lifecycle (records, events, logs, metrics, error classes) is `qip_shared.stage`'s.
"""

from __future__ import annotations

from qip_resize.adapters import Adapters
from qip_resize.core import resize_image
from qip_resize.errors import RecordNotFoundError
from qip_shared.enums import StageName
from qip_shared.keys import resized_key
from qip_shared.pipeline import PipelineState, ResizeOutput
from qip_shared.stage import Stage, StageDone

SERVICE = "qip-resize"
STAGE = StageName.RESIZE

stage: Stage[Adapters] = Stage(service=SERVICE, stage=STAGE, build=Adapters.from_env)
logger, tracer, metrics = stage.logger, stage.tracer, stage.metrics
dependencies, set_dependencies = stage.dependencies, stage.inject


def process(
    state: PipelineState, adapters: Adapters, *, execution_arn: str | None = None
) -> ResizeOutput:
    """Run the stage: record IN_PROGRESS, resize, write, record COMPLETED, announce."""
    return stage.run(
        state,
        adapters,
        work=lambda: _resize(state, adapters),
        already_done=lambda: _rerun(state, adapters),
        execution_arn=execution_arn,
    )


def _resize(state: PipelineState, adapters: Adapters) -> StageDone[ResizeOutput]:
    """Resize the upload and write it under its deterministic key."""
    output_key = resized_key(state.image_key)
    result = resize_image(adapters.get_object(state.bucket, state.image_key))
    adapters.put_jpeg(state.bucket, output_key, result.data)
    logger.info("resized", extra={"width": result.width, "height": result.height})
    output = ResizeOutput(
        image_key=state.image_key,
        resized_key=output_key,
        width=result.width,
        height=result.height,
        bytes=len(result.data),
    )
    return StageDone(
        output=output,
        record_fields={"resizedKey": output_key},
        event_metadata={"resizedKey": output_key, "width": result.width, "height": result.height},
    )


def _rerun(state: PipelineState, adapters: Adapters) -> ResizeOutput:
    """The stage is done or the record finished: redo the (deterministic) output, record nothing."""
    if adapters.get_record(state.image_key) is None:
        raise RecordNotFoundError(f"no record for the image (bucket {state.bucket})")
    return _resize(state, adapters).output


handler = stage.handler(process)
