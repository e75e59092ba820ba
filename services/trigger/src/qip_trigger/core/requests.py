"""The conditional writes of the record: claim, reprocess, take over, release, start, reject."""

from __future__ import annotations

from typing import Any

from qip_shared.enums import ImageStatus
from qip_shared.requests import status_update_request
from qip_shared.transitions import Condition
from qip_trigger.core.screening import Rejection

# Conditional writes. Names and values use their own placeholders so they combine with the
# shared transition conditions.


def claim_request(table_name: str, image_key: str, *, claimed_at: str, name: str) -> dict[str, Any]:
    """UPLOADED → PROCESSING, setting `claimedAt`: succeeds for exactly one delivery."""
    return status_update_request(
        table_name,
        image_key,
        ImageStatus.PROCESSING,
        updated_at=claimed_at,
        fields={"claimedAt": claimed_at, "executionName": name},
    )


# Attributes of the failure a reprocess claim clears (a redrive clears the failed run too).
FAILURE_FIELDS = ("errorMessage", "errorType")
FAILED_RUN_FIELDS = (*FAILURE_FIELDS, "deadLetterId", "executionArn")


def _with_removed(request: dict[str, Any], attributes: tuple[str, ...]) -> dict[str, Any]:
    """`request` (a SET update) that also REMOVEs top-level `attributes`."""
    names = dict(request["ExpressionAttributeNames"])
    placeholders = []
    for i, attribute in enumerate(attributes):
        placeholder = f"#rm{i}"
        names[placeholder] = attribute
        placeholders.append(placeholder)
    return {
        **request,
        "UpdateExpression": f"{request['UpdateExpression']} REMOVE {', '.join(placeholders)}",
        "ExpressionAttributeNames": names,
    }


def reprocess_claim_request(
    table_name: str, image_key: str, *, claimed_at: str, name: str
) -> dict[str, Any]:
    """FAILED → PROCESSING (explicit reprocess) like `claim_request`, clearing the old error.

    Only for a record whose pipeline never started (no `executionArn`, no stage), and only one
    delivery wins: the condition requires FAILED, which the winner's write ends.
    """
    request = status_update_request(
        table_name,
        image_key,
        ImageStatus.PROCESSING,
        updated_at=claimed_at,
        fields={"claimedAt": claimed_at, "executionName": name},
        reprocess=True,
        extra_condition=Condition(
            "#rstatus = :rfailed AND attribute_not_exists(#rarn) "
            "AND attribute_not_exists(#rstages.#rvalidation)",
            {
                "#rstatus": "status",
                "#rarn": "executionArn",
                "#rstages": "stages",
                "#rvalidation": "validation",
            },
            {":rfailed": {"S": ImageStatus.FAILED.value}},
        ),
    )
    return _with_removed(request, FAILURE_FIELDS)


def redrive_claim_request(
    table_name: str, image_key: str, *, marker: str, claimed_at: str, name: str
) -> dict[str, Any]:
    """FAILED → PROCESSING for the dead letter `marker`, clearing the failed run.

    Only the record still holding that marker qualifies, and only one delivery wins: the write
    removes the marker with the failure and the execution ARN, and empties the failed run's stages
    (an empty map, so the stages can record themselves again).
    """
    request = status_update_request(
        table_name,
        image_key,
        ImageStatus.PROCESSING,
        updated_at=claimed_at,
        fields={"claimedAt": claimed_at, "executionName": name, "stages": {}},
        reprocess=True,
        extra_condition=Condition(
            "#rstatus = :rfailed AND #rmarker = :rmarker",
            {"#rstatus": "status", "#rmarker": "deadLetterId"},
            {":rfailed": {"S": ImageStatus.FAILED.value}, ":rmarker": {"S": marker}},
        ),
    )
    return _with_removed(request, FAILED_RUN_FIELDS)


def _unclaimed_condition(previous_claim: str | None) -> Condition:
    """Still PROCESSING, no execution recorded, no stage run, and the claim as we saw it."""
    names = {
        "#cstatus": "status",
        "#carn": "executionArn",
        "#cclaim": "claimedAt",
        "#cstages": "stages",
        "#cvalidation": "validation",
    }
    values: dict[str, Any] = {":cprocessing": {"S": ImageStatus.PROCESSING.value}}
    parts = [
        "#cstatus = :cprocessing",
        "attribute_not_exists(#carn)",
        "attribute_not_exists(#cstages.#cvalidation)",
    ]
    if previous_claim is None:
        parts.append("attribute_not_exists(#cclaim)")
    else:
        values[":cprevious"] = {"S": previous_claim}
        parts.append("#cclaim = :cprevious")
    return Condition(" AND ".join(parts), names, values)


def _update(
    table_name: str, image_key: str, set_clause: str, condition: Condition, extra: dict[str, Any]
) -> dict[str, Any]:
    names = dict(condition.names)
    values = dict(condition.values)
    names.update(extra.get("names", {}))
    values.update(extra.get("values", {}))
    return {
        "TableName": table_name,
        "Key": {"imageKey": {"S": image_key}},
        "UpdateExpression": set_clause,
        "ConditionExpression": condition.expression,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
        "ReturnValues": "ALL_NEW",
    }


def takeover_request(
    table_name: str, image_key: str, *, previous_claim: str | None, claimed_at: str
) -> dict[str, Any]:
    """Compare-and-swap of a stale claim: only one delivery replaces the `claimedAt` it saw."""
    return _update(
        table_name,
        image_key,
        "SET #cclaim = :cnew, #updatedAt = :cnow",
        _unclaimed_condition(previous_claim),
        {
            "names": {"#updatedAt": "updatedAt"},
            "values": {":cnew": {"S": claimed_at}, ":cnow": {"S": claimed_at}},
        },
    )


def release_request(
    table_name: str, image_key: str, *, claimed_at: str, updated_at: str
) -> dict[str, Any]:
    """Drop our claim after a failed start, so the next delivery takes over at once."""
    return _update(
        table_name,
        image_key,
        "SET #updatedAt = :cnow REMOVE #cclaim",
        _unclaimed_condition(claimed_at),
        {"names": {"#updatedAt": "updatedAt"}, "values": {":cnow": {"S": updated_at}}},
    )


def record_execution_request(
    table_name: str, image_key: str, *, arn: str, claimed_at: str
) -> dict[str, Any]:
    """Record the started execution under our claim, whatever the status by then.

    A first stage that fails at once may end the record before this write: the condition is on
    the claim and the attribute (absent, or this same ARN), never the status, and the write sets
    only `executionArn`, so a terminal record keeps its status and `updatedAt`.
    """
    condition = Condition(
        "#cclaim = :cmine AND (attribute_not_exists(#carn) OR #carn = :carn)",
        {"#cclaim": "claimedAt", "#carn": "executionArn"},
        {":cmine": {"S": claimed_at}},
    )
    return _update(
        table_name,
        image_key,
        "SET #carn = :carn",
        condition,
        {"values": {":carn": {"S": arn}}},
    )


def reject_request(
    table_name: str, image_key: str, rejection: Rejection, *, updated_at: str
) -> dict[str, Any]:
    """UPLOADED → REJECTED with the reason (never a record another delivery already claimed)."""
    return status_update_request(
        table_name,
        image_key,
        ImageStatus.REJECTED,
        updated_at=updated_at,
        fields={"rejectionReason": rejection.reason.value, "errorMessage": rejection.message},
        extra_condition=Condition(
            "#status = :only_uploaded",
            {"#status": "status"},
            {":only_uploaded": {"S": ImageStatus.UPLOADED.value}},
        ),
    )


def fail_request(
    table_name: str,
    image_key: str,
    *,
    error_type: str,
    message: str,
    claimed_at: str,
    updated_at: str,
) -> dict[str, Any]:
    """PROCESSING → FAILED when the last delivery could not start the execution."""
    return status_update_request(
        table_name,
        image_key,
        ImageStatus.FAILED,
        updated_at=updated_at,
        fields={"errorType": error_type, "errorMessage": message},
        extra_condition=Condition(
            "#fclaim = :fmine AND attribute_not_exists(#farn)",
            {"#fclaim": "claimedAt", "#farn": "executionArn"},
            {":fmine": {"S": claimed_at}},
        ),
    )
