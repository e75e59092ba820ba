"""The state machine, from one source: a pure function from a stage selection to ASL.

CDK deploys `definition_json(stages)` with `DefinitionBody.from_string` and
`definition_substitutions`; the local runtime feeds moto the same text after `substitute`.
Placeholders are `${Name}` (CDK's substitution syntax).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from qip_pipeline.asl import (
    ANNOUNCE_FAILURE_STATE,
    ANNOUNCE_SUCCESS_STATE,
    COMPLETED_STATE,
    DEAD_LETTER_QUEUE_PLACEHOLDER,
    DEAD_LETTER_STATE,
    EVENT_BUS_PLACEHOLDER,
    FAILED_STATE,
    FUNCTION_PLACEHOLDERS,
    HANDLE_ERROR_STATE,
    MARK_COMPLETED_STATE,
    MARK_COMPLETED_STEP,
    NAME_FAILED_BRANCH_STATE,
    PARALLEL_FAILED_STATE,
    PARALLEL_STATE,
    PUBLISH_FAILURE_STATE,
    PUBLISH_SUCCESS_STATE,
    REJECTED_STATE,
    STATE_NAMES,
    TABLE_PLACEHOLDER,
    TOPIC_PLACEHOLDER,
    announce,
    catch_all,
    dead_letter,
    failed_state_name,
    lambda_task,
    mark,
    name_failure,
    output_branch,
    publish,
    skip_to,
)
from qip_shared.enums import EventDetailType, ImageStatus, NotificationType, StageName
from qip_shared.errors import INVALID_IMAGE_ERROR
from qip_shared.limits import LIMITS, PipelineLimits, Workflow
from qip_shared.pipeline import (
    RESULT_PATH_ARCHIVE,
    RESULT_PATH_ERROR,
    RESULT_PATH_METADATA,
    RESULT_PATH_PROCESSED,
    RESULT_PATH_VALIDATION,
)

# The state and placeholder names are defined with their builders (`qip_pipeline.asl`) and
# exported here too: the stack, the local runtime and the tests read them from this module.
__all__ = [
    "ALL_STAGES",
    "ANNOUNCE_FAILURE_STATE",
    "ANNOUNCE_SUCCESS_STATE",
    "COMPLETED_STATE",
    "DEAD_LETTER_QUEUE_PLACEHOLDER",
    "DEAD_LETTER_STATE",
    "EVENT_BUS_PLACEHOLDER",
    "FAILED_STATE",
    "FUNCTION_PLACEHOLDERS",
    "HANDLE_ERROR_STATE",
    "MARK_COMPLETED_STATE",
    "NAME_FAILED_BRANCH_STATE",
    "PARALLEL_FAILED_STATE",
    "PARALLEL_STATE",
    "PLACEHOLDER_RE",
    "PUBLISH_FAILURE_STATE",
    "PUBLISH_SUCCESS_STATE",
    "REJECTED_STATE",
    "STATE_NAMES",
    "TABLE_PLACEHOLDER",
    "TOPIC_PLACEHOLDER",
    "StageSelectionError",
    "build_definition",
    "definition_json",
    "parse_stages",
    "placeholders",
    "substitute",
    "worst_case_seconds",
]

ALL_STAGES: tuple[StageName, ...] = tuple(StageName)
PLACEHOLDER_RE = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


class StageSelectionError(ValueError):
    """The requested stage selection is unknown or cannot form a pipeline."""


def parse_stages(names: Iterable[str | StageName]) -> tuple[StageName, ...]:
    """Normalise a selection (accepts `validate`/`validation`, any order) into pipeline order."""
    aliases = {"validate": StageName.VALIDATION, "thumb": StageName.THUMBNAIL}
    chosen: set[StageName] = set()
    for raw in names:
        text = str(raw.value if isinstance(raw, StageName) else raw).strip().lower()
        if not text:
            continue
        try:
            chosen.add(aliases.get(text) or StageName(text))
        except ValueError:
            valid = ", ".join(s.value for s in ALL_STAGES)
            raise StageSelectionError(f"unknown stage {raw!r}; choose from {valid}") from None
    selection = tuple(s for s in ALL_STAGES if s in chosen)
    if StageName.VALIDATION not in selection:
        raise StageSelectionError("validation is required: no image is processed unvalidated")
    outputs = {StageName.RESIZE, StageName.THUMBNAIL} & chosen
    if StageName.ARCHIVE in chosen and not outputs:
        raise StageSelectionError("archive needs an output stage: add resize and/or thumbnail")
    return selection


def build_definition(
    stages: Sequence[str | StageName] = ALL_STAGES, workflow: str | Workflow = Workflow.EXPRESS
) -> dict[str, Any]:
    """The Amazon States Language definition for a stage selection (with placeholders)."""
    selection = parse_stages(stages)
    limits = LIMITS[Workflow(str(workflow).upper())]
    outputs = [s for s in (StageName.RESIZE, StageName.THUMBNAIL) if s in selection]
    line = _main_line(selection, outputs)
    following = dict(itertools.pairwise(line))
    states = _stage_states(selection, following, limits)
    if outputs:
        states |= _parallel_states(outputs, following, limits)
    states |= _success_states(selection, limits)
    states |= _failure_states(limits)
    return {
        "Comment": "QIP image pipeline: " + ", ".join(s.value for s in selection),
        "StartAt": line[0],
        "TimeoutSeconds": limits.execution_timeout_seconds,
        "States": states,
    }


def _main_line(selection: Sequence[StageName], outputs: Sequence[StageName]) -> list[str]:
    """The main line's state names, in order (each one's `Next` is the one after it)."""
    line: list[str] = [STATE_NAMES[StageName.VALIDATION]]
    if StageName.METADATA in selection:
        line.append(STATE_NAMES[StageName.METADATA])
    if outputs:
        line.append(PARALLEL_STATE)
    has_archive = StageName.ARCHIVE in selection
    line.append(STATE_NAMES[StageName.ARCHIVE] if has_archive else MARK_COMPLETED_STATE)
    line.append(PUBLISH_SUCCESS_STATE)
    return line


def _stage_states(
    selection: Sequence[StageName], following: Mapping[str, str], limits: PipelineLimits
) -> dict[str, Any]:
    """Validate, metadata and archive's tasks, each with the Pass that names its failure."""
    states: dict[str, Any] = {}
    # Each stage task's failure is named (Pass `<State>Failed`) before HandleError records it.
    for stage in (StageName.VALIDATION, StageName.METADATA, StageName.ARCHIVE):
        if stage not in selection:
            continue
        name = STATE_NAMES[stage]
        result_path = {
            StageName.VALIDATION: RESULT_PATH_VALIDATION,
            StageName.METADATA: RESULT_PATH_METADATA,
            StageName.ARCHIVE: RESULT_PATH_ARCHIVE,
        }[stage]
        states[name] = lambda_task(stage, following[name], result_path, limits)
        states[name]["Catch"] = [catch_all(failed_state_name(stage))]
        states[failed_state_name(stage)] = name_failure(stage.value, HANDLE_ERROR_STATE)
    # Validate has already recorded REJECTED with its reason code and notified.
    states[STATE_NAMES[StageName.VALIDATION]]["Catch"].insert(
        0, {"ErrorEquals": [INVALID_IMAGE_ERROR], "Next": REJECTED_STATE, "ResultPath": "$.error"}
    )
    return states


def _parallel_states(
    outputs: Sequence[StageName], following: Mapping[str, str], limits: PipelineLimits
) -> dict[str, Any]:
    """The Parallel of the output stages and the two Passes that name its failed branch."""
    return {
        PARALLEL_STATE: {
            "Type": "Parallel",
            "Branches": [output_branch(stage, limits) for stage in outputs],
            "ResultPath": f"$.{RESULT_PATH_PROCESSED}",
            "Next": following[PARALLEL_STATE],
            "Catch": [catch_all(PARALLEL_FAILED_STATE)],
        },
        # The failed branch's Cause is its named error as JSON: unwrap it, then flatten it.
        PARALLEL_FAILED_STATE: {
            "Type": "Pass",
            "Parameters": {"branch.$": "States.StringToJson($.error.Cause)"},
            "ResultPath": "$.error",
            "Next": NAME_FAILED_BRANCH_STATE,
        },
        NAME_FAILED_BRANCH_STATE: {
            "Type": "Pass",
            "Parameters": {
                "Error.$": "$.error.branch.Error",
                "Cause.$": "$.error.branch.Cause",
                "stage.$": "$.error.branch.stage",
            },
            "ResultPath": "$.error",
            "Next": HANDLE_ERROR_STATE,
        },
    }


def _success_states(selection: Sequence[StageName], limits: PipelineLimits) -> dict[str, Any]:
    """MarkCompleted (without archive), then the success notification, event and Succeed."""
    states: dict[str, Any] = {}
    if StageName.ARCHIVE in selection:
        success_paths = {
            "archivedLocation": f"$.{RESULT_PATH_ARCHIVE}.archivedLocation",
            "processingDuration": f"$.{RESULT_PATH_ARCHIVE}.processingDuration",
            # Archive always returns `render` (the render-ready fields, issue 18).
            "render": f"$.{RESULT_PATH_ARCHIVE}.render",
        }
    else:
        states[MARK_COMPLETED_STATE] = mark(ImageStatus.COMPLETED, {}, limits) | {
            "Next": PUBLISH_SUCCESS_STATE,
            "Catch": [catch_all(f"{MARK_COMPLETED_STATE}Failed")],
        }
        states[f"{MARK_COMPLETED_STATE}Failed"] = name_failure(
            MARK_COMPLETED_STEP, HANDLE_ERROR_STATE
        )
        success_paths = {}

    success = publish(
        NotificationType.PROCESSING_COMPLETED, ImageStatus.COMPLETED, limits, **success_paths
    )
    success["Parameters"]["Message"]["stages"] = [s.value for s in selection]
    # The record is final before the announcements: a notification or event that still fails
    # after its retries must not turn a COMPLETED image's execution into a failure.
    states[PUBLISH_SUCCESS_STATE] = success | {
        "Next": ANNOUNCE_SUCCESS_STATE,
        "Catch": [skip_to(ANNOUNCE_SUCCESS_STATE)],
    }
    states[ANNOUNCE_SUCCESS_STATE] = announce(
        EventDetailType.PROCESSING_COMPLETED, ImageStatus.COMPLETED, limits, **success_paths
    ) | {"Next": COMPLETED_STATE, "Catch": [skip_to(COMPLETED_STATE)]}
    states[COMPLETED_STATE] = {"Type": "Succeed"}
    return states


def _failure_states(limits: PipelineLimits) -> dict[str, Any]:
    """HandleError, the failure notification, event and dead letter, then Fail; and Rejected."""
    states: dict[str, Any] = {}
    failure_paths = {
        "errorType": f"$.{RESULT_PATH_ERROR}.Error",
        "errorMessage": f"$.{RESULT_PATH_ERROR}.Cause",
        "failedStage": f"$.{RESULT_PATH_ERROR}.stage",
    }
    # The record also keeps the id its dead letter carries (see SendToDeadLetterQueue), and its
    # execution's ARN with the FAILED status (a first stage failing at once can beat the
    # trigger's own write of it).
    marked = {
        **failure_paths,
        "deadLetterId": "$$.Execution.Id",
        "executionArn": "$$.Execution.Id",
    }
    states[HANDLE_ERROR_STATE] = mark(ImageStatus.FAILED, marked, limits) | {
        "Next": PUBLISH_FAILURE_STATE,
        # A record that is already terminal (or gone) still gets its failure notification.
        "Catch": [
            {"ErrorEquals": ["States.ALL"], "Next": PUBLISH_FAILURE_STATE, "ResultPath": None}
        ],
    }
    states[PUBLISH_FAILURE_STATE] = publish(
        NotificationType.PROCESSING_FAILED, ImageStatus.FAILED, limits, **failure_paths
    ) | {"Next": ANNOUNCE_FAILURE_STATE, "Catch": [skip_to(ANNOUNCE_FAILURE_STATE)]}
    states[ANNOUNCE_FAILURE_STATE] = announce(
        EventDetailType.PROCESSING_FAILED, ImageStatus.FAILED, limits, **failure_paths
    ) | {"Next": DEAD_LETTER_STATE, "Catch": [skip_to(DEAD_LETTER_STATE)]}
    # Requirement 6.2: a failure after the retries leaves a dead-letter entry to reprocess.
    states[DEAD_LETTER_STATE] = dead_letter(limits) | {
        "Next": FAILED_STATE,
        "Catch": [skip_to(FAILED_STATE)],
    }
    states[FAILED_STATE] = {
        "Type": "Fail",
        "Error": "ProcessingFailed",
        "Cause": "A stage failed after its retries; see the image record's errorMessage.",
    }
    states[REJECTED_STATE] = {"Type": "Succeed"}
    return states


def definition_json(
    stages: Sequence[str | StageName] = ALL_STAGES, workflow: str | Workflow = Workflow.EXPRESS
) -> str:
    """The ASL text, deterministic (sorted keys), with `${...}` placeholders."""
    return json.dumps(build_definition(stages, workflow), indent=2, sort_keys=True)


def _retry_seconds(retriers: Sequence[Mapping[str, Any]]) -> tuple[int, float]:
    """Extra attempts and total waits if every retrier is used up (errors may alternate)."""
    attempts, waited = 0, 0.0
    for retrier in retriers:
        count = int(retrier.get("MaxAttempts", 3))
        interval = float(retrier.get("IntervalSeconds", 1))
        rate = float(retrier.get("BackoffRate", 2.0))
        cap = float(retrier.get("MaxDelaySeconds", float("inf")))
        attempts += count
        waited += sum(min(interval * rate**n, cap) for n in range(count))
    return attempts, waited


def _state_seconds(state: Mapping[str, Any]) -> float:
    """The longest one state can take: every attempt to its timeout, every retry waited."""
    if state["Type"] == "Parallel":
        return max(worst_case_seconds(branch) for branch in state["Branches"])
    if state["Type"] != "Task":
        return 0.0
    if "TimeoutSeconds" not in state:
        raise ValueError("a Task without TimeoutSeconds has no bounded worst case")
    retries, waited = _retry_seconds(state.get("Retry", []))
    return float(state["TimeoutSeconds"]) * (1 + retries) + waited


def worst_case_seconds(machine: Mapping[str, Any]) -> float:
    """The longest path from StartAt to an end, each state at its worst (Catch paths included).

    A Task costs its `TimeoutSeconds` for each attempt (1 + every retrier's `MaxAttempts`) plus
    the retry waits (backoff, `MaxDelaySeconds`); a Parallel costs its slowest branch.
    """
    states: Mapping[str, Mapping[str, Any]] = machine["States"]
    memo: dict[str, float] = {}

    def longest_from(name: str) -> float:
        if name not in memo:
            state = states[name]
            targets = [state.get("Next"), state.get("Default")]
            targets += [c.get("Next") for c in state.get("Catch", [])]
            targets += [c.get("Next") for c in state.get("Choices", [])]
            after = max((longest_from(t) for t in targets if t), default=0.0)
            memo[name] = _state_seconds(state) + after
        return memo[name]

    return longest_from(machine["StartAt"])


def placeholders(text: str) -> set[str]:
    """The placeholder names used in an ASL text."""
    return set(PLACEHOLDER_RE.findall(text))


def substitute(text: str, values: Mapping[str, str]) -> str:
    """Replace every `${Name}` placeholder; a missing value is an error, not a silent gap."""
    missing = placeholders(text) - set(values)
    if missing:
        raise KeyError(f"no value for placeholders: {', '.join(sorted(missing))}")
    return PLACEHOLDER_RE.sub(lambda m: values[m.group(1)], text)
