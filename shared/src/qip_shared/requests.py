"""Pure builders of the DynamoDB requests that move a record, so every adapter writes the
record the same way and every write carries its transition condition."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from qip_shared.dynamo import to_attribute_value
from qip_shared.enums import ImageStatus, StageName
from qip_shared.record import ImageRecord, StageInfo
from qip_shared.transitions import Condition, stage_condition, status_condition


def _update(
    table_name: str, image_key: str, sets: Mapping[str, Any], condition: Condition
) -> dict[str, Any]:
    names = dict(condition.names)
    values = dict(condition.values)
    clauses = []
    for i, (path, value) in enumerate(sets.items()):
        parts = []
        for j, segment in enumerate(path.split(".")):
            placeholder = f"#u{i}_{j}"
            names[placeholder] = segment
            parts.append(placeholder)
        values[f":u{i}"] = to_attribute_value(value)
        clauses.append(f"{'.'.join(parts)} = :u{i}")
    return {
        "TableName": table_name,
        "Key": {"imageKey": {"S": image_key}},
        "UpdateExpression": "SET " + ", ".join(clauses),
        "ConditionExpression": condition.expression,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
        "ReturnValues": "ALL_NEW",
    }


def create_record_request(table_name: str, record: ImageRecord) -> dict[str, Any]:
    """`put_item` that creates a record only if none exists for the key."""
    condition = status_condition(ImageStatus.UPLOADED)
    return {
        "TableName": table_name,
        "Item": record.to_item(),
        "ConditionExpression": condition.expression,
        "ExpressionAttributeNames": condition.names,
    }


def stage_update_request(
    table_name: str,
    image_key: str,
    stage: StageName,
    info: StageInfo,
    *,
    updated_at: str,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """`update_item` that records one stage's status (only while the record is PROCESSING)."""
    sets: dict[str, Any] = {
        f"stages.{stage.value}": info.to_json_dict(),
        "updatedAt": updated_at,
        **(extra or {}),
    }
    return _update(table_name, image_key, sets, stage_condition(stage.value, info.status))


def status_update_request(
    table_name: str,
    image_key: str,
    target: ImageStatus,
    *,
    updated_at: str,
    fields: Mapping[str, Any] | None = None,
    stage: tuple[StageName, StageInfo] | None = None,
    reprocess: bool = False,
    extra_condition: Condition | None = None,
) -> dict[str, Any]:
    """`update_item` that moves the record to `target`, guarded by the legal transitions.

    `fields` are record attributes (camelCase) to set with it; `stage` records a stage too.
    """
    sets: dict[str, Any] = {"status": target.value, "updatedAt": updated_at, **(fields or {})}
    if stage is not None:
        sets[f"stages.{stage[0].value}"] = stage[1].to_json_dict()
    condition = status_condition(target, reprocess=reprocess)
    if extra_condition is not None:
        condition = condition.and_(extra_condition)
    return _update(table_name, image_key, sets, condition)


def rerender_update_request(
    table_name: str,
    image_key: str,
    *,
    recipe_version: str,
    fields: Mapping[str, Any],
    updated_at: str,
) -> dict[str, Any]:
    """`update_item` recording a COMPLETED image's re-rendered variants (a backfill): only while
    it is COMPLETED and not already at `recipe_version`, so a second backfill writes nothing."""
    condition = Condition(
        "#status = :completed AND (attribute_not_exists(#recipe) OR #recipe <> :recipe)",
        {"#status": "status", "#recipe": "recipeVersion"},
        {":completed": {"S": ImageStatus.COMPLETED.value}, ":recipe": {"S": recipe_version}},
    )
    sets = {**fields, "recipeVersion": recipe_version, "updatedAt": updated_at}
    return _update(table_name, image_key, sets, condition)
