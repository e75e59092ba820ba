"""Lossless conversion between plain JSON-like values and DynamoDB attribute values.

Kept dependency-free (no boto3) so cores and contracts stay light; numbers are written as
their exact decimal text and read back as int when integral, float otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

AttributeValue = dict[str, Any]


def to_attribute_value(value: Any) -> AttributeValue:
    """Convert a JSON-like Python value to a DynamoDB attribute value."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("DynamoDB numbers cannot be NaN or infinite")
        return {"N": repr(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, Mapping):
        return {"M": {str(k): to_attribute_value(v) for k, v in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [to_attribute_value(v) for v in value]}
    raise TypeError(f"cannot store {type(value).__name__} in DynamoDB")


def from_attribute_value(attribute: Mapping[str, Any]) -> Any:
    """Convert a DynamoDB attribute value back to a JSON-like Python value."""
    ((kind, raw),) = attribute.items()
    if kind == "NULL":
        return None
    if kind in ("S", "BOOL"):
        return raw
    if kind == "N":
        text = str(raw)
        if any(c in text for c in ".eE") or text.lower() in ("nan", "inf", "-inf"):
            return float(text)
        return int(text)
    if kind == "M":
        return {k: from_attribute_value(v) for k, v in raw.items()}
    if kind == "L":
        return [from_attribute_value(v) for v in raw]
    raise TypeError(f"unsupported DynamoDB attribute type {kind}")


def to_item(values: Mapping[str, Any]) -> dict[str, AttributeValue]:
    """Convert a mapping to a DynamoDB item (a map of attribute values)."""
    return {k: to_attribute_value(v) for k, v in values.items()}


def from_item(item: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Convert a DynamoDB item back to a plain mapping."""
    return {k: from_attribute_value(v) for k, v in item.items()}
