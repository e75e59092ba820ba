"""Lambda entry point of the archive stage: copy original and outputs, complete the record.

Input: the execution state (`PipelineState`). Output: `ArchiveOutput.to_json_dict()`, whose
`archivedLocation` is `s3://{archive_bucket}/archive/YYYY/MM/DD/{imageId}/` (see `core`).
Order: stages.archive IN_PROGRESS → server-side copies (the original and every variant) → the
duplicate lookup (`duplicateOf`: the earliest COMPLETED exact or near copy, through the
content-hash and perceptual-band indexes) → status COMPLETED with archivedLocation, resizedKey,
thumbnailKey, variants, recipeVersion, processingDuration, duplicateOf and stages.archive
COMPLETED (one conditional write) → StageCompleted event → delete of the upload if
QIP_DELETE_UPLOAD (only after COMPLETED, so a retry can still copy it). A re-run on a record
already COMPLETED returns the recorded result and changes nothing, unless its variants come
from another recipe version (a backfill): then the new variants are copied and recorded with
their `recipeVersion`, once. The lifecycle (logs, metrics, error classes, FAILED stage on
error) is `qip_shared.stage`'s.
"""

from __future__ import annotations

from qip_archive.adapters import Adapters
from qip_archive.core import (
    ArchivePlan,
    RecordVerdict,
    build_output,
    completion_fields,
    judge_record,
    near_copy_hash,
    needs_rerender,
    output_from_record,
    plan_archive,
    plan_rerender,
    processing_duration,
    render_record,
    variant_fields,
)
from qip_archive.errors import MisconfiguredError, RecordNotArchivableError
from qip_shared.aws import StaleWriteError
from qip_shared.duplicates import choose_original
from qip_shared.enums import ImageStatus, StageName
from qip_shared.pipeline import ArchiveOutput, PipelineState
from qip_shared.record import ImageRecord, StageInfo
from qip_shared.requests import rerender_update_request, status_update_request
from qip_shared.stage import Stage, StageDone
from qip_shared.timeutil import utc_now

SERVICE = "qip-archive"
STAGE = StageName.ARCHIVE

stage: Stage[Adapters] = Stage(service=SERVICE, stage=STAGE, build=Adapters.from_env)
logger, tracer, metrics = stage.logger, stage.tracer, stage.metrics
dependencies, set_dependencies = stage.dependencies, stage.inject


def process(
    state: PipelineState, adapters: Adapters, *, execution_arn: str | None = None
) -> ArchiveOutput:
    """Run the stage: IN_PROGRESS, copies, COMPLETED record, announce, optional delete."""
    try:
        plan = plan_archive(state, adapters.settings.archive_bucket)
    except ValueError as err:
        raise MisconfiguredError(str(err)) from err
    output = stage.run(
        state,
        adapters,
        work=lambda: _copy(plan, state, adapters),
        already_done=lambda: _already_done(plan, adapters),
        complete=lambda info, done: _complete(plan, info, done, adapters),
        execution_arn=execution_arn,
    )
    # Only reached with the record COMPLETED (fresh or earlier); deleting twice is harmless.
    if adapters.settings.delete_upload:
        adapters.delete_upload(plan.upload_bucket, plan.image_key, plan.upload_version_id)
    return output


def _copy(plan: ArchivePlan, state: PipelineState, adapters: Adapters) -> StageDone[ArchiveOutput]:
    """Copy every planned object into the archive; the result carries the completion facts."""
    for planned in plan.copies:
        adapters.copy(planned)
    render = render_record(state, _original_of(state, adapters))
    completed_at = utc_now()
    duration = processing_duration(state.upload_timestamp, completed_at)
    logger.info(
        "archived",
        extra={"archivedLocation": plan.archived_location, "duplicateOf": render.duplicate_of},
    )
    return StageDone(
        output=build_output(plan, duration, render),
        record_fields=completion_fields(plan, duration, render),
        event_metadata={
            "archivedLocation": plan.archived_location,
            "archivedKeys": plan.archived_keys,
            "render": render.to_public_dict(),
        },
        notification_fields={
            "processing_duration": duration,
            "archived_location": plan.archived_location,
        },
        completed_at=completed_at,
    )


def _original_of(state: PipelineState, adapters: Adapters) -> str | None:
    """The earliest COMPLETED exact or near copy of this image, found through the indexes."""
    sha256 = state.validation.content_sha256 if state.validation else None
    perceptual_hash = near_copy_hash(state)
    candidates = adapters.find_copies(sha256, perceptual_hash)
    return choose_original(state.image_key, candidates, perceptual_hash)


def _complete(
    plan: ArchivePlan, info: StageInfo, done: StageDone[ArchiveOutput], adapters: Adapters
) -> None:
    """PROCESSING → COMPLETED with the archive facts and the stage, in one conditional write."""
    adapters.update_record(
        status_update_request(
            adapters.settings.table_name,
            plan.image_key,
            ImageStatus.COMPLETED,
            updated_at=info.timestamp,
            fields=done.record_fields,
            stage=(STAGE, info),
        )
    )


def _already_done(plan: ArchivePlan, adapters: Adapters) -> ArchiveOutput:
    """A refused write: the recorded result if COMPLETED, a permanent error otherwise."""
    record = adapters.get_record(plan.image_key)
    verdict = judge_record(record)
    if verdict is RecordVerdict.ALREADY_COMPLETED and record is not None:
        if needs_rerender(plan, record):
            return _record_rerender(plan, record, adapters)
        logger.info("record already completed; returning its result")
        return output_from_record(plan, record)
    status = record.status.value if record else "absent"
    raise RecordNotArchivableError(f"record is {status}; archive needs PROCESSING")


def _record_rerender(plan: ArchivePlan, record: ImageRecord, adapters: Adapters) -> ArchiveOutput:
    """A backfill: archive the re-rendered variants and record them (once per recipe version)."""
    rerender = plan_rerender(plan)
    for planned in rerender.copies:
        adapters.copy(planned)
    try:
        adapters.update_record(
            rerender_update_request(
                adapters.settings.table_name,
                plan.image_key,
                recipe_version=str(plan.recipe_version),
                fields=variant_fields(plan),
                updated_at=utc_now(),
            )
        )
    except StaleWriteError:
        logger.info("variants of this recipe version already recorded")
    else:
        logger.info(
            "re-rendered variants recorded",
            extra={"recipeVersion": plan.recipe_version, "previous": record.recipe_version},
        )
    return output_from_record(plan, record)


handler = stage.handler(process)
