"""Legal status transitions, as data, and the DynamoDB conditions that enforce them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from qip_shared.dynamo import AttributeValue, to_attribute_value
from qip_shared.enums import ImageStatus, StageStatus

S = ImageStatus

# target status -> the statuses a record may move to it from.
STATUS_TRANSITIONS: Mapping[ImageStatus, frozenset[ImageStatus]] = {
    S.UPLOADED: frozenset(),  # only by creating the record
    S.PROCESSING: frozenset({S.UPLOADED}),
    S.COMPLETED: frozenset({S.PROCESSING}),
    S.FAILED: frozenset({S.PROCESSING}),
    S.REJECTED: frozenset({S.UPLOADED, S.PROCESSING}),
}

# FAILED -> PROCESSING is legal only for a reprocess claim (the trigger's, see qip_trigger.core).
REPROCESS_TRANSITIONS: Mapping[ImageStatus, frozenset[ImageStatus]] = {
    S.PROCESSING: frozenset({S.FAILED}),
}

T = StageStatus

# target stage status -> the stage statuses it may follow (None: stage not recorded yet).
# A COMPLETED stage is never reopened: a re-run of a finished stage leaves its record alone.
STAGE_TRANSITIONS: Mapping[StageStatus, frozenset[StageStatus | None]] = {
    T.IN_PROGRESS: frozenset({None, T.IN_PROGRESS, T.FAILED}),
    T.COMPLETED: frozenset({None, T.IN_PROGRESS, T.FAILED}),
    T.FAILED: frozenset({None, T.IN_PROGRESS, T.FAILED}),
}


def allowed_sources(target: ImageStatus, *, reprocess: bool = False) -> frozenset[ImageStatus]:
    """The statuses from which `target` may be entered."""
    sources = STATUS_TRANSITIONS[target]
    if reprocess:
        sources = sources | REPROCESS_TRANSITIONS.get(target, frozenset())
    return sources


def can_transition(
    current: ImageStatus | None, target: ImageStatus, *, reprocess: bool = False
) -> bool:
    """Whether a record in `current` (None: no record) may move to `target`."""
    if current is None:
        return target is S.UPLOADED
    return current in allowed_sources(target, reprocess=reprocess)


def can_transition_stage(current: StageStatus | None, target: StageStatus) -> bool:
    """Whether a stage in `current` (None: not recorded) may move to `target`."""
    return current in STAGE_TRANSITIONS[target]


@dataclass(frozen=True)
class Condition:
    """A DynamoDB condition expression with its names and (attribute-value) placeholders."""

    expression: str
    names: dict[str, str] = field(default_factory=dict)
    values: dict[str, AttributeValue] = field(default_factory=dict)

    def and_(self, other: Condition) -> Condition:
        """Both conditions (placeholders must not clash)."""
        return Condition(
            f"({self.expression}) AND ({other.expression})",
            {**self.names, **other.names},
            {**self.values, **other.values},
        )


def status_condition(target: ImageStatus, *, reprocess: bool = False) -> Condition:
    """The condition under which a record may move to `target`."""
    sources = sorted(allowed_sources(target, reprocess=reprocess))
    if not sources:
        return Condition("attribute_not_exists(#pk)", {"#pk": "imageKey"})
    placeholders = {f":from{i}": to_attribute_value(s.value) for i, s in enumerate(sources)}
    return Condition(f"#status IN ({', '.join(placeholders)})", {"#status": "status"}, placeholders)


def stage_condition(stage: str, target: StageStatus) -> Condition:
    """The condition under which `stages.<stage>` may move to `target`.

    The record must be PROCESSING (a stage never writes to a finished record) and the stage's
    own status must allow the move.
    """
    names = {"#status": "status", "#stages": "stages", "#stage": stage, "#sstatus": "status"}
    values: dict[str, AttributeValue] = {":processing": {"S": S.PROCESSING.value}}
    allowed = sorted(s.value for s in STAGE_TRANSITIONS[target] if s is not None)
    parts = ["attribute_not_exists(#stages.#stage)"]
    if allowed:
        stage_values = {f":st{i}": {"S": v} for i, v in enumerate(allowed)}
        values.update(stage_values)
        parts.append(f"#stages.#stage.#sstatus IN ({', '.join(stage_values)})")
    return Condition(f"#status = :processing AND ({' OR '.join(parts)})", names, values)
