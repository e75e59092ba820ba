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

from qip_pipeline.names import STAGE_SERVICES
from qip_shared.enums import EVENT_SOURCE, EventDetailType, ImageStatus, NotificationType, StageName
from qip_shared.errors import INVALID_IMAGE_ERROR, PERMANENT_ERROR, RETRYABLE_ERROR
from qip_shared.limits import (
    INTEGRATION_TIMEOUT_SECONDS,
    LIMITS,
    PipelineLimits,
    RetryBudget,
    Workflow,
    task_timeout_seconds,
)
from qip_shared.messages import (
    DEAD_LETTER_ATTRIBUTE,
    UPLOAD_EVENT_DETAIL_TYPE,
    UPLOAD_EVENT_SOURCE,
)
from qip_shared.pipeline import (
    RESULT_PATH_ARCHIVE,
    RESULT_PATH_ERROR,
    RESULT_PATH_METADATA,
    RESULT_PATH_PROCESSED,
    RESULT_PATH_VALIDATION,
)
from qip_shared.transitions import status_condition

ALL_STAGES: tuple[StageName, ...] = tuple(StageName)

# Placeholder name of each stage's function ARN, and of the other resources the ASL names.
FUNCTION_PLACEHOLDERS: Mapping[StageName, str] = {
    StageName.VALIDATION: "ValidateFunctionArn",
    StageName.METADATA: "MetadataFunctionArn",
    StageName.RESIZE: "ResizeFunctionArn",
    StageName.THUMBNAIL: "ThumbnailFunctionArn",
    StageName.ARCHIVE: "ArchiveFunctionArn",
}
TOPIC_PLACEHOLDER = "TopicArn"
TABLE_PLACEHOLDER = "TableName"
EVENT_BUS_PLACEHOLDER = "EventBusName"
DEAD_LETTER_QUEUE_PLACEHOLDER = "DeadLetterQueueUrl"

STATE_NAMES: Mapping[StageName, str] = {
    StageName.VALIDATION: "ValidateImage",
    StageName.METADATA: "ExtractMetadata",
    StageName.RESIZE: "ResizeImage",
    StageName.THUMBNAIL: "GenerateThumbnail",
    StageName.ARCHIVE: "ArchiveImage",
}
PARALLEL_STATE = "ParallelProcessing"
MARK_COMPLETED_STATE = "MarkCompleted"
PUBLISH_SUCCESS_STATE = "PublishSuccess"
ANNOUNCE_SUCCESS_STATE = "AnnounceCompleted"
ANNOUNCE_FAILURE_STATE = "AnnounceFailed"
HANDLE_ERROR_STATE = "HandleError"
PUBLISH_FAILURE_STATE = "PublishFailure"
DEAD_LETTER_STATE = "SendToDeadLetterQueue"
FAILED_STATE = "ProcessingFailed"
REJECTED_STATE = "Rejected"
COMPLETED_STATE = "Completed"

# A rejection or a permanent error is never retried; the other budgets are the workflow's
# (`qip_shared.limits`), so that the Express worst case fits the 5-minute cap.
NO_RETRY = {"ErrorEquals": [INVALID_IMAGE_ERROR, PERMANENT_ERROR], "MaxAttempts": 0}
SERVICE_ERRORS = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    RETRYABLE_ERROR,
]
# What each Lambda task passes its function: the execution state and where it runs.
EXECUTION_CONTEXT = {
    "executionId.$": "$$.Execution.Id",
    "executionName.$": "$$.Execution.Name",
    "executionStartTime.$": "$$.Execution.StartTime",
    "stateName.$": "$$.State.Name",
    "retryCount.$": "$$.State.RetryCount",
}
# The step named in the record (`failedStage`) when the final COMPLETED write fails.
MARK_COMPLETED_STEP = "MarkCompleted"
PARALLEL_FAILED_STATE = "ParallelProcessingFailed"
NAME_FAILED_BRANCH_STATE = "NameFailedBranch"
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


def _retrier(errors: list[str], budget: RetryBudget) -> dict[str, Any]:
    return {
        "ErrorEquals": errors,
        "IntervalSeconds": budget.interval_seconds,
        "MaxAttempts": budget.max_attempts,
        "BackoffRate": budget.backoff_rate,
        "MaxDelaySeconds": budget.max_delay_seconds,
    }


def lambda_retry(limits: PipelineLimits) -> list[dict[str, Any]]:
    """The retriers of a stage task: never a rejection or permanent error, then the budgets."""
    return [
        NO_RETRY,
        _retrier(SERVICE_ERRORS, limits.service_retry),
        _retrier(["States.TaskFailed"], limits.task_retry),
    ]


def integration_retry(limits: PipelineLimits) -> list[dict[str, Any]]:
    """SNS/DynamoDB/EventBridge tasks: only transient faults are worth another try."""
    return [_retrier(["States.TaskFailed"], limits.integration_retry)]


def _catch_all(next_state: str) -> dict[str, Any]:
    return {"ErrorEquals": ["States.ALL"], "Next": next_state, "ResultPath": "$.error"}


def _failed_state_name(stage: StageName) -> str:
    return f"{STATE_NAMES[stage]}Failed"


def _name_failure(step: str, next_state: str) -> dict[str, Any]:
    """A Pass that adds the failing step's name to the caught error (`$.error.stage`)."""
    return {
        "Type": "Pass",
        "Parameters": {"Error.$": "$.error.Error", "Cause.$": "$.error.Cause", "stage": step},
        "ResultPath": "$.error",
        "Next": next_state,
    }


def _lambda_task(
    stage: StageName, next_state: str, result_path: str | None, limits: PipelineLimits
) -> dict[str, Any]:
    state: dict[str, Any] = {
        "Type": "Task",
        "Resource": f"${{{FUNCTION_PLACEHOLDERS[stage]}}}",
        "Parameters": {"state.$": "$", "execution": EXECUTION_CONTEXT},
        "TimeoutSeconds": task_timeout_seconds(STAGE_SERVICES[stage]),
        "Retry": lambda_retry(limits),
    }
    if result_path is not None:
        state["ResultPath"] = f"$.{result_path}"
    if next_state:
        state["Next"] = next_state
    else:
        state["End"] = True
    return state


def _publish(
    event_type: NotificationType, status: ImageStatus, limits: PipelineLimits, **paths: str
) -> dict[str, Any]:
    message: dict[str, Any] = {
        "eventType": event_type.value,
        "imageKey.$": "$.imageKey",
        "timestamp.$": "$$.State.EnteredTime",
        "status": status.value,
        "executionArn.$": "$$.Execution.Id",
    }
    message.update({f"{key}.$": path for key, path in paths.items()})
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::sns:publish",
        "Parameters": {
            "TopicArn": f"${{{TOPIC_PLACEHOLDER}}}",
            "Message": message,
            "MessageAttributes": {
                "eventType": {"DataType": "String", "StringValue": event_type.value}
            },
        },
        "ResultPath": None,
        "TimeoutSeconds": INTEGRATION_TIMEOUT_SECONDS,
        "Retry": integration_retry(limits),
    }


def _announce(
    detail_type: EventDetailType, status: ImageStatus, limits: PipelineLimits, **paths: str
) -> dict[str, Any]:
    """An EventBridge putEvents task: the pipeline's own ProcessingEvent (Requirement 4.1)."""
    detail: dict[str, Any] = {
        "imageKey.$": "$.imageKey",
        "bucket.$": "$.bucket",
        "timestamp.$": "$$.State.EnteredTime",
        "status": status.value,
        "executionArn.$": "$$.Execution.Id",
    }
    detail.update({f"{key}.$": path for key, path in paths.items()})
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::events:putEvents",
        "Parameters": {
            "Entries": [
                {
                    "Source": EVENT_SOURCE,
                    "DetailType": detail_type.value,
                    "EventBusName": f"${{{EVENT_BUS_PLACEHOLDER}}}",
                    "Detail": detail,
                }
            ]
        },
        "ResultPath": None,
        "TimeoutSeconds": INTEGRATION_TIMEOUT_SECONDS,
        "Retry": integration_retry(limits),
    }


def _skip_to(next_state: str) -> dict[str, Any]:
    """A Catch that moves on to `next_state`, keeping the execution state as it was."""
    return {"ErrorEquals": ["States.ALL"], "Next": next_state, "ResultPath": None}


def _mark(
    target: ImageStatus, extra_sets: Mapping[str, str], limits: PipelineLimits
) -> dict[str, Any]:
    """A DynamoDB updateItem task moving the record to `target`, guarded by the transitions."""
    condition = status_condition(target)
    names = dict(condition.names) | {"#status": "status", "#updatedAt": "updatedAt"}
    values: dict[str, Any] = dict(condition.values)
    values[":target"] = {"S": target.value}
    values[":now"] = {"S.$": "$$.State.EnteredTime"}
    sets = ["#status = :target", "#updatedAt = :now"]
    for i, (attribute, path) in enumerate(extra_sets.items()):
        names[f"#x{i}"] = attribute
        values[f":x{i}"] = {"S.$": path}
        sets.append(f"#x{i} = :x{i}")
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::dynamodb:updateItem",
        "Parameters": {
            "TableName": f"${{{TABLE_PLACEHOLDER}}}",
            "Key": {"imageKey": {"S.$": "$.imageKey"}},
            "UpdateExpression": "SET " + ", ".join(sets),
            "ConditionExpression": condition.expression,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        },
        "ResultPath": None,
        "TimeoutSeconds": INTEGRATION_TIMEOUT_SECONDS,
        "Retry": [
            {"ErrorEquals": ["DynamoDB.ConditionalCheckFailedException"], "MaxAttempts": 0},
            *integration_retry(limits),
        ],
    }


def _dead_letter(limits: PipelineLimits) -> dict[str, Any]:
    """An SQS sendMessage task: the upload event, as the trigger reads it, to the DLQ.

    Its marker (the execution id, also written on the record by HandleError) lets a message moved
    back unchanged reprocess the image once (`qip_shared.messages`).
    """
    body = {
        "source": UPLOAD_EVENT_SOURCE,
        "detail-type": UPLOAD_EVENT_DETAIL_TYPE,
        "time.$": "$.uploadTimestamp",
        "detail": {
            "bucket": {"name.$": "$.bucket"},
            "object": {
                "key.$": "$.imageKey",
                "size.$": "$.size",
                "version-id.$": "$.versionId",
                "etag.$": "$.etag",
            },
        },
    }
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::sqs:sendMessage",
        "Parameters": {
            "QueueUrl": f"${{{DEAD_LETTER_QUEUE_PLACEHOLDER}}}",
            "MessageBody": body,
            "MessageAttributes": {
                DEAD_LETTER_ATTRIBUTE: {"DataType": "String", "StringValue.$": "$$.Execution.Id"}
            },
        },
        "ResultPath": None,
        "TimeoutSeconds": INTEGRATION_TIMEOUT_SECONDS,
        "Retry": integration_retry(limits),
    }


def _output_branch(stage: StageName, limits: PipelineLimits) -> dict[str, Any]:
    """One Parallel branch: the stage's task; on failure, name the stage and fail the branch.

    The branch's Fail carries the named error as its Cause (JSON), so the Parallel's Catch
    knows which stage failed even when the function crashed before its own code ran.
    """
    name = STATE_NAMES[stage]
    failed, abort = _failed_state_name(stage), f"{STATE_NAMES[stage]}Aborted"
    task = _lambda_task(stage, "", None, limits)
    task["Catch"] = [_catch_all(failed)]
    return {
        "StartAt": name,
        "States": {
            name: task,
            failed: _name_failure(stage.value, abort),
            abort: {
                "Type": "Fail",
                "ErrorPath": "$.error.Error",
                "CausePath": "States.JsonToString($.error)",
            },
        },
    }


def build_definition(
    stages: Sequence[str | StageName] = ALL_STAGES, workflow: str | Workflow = Workflow.EXPRESS
) -> dict[str, Any]:
    """The Amazon States Language definition for a stage selection (with placeholders)."""
    selection = parse_stages(stages)
    limits = LIMITS[Workflow(str(workflow).upper())]
    outputs = [s for s in (StageName.RESIZE, StageName.THUMBNAIL) if s in selection]
    has_archive = StageName.ARCHIVE in selection

    # The main line, in order; each entry is the state name that follows the previous one.
    line: list[str] = [STATE_NAMES[StageName.VALIDATION]]
    if StageName.METADATA in selection:
        line.append(STATE_NAMES[StageName.METADATA])
    if outputs:
        line.append(PARALLEL_STATE)
    line.append(STATE_NAMES[StageName.ARCHIVE] if has_archive else MARK_COMPLETED_STATE)
    line.append(PUBLISH_SUCCESS_STATE)
    following = dict(itertools.pairwise(line))

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
        states[name] = _lambda_task(stage, following[name], result_path, limits)
        states[name]["Catch"] = [_catch_all(_failed_state_name(stage))]
        states[_failed_state_name(stage)] = _name_failure(stage.value, HANDLE_ERROR_STATE)
    # Validate has already recorded REJECTED with its reason code and notified.
    states[line[0]]["Catch"].insert(
        0, {"ErrorEquals": [INVALID_IMAGE_ERROR], "Next": REJECTED_STATE, "ResultPath": "$.error"}
    )

    if outputs:
        states[PARALLEL_STATE] = {
            "Type": "Parallel",
            "Branches": [_output_branch(stage, limits) for stage in outputs],
            "ResultPath": f"$.{RESULT_PATH_PROCESSED}",
            "Next": following[PARALLEL_STATE],
            "Catch": [_catch_all(PARALLEL_FAILED_STATE)],
        }
        # The failed branch's Cause is its named error as JSON: unwrap it, then flatten it.
        states[PARALLEL_FAILED_STATE] = {
            "Type": "Pass",
            "Parameters": {"branch.$": "States.StringToJson($.error.Cause)"},
            "ResultPath": "$.error",
            "Next": NAME_FAILED_BRANCH_STATE,
        }
        states[NAME_FAILED_BRANCH_STATE] = {
            "Type": "Pass",
            "Parameters": {
                "Error.$": "$.error.branch.Error",
                "Cause.$": "$.error.branch.Cause",
                "stage.$": "$.error.branch.stage",
            },
            "ResultPath": "$.error",
            "Next": HANDLE_ERROR_STATE,
        }

    if has_archive:
        success_paths = {
            "archivedLocation": f"$.{RESULT_PATH_ARCHIVE}.archivedLocation",
            "processingDuration": f"$.{RESULT_PATH_ARCHIVE}.processingDuration",
            # Archive always returns `render` (the render-ready fields, issue 18).
            "render": f"$.{RESULT_PATH_ARCHIVE}.render",
        }
    else:
        states[MARK_COMPLETED_STATE] = _mark(ImageStatus.COMPLETED, {}, limits) | {
            "Next": PUBLISH_SUCCESS_STATE,
            "Catch": [_catch_all(f"{MARK_COMPLETED_STATE}Failed")],
        }
        states[f"{MARK_COMPLETED_STATE}Failed"] = _name_failure(
            MARK_COMPLETED_STEP, HANDLE_ERROR_STATE
        )
        success_paths = {}

    success = _publish(
        NotificationType.PROCESSING_COMPLETED, ImageStatus.COMPLETED, limits, **success_paths
    )
    success["Parameters"]["Message"]["stages"] = [s.value for s in selection]
    # The record is final before the announcements: a notification or event that still fails
    # after its retries must not turn a COMPLETED image's execution into a failure.
    states[PUBLISH_SUCCESS_STATE] = success | {
        "Next": ANNOUNCE_SUCCESS_STATE,
        "Catch": [_skip_to(ANNOUNCE_SUCCESS_STATE)],
    }
    states[ANNOUNCE_SUCCESS_STATE] = _announce(
        EventDetailType.PROCESSING_COMPLETED, ImageStatus.COMPLETED, limits, **success_paths
    ) | {"Next": COMPLETED_STATE, "Catch": [_skip_to(COMPLETED_STATE)]}
    states[COMPLETED_STATE] = {"Type": "Succeed"}

    failure_paths = {
        "errorType": f"$.{RESULT_PATH_ERROR}.Error",
        "errorMessage": f"$.{RESULT_PATH_ERROR}.Cause",
        "failedStage": f"$.{RESULT_PATH_ERROR}.stage",
    }
    # The record also keeps the id its dead letter carries (see SendToDeadLetterQueue).
    marked = {**failure_paths, "deadLetterId": "$$.Execution.Id"}
    states[HANDLE_ERROR_STATE] = _mark(ImageStatus.FAILED, marked, limits) | {
        "Next": PUBLISH_FAILURE_STATE,
        # A record that is already terminal (or gone) still gets its failure notification.
        "Catch": [
            {"ErrorEquals": ["States.ALL"], "Next": PUBLISH_FAILURE_STATE, "ResultPath": None}
        ],
    }
    states[PUBLISH_FAILURE_STATE] = _publish(
        NotificationType.PROCESSING_FAILED, ImageStatus.FAILED, limits, **failure_paths
    ) | {"Next": ANNOUNCE_FAILURE_STATE, "Catch": [_skip_to(ANNOUNCE_FAILURE_STATE)]}
    states[ANNOUNCE_FAILURE_STATE] = _announce(
        EventDetailType.PROCESSING_FAILED, ImageStatus.FAILED, limits, **failure_paths
    ) | {"Next": DEAD_LETTER_STATE, "Catch": [_skip_to(DEAD_LETTER_STATE)]}
    # Requirement 6.2: a failure after the retries leaves a dead-letter entry to reprocess.
    states[DEAD_LETTER_STATE] = _dead_letter(limits) | {
        "Next": FAILED_STATE,
        "Catch": [_skip_to(FAILED_STATE)],
    }
    states[FAILED_STATE] = {
        "Type": "Fail",
        "Error": "ProcessingFailed",
        "Cause": "A stage failed after its retries; see the image record's errorMessage.",
    }
    states[REJECTED_STATE] = {"Type": "Succeed"}

    return {
        "Comment": "QIP image pipeline: " + ", ".join(s.value for s in selection),
        "StartAt": line[0],
        "TimeoutSeconds": limits.execution_timeout_seconds,
        "States": states,
    }


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
