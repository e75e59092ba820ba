"""The versioned recipe: which variants the resize and thumbnail stages render, per deployment.

A recipe is JSON (`{"version", "variants": [{"name", "stage", "fit", "width", "height",
"formats"}]}`), validated here and nowhere else. The deployment stores it where the functions
read it at start (`qip_shared.recipe_source`); without one they render `DEFAULT_RECIPE`, the
design's two JPEGs, under today's keys (`processed/{imageId}/resized.jpg`, `thumbnail.jpg`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Self

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from qip_shared.base import Contract
from qip_shared.config import RESIZE_BOX, THUMBNAIL_SIZE
from qip_shared.enums import StageName

MAX_VARIANT_SIDE = 4096
"""The longest side a variant may ask for (a 16 MP output; the upload cap is 100 MP)."""
MAX_VARIANTS = 12
"""Variants per recipe: each one is a resampling pass and one encode per format."""
RENDERING_STAGES = (StageName.RESIZE, StageName.THUMBNAIL)

VariantName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")]
RecipeVersion = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]


class OutputFormat(StrEnum):
    """An encoding a variant can be written in."""

    JPEG = "jpeg"
    WEBP = "webp"
    AVIF = "avif"

    @property
    def extension(self) -> str:
        """The file extension of the output key, without the dot."""
        return "jpg" if self is OutputFormat.JPEG else self.value

    @property
    def content_type(self) -> str:
        """The MIME type the object is written with."""
        return f"image/{self.value}"


class Fit(StrEnum):
    """How the source meets the variant's box."""

    INSIDE = "inside"  # the whole image inside the box, aspect kept, never upscaled
    COVER = "cover"  # exactly the box, cropped to its aspect


class VariantSpec(Contract):
    """One output: its name (the key's stem), the stage that renders it, geometry, formats."""

    model_config = ConfigDict(extra="forbid")

    name: VariantName
    stage: StageName
    fit: Fit
    width: int = Field(ge=1, le=MAX_VARIANT_SIDE)
    height: int = Field(ge=1, le=MAX_VARIANT_SIDE)
    formats: tuple[OutputFormat, ...] = Field(min_length=1, max_length=len(OutputFormat))

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.stage not in RENDERING_STAGES:
            raise ValueError(f"stage must be resize or thumbnail, not {self.stage.value}")
        if len(set(self.formats)) != len(self.formats):
            raise ValueError(f"variant {self.name}: a format is listed twice")
        return self

    @property
    def box(self) -> tuple[int, int]:
        """(width, height)."""
        return (self.width, self.height)


class Recipe(Contract):
    """What a deployment renders, and the version its outputs are stamped with."""

    model_config = ConfigDict(extra="forbid")

    version: RecipeVersion
    variants: tuple[VariantSpec, ...] = Field(min_length=1, max_length=MAX_VARIANTS)

    @model_validator(mode="after")
    def _check(self) -> Self:
        names = [v.name for v in self.variants]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"variant names must be unique: {', '.join(duplicates)}")
        missing = [s.value for s in RENDERING_STAGES if not self.for_stage(s)]
        if missing:
            raise ValueError(f"no variant for stage {', '.join(missing)}")
        return self

    def for_stage(self, stage: StageName) -> tuple[VariantSpec, ...]:
        """The variants `stage` renders, in recipe order."""
        return tuple(v for v in self.variants if v.stage is stage)

    def to_json(self) -> str:
        """The recipe as stored (compact, stable key order)."""
        return json.dumps(self.to_json_dict(), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> Recipe:
        """Parse and validate a stored or user-written recipe."""
        return cls.model_validate_json(text)


DEFAULT_RECIPE = Recipe(
    version="1",
    variants=(
        VariantSpec(
            name="resized",
            stage=StageName.RESIZE,
            fit=Fit.INSIDE,
            width=RESIZE_BOX[0],
            height=RESIZE_BOX[1],
            formats=(OutputFormat.JPEG,),
        ),
        VariantSpec(
            name="thumbnail",
            stage=StageName.THUMBNAIL,
            fit=Fit.COVER,
            width=THUMBNAIL_SIZE[0],
            height=THUMBNAIL_SIZE[1],
            formats=(OutputFormat.JPEG,),
        ),
    ),
)
"""The design's two outputs: display 1024x768 inside, thumb 200x200 cover, JPEG."""


@dataclass(frozen=True)
class EncodedVariant:
    """One variant rendered in one format: its bytes, pixel size and the codecs that made it."""

    name: str
    format: OutputFormat
    width: int
    height: int
    data: bytes
    decoder: str
    encoder: str
