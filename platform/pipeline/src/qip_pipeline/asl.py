"""The building blocks of the state machine: resource placeholders, state names and state builders.

Pure: each builder returns one Amazon States Language state (or retrier, or Catch) as a dict;
`qip_pipeline.definition` assembles them into the machine for a stage selection.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from qip_pipeline.names import STAGE_SERVICES
from qip_shared.enums import EVENT_SOURCE, EventDetailType, ImageStatus, NotificationType, StageName
from qip_shared.errors import INVALID_IMAGE_ERROR, PERMANENT_ERROR, RETRYABLE_ERROR
from qip_shared.limits import (
    INTEGRATION_TIMEOUT_SECONDS,
    PipelineLimits,
    RetryBudget,
    task_timeout_seconds,
)
from qip_shared.messages import (
    DEAD_LETTER_ATTRIBUTE,
    UPLOAD_EVENT_DETAIL_TYPE,
    UPLOAD_EVENT_SOURCE,
)
from qip_shared.transitions import status_condition

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


def no_retry(errors: list[str]) -> dict[str, Any]:
    """A retrier that never retries these errors (listed before the ones that would)."""
    return {"ErrorEquals": errors, "MaxAttempts": 0}


NO_RETRY = no_retry([INVALID_IMAGE_ERROR, PERMANENT_ERROR])


def retrier(errors: list[str], budget: RetryBudget) -> dict[str, Any]:
    """A retrier for these errors with this budget."""
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
        retrier(SERVICE_ERRORS, limits.service_retry),
        retrier(["States.TaskFailed"], limits.task_retry),
    ]


def integration_retry(limits: PipelineLimits) -> list[dict[str, Any]]:
    """SNS/DynamoDB/EventBridge tasks: only transient faults are worth another try."""
    return [retrier(["States.TaskFailed"], limits.integration_retry)]


def integration_task(
    service_action: str,
    parameters: dict[str, Any],
    limits: PipelineLimits,
    *,
    never_retry: list[str] | None = None,
) -> dict[str, Any]:
    """A task of the machine's own AWS call (`sns:publish`...): no result kept, few retries."""
    retry = [no_retry(never_retry)] if never_retry else []
    return {
        "Type": "Task",
        "Resource": f"arn:aws:states:::{service_action}",
        "Parameters": parameters,
        "ResultPath": None,
        "TimeoutSeconds": INTEGRATION_TIMEOUT_SECONDS,
        "Retry": [*retry, *integration_retry(limits)],
    }


def image_facts(
    status: ImageStatus,
    paths: Mapping[str, str],
    *,
    event_type: NotificationType | None = None,
    with_bucket: bool = False,
) -> dict[str, Any]:
    """What a notification or event tells of the image: key, time, status, execution, `paths`."""
    facts: dict[str, Any] = {} if event_type is None else {"eventType": event_type.value}
    facts["imageKey.$"] = "$.imageKey"
    if with_bucket:
        facts["bucket.$"] = "$.bucket"
    facts["timestamp.$"] = "$$.State.EnteredTime"
    facts["status"] = status.value
    facts["executionArn.$"] = "$$.Execution.Id"
    facts.update({f"{key}.$": path for key, path in paths.items()})
    return facts


def catch_all(next_state: str) -> dict[str, Any]:
    """A Catch of any error into `next_state`, the error at `$.error`."""
    return {"ErrorEquals": ["States.ALL"], "Next": next_state, "ResultPath": "$.error"}


def failed_state_name(stage: StageName) -> str:
    """The Pass that names a failed stage, e.g. `ResizeImageFailed`."""
    return f"{STATE_NAMES[stage]}Failed"


def name_failure(step: str, next_state: str) -> dict[str, Any]:
    """A Pass that adds the failing step's name to the caught error (`$.error.stage`)."""
    return {
        "Type": "Pass",
        "Parameters": {"Error.$": "$.error.Error", "Cause.$": "$.error.Cause", "stage": step},
        "ResultPath": "$.error",
        "Next": next_state,
    }


def execution_context(limits: PipelineLimits) -> dict[str, Any]:
    """`EXECUTION_CONTEXT` plus the task's retry budgets, so a stage knows its last attempt."""
    return {
        **EXECUTION_CONTEXT,
        "serviceRetries": limits.service_retry.max_attempts,
        "taskRetries": limits.task_retry.max_attempts,
    }


def lambda_task(
    stage: StageName, next_state: str, result_path: str | None, limits: PipelineLimits
) -> dict[str, Any]:
    """A stage's Lambda task: its timeout and retriers, then `next_state` (or the end)."""
    state: dict[str, Any] = {
        "Type": "Task",
        "Resource": f"${{{FUNCTION_PLACEHOLDERS[stage]}}}",
        "Parameters": {"state.$": "$", "execution": execution_context(limits)},
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


def publish(
    event_type: NotificationType, status: ImageStatus, limits: PipelineLimits, **paths: str
) -> dict[str, Any]:
    """An SNS publish task: the notification of `event_type`, `paths` added to its message."""
    parameters = {
        "TopicArn": f"${{{TOPIC_PLACEHOLDER}}}",
        "Message": image_facts(status, paths, event_type=event_type),
        "MessageAttributes": {"eventType": {"DataType": "String", "StringValue": event_type.value}},
    }
    return integration_task("sns:publish", parameters, limits)


def announce(
    detail_type: EventDetailType, status: ImageStatus, limits: PipelineLimits, **paths: str
) -> dict[str, Any]:
    """An EventBridge putEvents task: the pipeline's own ProcessingEvent (Requirement 4.1)."""
    entry = {
        "Source": EVENT_SOURCE,
        "DetailType": detail_type.value,
        "EventBusName": f"${{{EVENT_BUS_PLACEHOLDER}}}",
        "Detail": image_facts(status, paths, with_bucket=True),
    }
    return integration_task("events:putEvents", {"Entries": [entry]}, limits)


def skip_to(next_state: str) -> dict[str, Any]:
    """A Catch that moves on to `next_state`, keeping the execution state as it was."""
    return {"ErrorEquals": ["States.ALL"], "Next": next_state, "ResultPath": None}


def mark(
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
    parameters = {
        "TableName": f"${{{TABLE_PLACEHOLDER}}}",
        "Key": {"imageKey": {"S.$": "$.imageKey"}},
        "UpdateExpression": "SET " + ", ".join(sets),
        "ConditionExpression": condition.expression,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }
    return integration_task(
        "dynamodb:updateItem",
        parameters,
        limits,
        never_retry=["DynamoDB.ConditionalCheckFailedException"],
    )


def dead_letter(limits: PipelineLimits) -> dict[str, Any]:
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
    parameters = {
        "QueueUrl": f"${{{DEAD_LETTER_QUEUE_PLACEHOLDER}}}",
        "MessageBody": body,
        "MessageAttributes": {
            DEAD_LETTER_ATTRIBUTE: {"DataType": "String", "StringValue.$": "$$.Execution.Id"}
        },
    }
    return integration_task("sqs:sendMessage", parameters, limits)


def output_branch(stage: StageName, limits: PipelineLimits) -> dict[str, Any]:
    """One Parallel branch: the stage's task; on failure, name the stage and fail the branch.

    The branch's Fail carries the named error as its Cause (JSON), so the Parallel's Catch
    knows which stage failed even when the function crashed before its own code ran.
    """
    name = STATE_NAMES[stage]
    failed, abort = failed_state_name(stage), f"{STATE_NAMES[stage]}Aborted"
    task = lambda_task(stage, "", None, limits)
    task["Catch"] = [catch_all(failed)]
    return {
        "StartAt": name,
        "States": {
            name: task,
            failed: name_failure(stage.value, abort),
            abort: {
                "Type": "Fail",
                "ErrorPath": "$.error.Error",
                "CausePath": "States.JsonToString($.error)",
            },
        },
    }
