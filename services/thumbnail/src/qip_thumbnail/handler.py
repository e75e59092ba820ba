"""Lambda entry point of the thumbnail stage: read the upload, render the recipe's thumbnails.

The same decode yields the render-ready facts (ThumbHash, dominant colour, focal point,
perceptual hash): they go on the record (with the perceptual hash's index bands) and in the
output, where archive finds them for the duplicate lookup and the completion messages.

The lifecycle (records, events, logs, metrics, error classes) is `qip_shared.stage`'s.
"""

from __future__ import annotations

from qip_shared.enums import StageName
from qip_shared.pipeline import PipelineState, ThumbnailOutput, primary_variant
from qip_shared.stage import Stage, StageDone
from qip_thumbnail.adapters import Adapters
from qip_thumbnail.core import render_fields, render_thumbnails
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
    """Render every thumbnail variant of the recipe and write each under its deterministic key."""
    recipe = adapters.recipe(state.recipe_version)
    data = adapters.get_object(state.bucket, state.image_key)
    thumbnails = render_thumbnails(data, recipe.for_stage(STAGE))
    variants = adapters.put_variants(
        state.bucket,
        state.image_key,
        thumbnails.variants,
        recipe_version=recipe.version,
        source_sha256=state.source_sha256(data),
    )
    primary = primary_variant(variants)
    logger.info(
        "thumbnail written",
        extra={"width": primary.width, "height": primary.height, "variants": len(variants)},
    )
    output = ThumbnailOutput(
        image_key=state.image_key,
        thumbnail_key=primary.key,
        width=primary.width,
        height=primary.height,
        bytes=primary.bytes,
        variants=variants,
        render=thumbnails.render,
    )
    return StageDone(
        output=output,
        record_fields={"thumbnailKey": primary.key, **render_fields(thumbnails.render)},
        event_metadata={
            "thumbnailKey": primary.key,
            "width": primary.width,
            "height": primary.height,
            "recipeVersion": recipe.version,
            "variants": [v.key for v in variants],
        },
    )


def _rerun(state: PipelineState, adapters: Adapters) -> ThumbnailOutput:
    """The stage is done or the record finished: redo the (deterministic) output, record nothing."""
    if adapters.get_record(state.image_key) is None:
        raise RecordNotFoundError(f"no record for the image (bucket {state.bucket})")
    return _thumbnail(state, adapters).output


handler = stage.handler(process)
