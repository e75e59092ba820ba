"""Where a deployment keeps its recipe: one SSM parameter, read once per cold start and cached.

Needs the `lambda` extra (boto3). The stages that render read it through `RenderingAdapters`
(a `RecipeCache` per process); the CLI writes it (`write_recipe`). No parameter configured
means the default recipe. Rendered variants are written with `RenderingAdapters.put_variants`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from qip_shared.aws import StageAdapters, client, error_code, from_aws_error
from qip_shared.config import QipSettings
from qip_shared.errors import PermanentError
from qip_shared.keys import variant_key
from qip_shared.pipeline import RenderedVariant
from qip_shared.recipe import DEFAULT_RECIPE, EncodedVariant, Recipe

RECIPE_CACHE_SECONDS = 60.0
"""How long a warm function trusts the recipe it read (a new one is live within this)."""


def read_recipe(ssm: Any, parameter: str) -> Recipe:
    """The recipe stored in `parameter`; a missing or invalid one is a permanent error."""
    try:
        text = ssm.get_parameter(Name=parameter)["Parameter"]["Value"]
    except ClientError as err:
        if error_code(err) == "ParameterNotFound":
            raise PermanentError(
                f"recipe parameter {parameter} does not exist", code="RECIPE_NOT_FOUND"
            ) from err
        raise from_aws_error(err, "ssm get_parameter") from err
    except BotoCoreError as err:
        raise from_aws_error(err, "ssm get_parameter") from err
    try:
        return Recipe.from_json(text)
    except ValidationError as err:
        raise PermanentError(
            f"recipe in {parameter} is invalid: {err.error_count()} errors", code="BAD_RECIPE"
        ) from None


def write_recipe(ssm: Any, parameter: str, recipe: Recipe) -> None:
    """Store `recipe` in `parameter` (overwriting the current one)."""
    ssm.put_parameter(Name=parameter, Value=recipe.to_json(), Type="String", Overwrite=True)


@dataclass
class RecipeCache:
    """The recipe of this process: read on first use, re-read after `ttl_seconds`, or at once
    when a caller needs a version other than the cached one (a backfill after `recipe set`)."""

    parameter: str
    ttl_seconds: float = RECIPE_CACHE_SECONDS
    clock: Callable[[], float] = time.monotonic
    _recipe: Recipe | None = field(default=None, init=False, repr=False)
    _read_at: float = field(default=0.0, init=False, repr=False)

    def get(self, ssm: Any, wanted_version: str | None = None) -> Recipe:
        """The current recipe (the default one when no parameter is configured)."""
        if not self.parameter:
            return DEFAULT_RECIPE
        cached = self._recipe
        if (
            cached is not None
            and self.clock() - self._read_at < self.ttl_seconds
            and wanted_version in (None, cached.version)
        ):
            return cached
        self._recipe = read_recipe(ssm, self.parameter)
        self._read_at = self.clock()
        return self._recipe


@dataclass
class RenderingAdapters(StageAdapters):
    """The shared stage calls plus the recipe and the variant writes (resize, thumbnail)."""

    ssm: Any = None
    recipes: RecipeCache = field(init=False)

    def __post_init__(self) -> None:
        self.recipes = RecipeCache(self.settings.recipe_parameter)

    @classmethod
    def from_settings(cls, settings: QipSettings, session: boto3.Session | None = None) -> Self:
        """The shared clients, plus SSM when a recipe parameter is configured."""
        adapters = super().from_settings(settings, session)
        if settings.recipe_parameter:
            adapters.ssm = client("ssm", session)
        return adapters

    def recipe(self, wanted_version: str | None = None) -> Recipe:
        """The deployment's recipe (cached for this process)."""
        if self.ssm is None and self.settings.recipe_parameter:
            self.ssm = client("ssm")
        return self.recipes.get(self.ssm, wanted_version)

    def put_variants(
        self,
        bucket: str,
        image_key: str,
        encoded: list[EncodedVariant],
        *,
        recipe_version: str,
        source_sha256: str,
    ) -> list[RenderedVariant]:
        """Write every encoded variant under its deterministic key; their lineage, in order."""
        written = []
        for variant in encoded:
            key = variant_key(image_key, variant.name, variant.format)
            self.put_object(bucket, key, variant.data, variant.format.content_type)
            written.append(
                RenderedVariant(
                    name=variant.name,
                    format=variant.format,
                    width=variant.width,
                    height=variant.height,
                    key=key,
                    bytes=len(variant.data),
                    recipe_version=recipe_version,
                    source_sha256=source_sha256,
                    decoder=variant.decoder,
                    encoder=variant.encoder,
                )
            )
        return written
