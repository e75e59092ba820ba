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

from qip_shared.enums import EVENT_SOURCE, EventDetailType, ImageStatus, NotificationType, StageName
from qip_shared.errors import INVALID_IMAGE_ERROR, PERMANENT_ERROR, RETRYABLE_ERROR
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

# Retries exactly as the design says; a rejection or a permanent error is never retried.
NO_RETRY = {"ErrorEquals": [INVALID_IMAGE_ERROR, PERMANENT_ERROR], "MaxAttempts": 0}
SERVICE_RETRY = {
    "ErrorEquals": [
        "Lambda.ServiceException",
        "Lambda.TooManyRequestsException",
        RETRYABLE_ERROR,
    ],
    "IntervalSeconds": 2,
    "MaxAttempts": 3,
    "BackoffRate": 2.0,
}
TASK_RETRY = {
    "ErrorEquals": ["States.TaskFailed"],
    "IntervalSeconds": 1,
    "MaxAttempts": 2,
    "BackoffRate": 1.5,
}
LAMBDA_RETRY = [NO_RETRY, SERVICE_RETRY, TASK_RETRY]
# SNS/DynamoDB service integrations: only transient faults are worth another try.
INTEGRATION_RETRY = [
    {
        "ErrorEquals": ["States.TaskFailed"],
        "IntervalSeconds": 1,
        "MaxAttempts": 3,
        "BackoffRate": 2.0,
    }
]
CATCH_ALL = {"ErrorEquals": ["States.ALL"], "Next": HANDLE_ERROR_STATE, "ResultPath": "$.error"}

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


def _lambda_task(stage: StageName, next_state: str, result_path: str | None) -> dict[str, Any]:
    state: dict[str, Any] = {
        "Type": "Task",
        "Resource": f"${{{FUNCTION_PLACEHOLDERS[stage]}}}",
        "Retry": LAMBDA_RETRY,
    }
    if result_path is not None:
        state["ResultPath"] = f"$.{result_path}"
    if next_state:
        state["Next"] = next_state
    else:
        state["End"] = True
    return state


def _publish(event_type: NotificationType, status: ImageStatus, **paths: str) -> dict[str, Any]:
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
        "Retry": INTEGRATION_RETRY,
    }


def _announce(detail_type: EventDetailType, status: ImageStatus, **paths: str) -> dict[str, Any]:
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
        "Retry": INTEGRATION_RETRY,
    }


def _skip_to(next_state: str) -> dict[str, Any]:
    """A Catch that moves on to `next_state`, keeping the execution state as it was."""
    return {"ErrorEquals": ["States.ALL"], "Next": next_state, "ResultPath": None}


def _mark(target: ImageStatus, extra_sets: Mapping[str, str]) -> dict[str, Any]:
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
        "Retry": [
            {"ErrorEquals": ["DynamoDB.ConditionalCheckFailedException"], "MaxAttempts": 0},
            *INTEGRATION_RETRY,
        ],
    }


def _dead_letter() -> dict[str, Any]:
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
        "Retry": INTEGRATION_RETRY,
    }


def build_definition(stages: Sequence[str | StageName] = ALL_STAGES) -> dict[str, Any]:
    """The Amazon States Language definition for a stage selection (with placeholders)."""
    selection = parse_stages(stages)
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
    validate = _lambda_task(StageName.VALIDATION, following[line[0]], RESULT_PATH_VALIDATION)
    validate["Catch"] = [
        {"ErrorEquals": [INVALID_IMAGE_ERROR], "Next": REJECTED_STATE, "ResultPath": "$.error"},
        CATCH_ALL,
    ]
    states[line[0]] = validate

    if StageName.METADATA in selection:
        name = STATE_NAMES[StageName.METADATA]
        states[name] = _lambda_task(StageName.METADATA, following[name], RESULT_PATH_METADATA)
        states[name]["Catch"] = [CATCH_ALL]

    if outputs:
        branches = []
        for stage in outputs:
            task = _lambda_task(stage, "", None)
            branches.append({"StartAt": STATE_NAMES[stage], "States": {STATE_NAMES[stage]: task}})
        states[PARALLEL_STATE] = {
            "Type": "Parallel",
            "Branches": branches,
            "ResultPath": f"$.{RESULT_PATH_PROCESSED}",
            "Next": following[PARALLEL_STATE],
            "Catch": [CATCH_ALL],
        }

    if has_archive:
        name = STATE_NAMES[StageName.ARCHIVE]
        states[name] = _lambda_task(StageName.ARCHIVE, following[name], RESULT_PATH_ARCHIVE)
        states[name]["Catch"] = [CATCH_ALL]
        success_paths = {
            "archivedLocation": f"$.{RESULT_PATH_ARCHIVE}.archivedLocation",
            "processingDuration": f"$.{RESULT_PATH_ARCHIVE}.processingDuration",
        }
    else:
        states[MARK_COMPLETED_STATE] = _mark(ImageStatus.COMPLETED, {}) | {
            "Next": PUBLISH_SUCCESS_STATE,
            "Catch": [CATCH_ALL],
        }
        success_paths = {}

    success = _publish(
        NotificationType.PROCESSING_COMPLETED, ImageStatus.COMPLETED, **success_paths
    )
    success["Parameters"]["Message"]["stages"] = [s.value for s in selection]
    # The record is final before the announcements: a notification or event that still fails
    # after its retries must not turn a COMPLETED image's execution into a failure.
    states[PUBLISH_SUCCESS_STATE] = success | {
        "Next": ANNOUNCE_SUCCESS_STATE,
        "Catch": [_skip_to(ANNOUNCE_SUCCESS_STATE)],
    }
    states[ANNOUNCE_SUCCESS_STATE] = _announce(
        EventDetailType.PROCESSING_COMPLETED, ImageStatus.COMPLETED, **success_paths
    ) | {"Next": COMPLETED_STATE, "Catch": [_skip_to(COMPLETED_STATE)]}
    states[COMPLETED_STATE] = {"Type": "Succeed"}

    states[HANDLE_ERROR_STATE] = _mark(
        ImageStatus.FAILED,
        {
            "errorType": f"$.{RESULT_PATH_ERROR}.Error",
            "errorMessage": f"$.{RESULT_PATH_ERROR}.Cause",
            "deadLetterId": "$$.Execution.Id",
        },
    ) | {
        "Next": PUBLISH_FAILURE_STATE,
        # A record that is already terminal (or gone) still gets its failure notification.
        "Catch": [
            {"ErrorEquals": ["States.ALL"], "Next": PUBLISH_FAILURE_STATE, "ResultPath": None}
        ],
    }
    states[PUBLISH_FAILURE_STATE] = _publish(
        NotificationType.PROCESSING_FAILED,
        ImageStatus.FAILED,
        errorType=f"$.{RESULT_PATH_ERROR}.Error",
        errorMessage=f"$.{RESULT_PATH_ERROR}.Cause",
    ) | {"Next": ANNOUNCE_FAILURE_STATE, "Catch": [_skip_to(ANNOUNCE_FAILURE_STATE)]}
    states[ANNOUNCE_FAILURE_STATE] = _announce(
        EventDetailType.PROCESSING_FAILED,
        ImageStatus.FAILED,
        errorType=f"$.{RESULT_PATH_ERROR}.Error",
        errorMessage=f"$.{RESULT_PATH_ERROR}.Cause",
    ) | {"Next": DEAD_LETTER_STATE, "Catch": [_skip_to(DEAD_LETTER_STATE)]}
    # Requirement 6.2: a failure after the retries leaves a dead-letter entry to reprocess.
    states[DEAD_LETTER_STATE] = _dead_letter() | {
        "Next": FAILED_STATE,
        "Catch": [_skip_to(FAILED_STATE)],
    }
    states[FAILED_STATE] = {
        "Type": "Fail",
        "Error": "ProcessingFailed",
        "Cause": "A stage failed after its retries; see the image record's errorMessage.",
    }
    # Validate has already recorded REJECTED with its reason code and notified.
    states[REJECTED_STATE] = {"Type": "Succeed"}

    return {
        "Comment": "QIP image pipeline: " + ", ".join(s.value for s in selection),
        "StartAt": line[0],
        "States": states,
    }


def definition_json(stages: Sequence[str | StageName] = ALL_STAGES) -> str:
    """The ASL text, deterministic (sorted keys), with `${...}` placeholders."""
    return json.dumps(build_definition(stages), indent=2, sort_keys=True)


def placeholders(text: str) -> set[str]:
    """The placeholder names used in an ASL text."""
    return set(PLACEHOLDER_RE.findall(text))


def substitute(text: str, values: Mapping[str, str]) -> str:
    """Replace every `${Name}` placeholder; a missing value is an error, not a silent gap."""
    missing = placeholders(text) - set(values)
    if missing:
        raise KeyError(f"no value for placeholders: {', '.join(sorted(missing))}")
    return PLACEHOLDER_RE.sub(lambda m: values[m.group(1)], text)
