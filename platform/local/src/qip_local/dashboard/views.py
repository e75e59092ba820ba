"""What the dashboard shows, computed from records and execution histories (no I/O here)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import PurePosixPath
from typing import Any

from qip_local.client import error_text
from qip_pipeline import definition as definition_states
from qip_pipeline.definition import STATE_NAMES
from qip_shared.enums import ImageStatus, StageName, StageStatus
from qip_shared.record import ImageRecord
from qip_shared.timeutil import parse_timestamp

# Execution-history event types that end an execution.
EXECUTION_END_EVENTS = frozenset(
    {"ExecutionSucceeded", "ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut"}
)
# Event types that report the outcome of one attempt of a task (or a whole Parallel).
FAILURE_EVENTS = frozenset(
    {
        "LambdaFunctionFailed",
        "LambdaFunctionTimedOut",
        "LambdaFunctionStartFailed",
        "LambdaFunctionScheduleFailed",
        "TaskFailed",
        "TaskTimedOut",
        "TaskStartFailed",
        "TaskSubmitFailed",
        "ParallelStateFailed",
    }
)
SUCCESS_EVENTS = frozenset({"LambdaFunctionSucceeded", "TaskSucceeded", "ParallelStateSucceeded"})
SCHEDULED_EVENTS = frozenset({"LambdaFunctionScheduled", "TaskScheduled"})
STAGE_STATUS_PROGRESS = {
    StageStatus.IN_PROGRESS: "running",
    StageStatus.COMPLETED: "succeeded",
    StageStatus.FAILED: "error",
}


class FilterError(ValueError):
    """A filter value the dashboard cannot use (shown to the user as is)."""


@dataclass(frozen=True)
class Filters:
    """The list's filters: one status (or all) and an inclusive upload-date range (UTC days)."""

    status: ImageStatus | None = None
    since: date | None = None
    until: date | None = None

    def as_query(self) -> dict[str, str]:
        """The filters as query-string values (empty ones left out)."""
        values = {
            "status": self.status.value if self.status else "",
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
        }
        return {key: value for key, value in values.items() if value}


def parse_filters(params: Mapping[str, str]) -> Filters:
    """Read `status`, `since` and `until` (YYYY-MM-DD) from query parameters."""
    raw_status = (params.get("status") or "").strip().upper()
    status = None
    if raw_status:
        try:
            status = ImageStatus(raw_status)
        except ValueError:
            valid = ", ".join(s.value for s in ImageStatus)
            raise FilterError(f"unknown status {raw_status!r}; choose one of {valid}") from None
    since = _day(params.get("since"), "from")
    until = _day(params.get("until"), "to")
    if since and until and since > until:
        raise FilterError("the 'from' date is after the 'to' date")
    return Filters(status, since, until)


def _day(text: str | None, label: str) -> date | None:
    if not text or not text.strip():
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise FilterError(f"the {label!r} date must look like 2026-11-26") from None


def display_name(record: ImageRecord) -> str:
    """The uploader's file name, else the key's last part."""
    return record.original_name or PurePosixPath(record.image_key).name


def problem_text(record: ImageRecord) -> str | None:
    """The reason code of a REJECTED image, the error of a FAILED one, else None."""
    if record.status is ImageStatus.REJECTED and record.rejection_reason is not None:
        return record.rejection_reason.value
    if record.status is ImageStatus.FAILED:
        return error_text(record) or "failed (no error message recorded)"
    return None


def has_thumbnail(record: ImageRecord) -> bool:
    """True once the thumbnail stage has written its output."""
    info = record.stages.get(StageName.THUMBNAIL)
    return bool(record.thumbnail_key) or (info is not None and info.status is StageStatus.COMPLETED)


# -- the stage timeline ---------------------------------------------------------------------
@dataclass(frozen=True)
class TimelineRow:
    """One stage of one image, as recorded, with its bar on a shared time axis (0..1)."""

    stage: str
    status: str
    started_at: str | None
    completed_at: str | None
    duration_ms: int | None
    attempts: int | None
    error: str | None
    bar_start: float
    bar_width: float


def timeline(
    record: ImageRecord, stages: Sequence[StageName], *, now: datetime
) -> list[TimelineRow]:
    """Each selected stage's status, start, end and duration, with a bar position."""
    starts: list[datetime] = []
    ends: list[datetime] = []
    for stage in stages:
        info = record.stages.get(stage)
        if info is None:
            continue
        if info.started_at:
            starts.append(parse_timestamp(info.started_at))
        ends.append(parse_timestamp(info.completed_at) if info.completed_at else now)
    origin = min(starts) if starts else None
    span = (max(ends) - origin).total_seconds() if origin and ends else 0.0
    rows: list[TimelineRow] = []
    for stage in stages:
        info = record.stages.get(stage)
        if info is None:
            rows.append(TimelineRow(stage.value, "PENDING", None, None, None, None, None, 0, 0))
            continue
        bar_start = bar_width = 0.0
        if origin is not None and info.started_at and span > 0:
            began = parse_timestamp(info.started_at)
            ended = parse_timestamp(info.completed_at) if info.completed_at else now
            bar_start = max(0.0, (began - origin).total_seconds() / span)
            bar_width = max(0.005, (ended - began).total_seconds() / span)
        rows.append(
            TimelineRow(
                stage=stage.value,
                status=info.status.value,
                started_at=info.started_at,
                completed_at=info.completed_at,
                duration_ms=info.duration_ms,
                attempts=info.attempts,
                error=info.error_message,
                bar_start=round(bar_start, 4),
                bar_width=round(min(bar_width, 1.0 - bar_start), 4),
            )
        )
    return rows


# -- where the execution is -----------------------------------------------------------------
@dataclass
class Progress:
    """Each state's progress (pending/running/succeeded/error/final) and retry counts."""

    states: dict[str, str] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    finished: bool = False
    source: str = "record"

    @property
    def current(self) -> list[str]:
        """The highlighted states: those running now, or the one the execution ended in."""
        return [name for name, value in self.states.items() if value in ("running", "final")]

    def describe(self) -> str:
        """A sentence for screen readers: where the execution is."""
        current = self.current
        if not current:
            return "The workflow has not started for this image."
        verb = "ended in" if self.finished else "is in"
        done = [name for name, value in self.states.items() if value == "succeeded"]
        errors = [name for name, value in self.states.items() if value == "error"]
        text = f"The execution {verb} {', '.join(current)}."
        if done:
            text += f" Succeeded: {', '.join(done)}."
        if errors:
            text += f" Raised an error: {', '.join(errors)}."
        return text


def _parents(definition: Mapping[str, Any]) -> dict[str, str]:
    """Branch state -> the Parallel state holding it."""
    parents: dict[str, str] = {}
    for name, state in definition["States"].items():
        for branch in state.get("Branches", []):
            for child in branch["States"]:
                parents[child] = name
    return parents


def _entered_name(event: Mapping[str, Any]) -> tuple[str, str] | None:
    """(`entered`|`exited`, state name) for a state entry/exit event."""
    kind = event.get("type", "")
    for suffix, what in (("StateEntered", "entered"), ("StateExited", "exited")):
        if kind.endswith(suffix):
            details = event.get("stateEnteredEventDetails") or event.get("stateExitedEventDetails")
            if details and details.get("name"):
                return what, str(details["name"])
    return None


def progress_from_history(  # noqa: C901 - one pass over the execution history, a branch per event type
    events: Sequence[Mapping[str, Any]], definition: Mapping[str, Any]
) -> Progress:
    """Each state's progress from a Step Functions execution history (in event-id order)."""
    parents = _parents(definition)
    owner: dict[int, str] = {}
    entered: list[str] = []
    exited: set[str] = set()
    outcome: dict[str, str] = {}
    attempts: dict[str, int] = {}
    open_parallel: list[str] = []
    finished = False
    for event in sorted(events, key=lambda e: int(e.get("id", 0))):
        event_id = int(event.get("id", 0))
        kind = str(event.get("type", ""))
        move = _entered_name(event)
        if move is not None:
            what, name = move
            owner[event_id] = name
            if what == "entered":
                entered.append(name)
                if kind.startswith("Parallel"):
                    open_parallel.append(name)
            else:
                exited.add(name)
                if name in open_parallel:
                    open_parallel.remove(name)
            continue
        if kind.startswith("ParallelState") and open_parallel:
            state: str | None = open_parallel[-1]
        else:
            state = owner.get(int(event.get("previousEventId", 0)))
        if state is not None:
            owner[event_id] = state
        if kind in EXECUTION_END_EVENTS:
            finished = True
        elif state is not None and kind in SCHEDULED_EVENTS:
            attempts[state] = attempts.get(state, 0) + 1
        elif state is not None and kind in FAILURE_EVENTS:
            outcome[state] = "error"
        elif state is not None and kind in SUCCESS_EVENTS:
            outcome[state] = "succeeded"

    states = dict.fromkeys(_all_states(definition), "pending")
    last = entered[-1] if entered else None
    for name in entered:
        if name in exited:
            states[name] = outcome.get(name, "succeeded")
        elif finished:
            # Left without an exit: cut short when its Parallel failed, or the final state.
            states[name] = "final" if name == last else outcome.get(name, "error")
        else:
            states[name] = "running"
    if finished and last is not None:
        states[last] = "final"
    # A Parallel shows running while any branch runs (moto may log its exit late).
    for child, parent in parents.items():
        if states.get(child) == "running" and states.get(parent) == "pending":
            states[parent] = "running"
    return Progress(
        states=states,
        attempts={k: v for k, v in attempts.items() if v > 1},
        finished=finished,
        source="history",
    )


def _all_states(definition: Mapping[str, Any]) -> list[str]:
    names: list[str] = []
    for name, state in definition["States"].items():
        names.append(name)
        for branch in state.get("Branches", []):
            names.extend(branch["States"])
    return names


def progress_from_record(record: ImageRecord, definition: Mapping[str, Any]) -> Progress:  # noqa: C901 - a branch per status
    """Each state's progress estimated from the record's stages (when there is no history)."""
    names = _all_states(definition)
    states = dict.fromkeys(names, "pending")
    parents = _parents(definition)
    stage_states = set(STATE_NAMES.values())
    for stage, state_name in STATE_NAMES.items():
        info = record.stages.get(stage)
        if info is not None and state_name in states:
            states[state_name] = STAGE_STATUS_PROGRESS[info.status]
    for child, parent in parents.items():
        if states.get(child) != "pending":
            # A branch's stage states decide; its failure-path states stay pending until used.
            children = [c for c, p in parents.items() if p == parent and c in stage_states]
            values = {states[c] for c in children}
            if "error" in values:
                states[parent] = "error"
            elif values == {"succeeded"}:
                states[parent] = "succeeded"
            else:
                states[parent] = "running"
    finished = record.status.is_terminal and record.execution_arn is not None
    end_state = {
        ImageStatus.COMPLETED: definition_states.COMPLETED_STATE,
        ImageStatus.REJECTED: definition_states.REJECTED_STATE,
        ImageStatus.FAILED: definition_states.FAILED_STATE,
    }.get(record.status)
    if finished and end_state in states:
        assert end_state is not None
        for name, value in states.items():
            if value == "running":
                states[name] = "error" if record.status is not ImageStatus.COMPLETED else value
        if record.status is ImageStatus.COMPLETED:
            for name in (
                definition_states.MARK_COMPLETED_STATE,
                definition_states.STATE_NAMES[StageName.ARCHIVE],
                definition_states.PUBLISH_SUCCESS_STATE,
                definition_states.ANNOUNCE_SUCCESS_STATE,
            ):
                if name in states:
                    states[name] = "succeeded"
        if record.status is ImageStatus.FAILED:
            for name in (
                definition_states.HANDLE_ERROR_STATE,
                definition_states.PUBLISH_FAILURE_STATE,
                definition_states.ANNOUNCE_FAILURE_STATE,
                definition_states.DEAD_LETTER_STATE,
            ):
                states[name] = "succeeded"
        states[end_state] = "final"
    return Progress(states=states, finished=finished, source="record")
