"""Lambda entry point of the resize stage: read the upload, render the recipe's resize variants.

The lifecycle (records, events, logs, metrics, error classes) is `qip_shared.stage`'s.
"""

from __future__ import annotations

from qip_resize.adapters import Adapters
from qip_resize.core import render_resize
from qip_resize.errors import RecordNotFoundError
from qip_shared.enums import StageName
from qip_shared.pipeline import PipelineState, ResizeOutput, primary_variant
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
    """Render every resize variant of the recipe and write each under its deterministic key."""
    recipe = adapters.recipe(state.recipe_version)
    data = adapters.get_object(state.bucket, state.image_key)
    variants = adapters.put_variants(
        state.bucket,
        state.image_key,
        render_resize(data, recipe.for_stage(STAGE)),
        recipe_version=recipe.version,
        source_sha256=state.source_sha256(data),
    )
    primary = primary_variant(variants)
    logger.info(
        "resized",
        extra={"width": primary.width, "height": primary.height, "variants": len(variants)},
    )
    output = ResizeOutput(
        image_key=state.image_key,
        resized_key=primary.key,
        width=primary.width,
        height=primary.height,
        bytes=primary.bytes,
        variants=variants,
    )
    return StageDone(
        output=output,
        record_fields={"resizedKey": primary.key},
        event_metadata={
            "resizedKey": primary.key,
            "width": primary.width,
            "height": primary.height,
            "recipeVersion": recipe.version,
            "variants": [v.key for v in variants],
        },
    )


def _rerun(state: PipelineState, adapters: Adapters) -> ResizeOutput:
    """The stage is done or the record finished: redo the (deterministic) output, record nothing."""
    if adapters.get_record(state.image_key) is None:
        raise RecordNotFoundError(f"no record for the image (bucket {state.bucket})")
    return _resize(state, adapters).output


handler = stage.handler(process)
