"""Base model: frozen, camelCase on the wire, snake_case in Python."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class Contract(BaseModel):
    """Every contract is immutable and speaks camelCase JSON (as the design's examples do)."""

    model_config = ConfigDict(
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        use_enum_values=False,
    )

    def to_json_dict(self) -> dict[str, Any]:
        """The wire form: camelCase keys, JSON types, no None values."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)
