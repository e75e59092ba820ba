"""The stage functions: one construct per selected stage, picked from `STAGE_FUNCTIONS`.

Each entry makes its stage's function (with the settings it reads) and grants what that stage
needs beyond what every stage needs (read its upload, update its record, emit and notify).
The recipe (what resize and thumbnail render) is an SSM parameter made here from the
settings; the rendering stages get its name (`QIP_RECIPE_PARAMETER`) and `ssm:GetParameter`
on it alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypedDict, Unpack

from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from qip_archive.construct import ArchiveFunction
from qip_metadata.construct import MetadataFunction
from qip_pipeline import names
from qip_platform.component import Component, StackSettings, allow, allow_objects
from qip_platform.functions import FunctionAssets
from qip_platform.storage import Storage
from qip_resize.construct import ResizeFunction
from qip_shared import config, keys
from qip_shared.cdk import PipelineProps, ServiceFunction
from qip_shared.enums import StageName
from qip_shared.record import DUPLICATE_INDEX_NAMES
from qip_thumbnail.construct import ThumbnailFunction
from qip_validate.construct import ValidateFunction

_READ = ["s3:GetObject", "s3:GetObjectVersion"]


@dataclass(frozen=True)
class StageBuild:
    """What one stage's entry is given: where to build, the settings, the shared resources."""

    scope: Construct
    settings: StackSettings
    storage: Storage
    props: PipelineProps
    recipe: ssm.StringParameter | None = None

    def recipe_environment(self) -> dict[str, str]:
        """Where a rendering stage finds the recipe."""
        assert self.recipe is not None
        return {config.ENV_RECIPE_PARAMETER: self.recipe.parameter_name}


def _validate(build: StageBuild) -> ServiceFunction:
    s = build.settings
    return ValidateFunction(
        build.scope, "Validate", max_bytes=s.max_bytes, max_pixels=s.max_pixels, **build.props
    )


def _metadata(build: StageBuild) -> ServiceFunction:
    s = build.settings
    return MetadataFunction(
        build.scope, "Metadata", max_pixels=s.max_pixels, store_gps=s.store_gps, **build.props
    )


def _resize(build: StageBuild) -> ServiceFunction:
    return ResizeFunction(
        build.scope,
        "Resize",
        max_pixels=build.settings.max_pixels,
        environment=build.recipe_environment(),
        **build.props,
    )


def _thumbnail(build: StageBuild) -> ServiceFunction:
    return ThumbnailFunction(
        build.scope,
        "Thumbnail",
        max_pixels=build.settings.max_pixels,
        environment=build.recipe_environment(),
        **build.props,
    )


def _archive(build: StageBuild) -> ServiceFunction:
    return ArchiveFunction(
        build.scope,
        "Archive",
        archive_bucket=build.storage.archive_bucket,
        delete_upload=build.settings.delete_upload,
        **build.props,
    )


def _render(fn: lambda_.Function, build: StageBuild) -> None:
    """Read the recipe, write the variants under processed/."""
    assert build.recipe is not None
    allow(fn, "ReadRecipe", ["ssm:GetParameter"], [build.recipe.parameter_arn])
    bucket = build.storage.upload_bucket
    allow_objects(fn, "WriteProcessed", ["s3:PutObject"], bucket, keys.PROCESSED_PREFIX)


def _archive_outputs(fn: lambda_.Function, build: StageBuild) -> None:
    storage = build.storage
    processed, uploads = keys.PROCESSED_PREFIX, keys.UPLOAD_PREFIX
    allow_objects(fn, "ReadProcessed", ["s3:GetObject"], storage.upload_bucket, processed)
    archive = keys.ARCHIVE_PREFIX
    allow_objects(fn, "WriteArchive", ["s3:PutObject"], storage.archive_bucket, archive)
    # The duplicate lookup queries the content-hash and perceptual-band indexes only.
    indexes = [f"{storage.table.table_arn}/index/{name}" for name in DUPLICATE_INDEX_NAMES]
    allow(fn, "FindDuplicates", ["dynamodb:Query"], indexes)
    if build.settings.delete_upload:
        deletes = ["s3:DeleteObject", "s3:DeleteObjectVersion"]
        allow_objects(fn, "DeleteUploads", deletes, storage.upload_bucket, uploads)


@dataclass(frozen=True)
class StageEntry:
    """How to make one stage's function, and what it may do beyond the common stage grants."""

    make: Callable[[StageBuild], ServiceFunction]
    grant: Callable[[lambda_.Function, StageBuild], None] | None = None


STAGE_FUNCTIONS: Mapping[StageName, StageEntry] = {
    StageName.VALIDATION: StageEntry(_validate),
    StageName.METADATA: StageEntry(_metadata),
    StageName.RESIZE: StageEntry(_resize, _render),
    StageName.THUMBNAIL: StageEntry(_thumbnail, _render),
    StageName.ARCHIVE: StageEntry(_archive, _archive_outputs),
}


def grant_common(construct: ServiceFunction, storage: Storage) -> None:
    """Its own log group, its events and notifications."""
    fn = construct.function
    log_actions = ["logs:CreateLogStream", "logs:PutLogEvents"]
    allow(fn, "WriteOwnLogs", log_actions, [construct.log_group.log_group_arn])
    allow(fn, "PublishEvents", ["events:PutEvents"], [storage.event_bus.event_bus_arn])
    allow(fn, "PublishNotifications", ["sns:Publish"], [storage.topic.topic_arn])


class StageFunctionsProps(TypedDict):
    """The selected stages, the settings, the shared resources and the function assets."""

    stages: Sequence[StageName]
    settings: StackSettings
    storage: Storage
    assets: FunctionAssets


class StageFunctions(Component):
    """The selected stages' functions (`.functions`, in stage order) with their grants, and
    the recipe parameter (`.recipe`, None when no rendering stage is selected)."""

    def __init__(
        self, scope: Construct, construct_id: str, **props: Unpack[StageFunctionsProps]
    ) -> None:
        super().__init__(scope, construct_id)
        storage = props["storage"]
        self.functions: dict[StageName, lambda_.Function] = {}
        self.recipe: ssm.StringParameter | None = None
        if set(props["stages"]) & {StageName.RESIZE, StageName.THUMBNAIL}:
            recipe = props["settings"].recipe
            self.recipe = ssm.StringParameter(
                self,
                "Recipe",
                string_value=recipe.to_json(),
                description=f"QIP recipe {recipe.version}: what resize and thumbnail render",
                tier=ssm.ParameterTier.STANDARD,
            )
        for stage in props["stages"]:
            entry = STAGE_FUNCTIONS[stage]
            function_props = props["assets"].props(names.STAGE_SERVICES[stage])
            build = StageBuild(
                scope=self,
                settings=props["settings"],
                storage=storage,
                props=PipelineProps(
                    **function_props,
                    upload_bucket=storage.upload_bucket,
                    table=storage.table,
                    topic=storage.topic,
                    event_bus=storage.event_bus,
                ),
                recipe=self.recipe,
            )
            construct = entry.make(build)
            fn = construct.function
            grant_common(construct, storage)
            table = [storage.table.table_arn]
            allow(fn, "UpdateRecord", ["dynamodb:GetItem", "dynamodb:UpdateItem"], table)
            # Stages read the exact object version they were started for.
            allow_objects(fn, "ReadUploads", _READ, storage.upload_bucket, keys.UPLOAD_PREFIX)
            if entry.grant is not None:
                entry.grant(fn, build)
            self.functions[stage] = fn
