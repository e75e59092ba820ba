"""The state machine definition: well-formed for every selection, retries as the design says."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qip_pipeline import definition as d
from qip_pipeline.names import STAGE_SERVICES
from qip_shared.enums import StageName
from qip_shared.errors import INVALID_IMAGE_ERROR, PERMANENT_ERROR, RETRYABLE_ERROR
from qip_shared.limits import (
    EXPRESS_EXECUTION_CAP_SECONDS,
    FUNCTION_TIMEOUT_SECONDS,
    INVOKE_ALLOWANCE_SECONDS,
    LIMITS,
    Workflow,
)

SELECTIONS = [
    tuple(StageName),
    (StageName.VALIDATION,),
    (StageName.VALIDATION, StageName.RESIZE, StageName.ARCHIVE),
    (StageName.VALIDATION, StageName.THUMBNAIL, StageName.ARCHIVE),
    (StageName.VALIDATION, StageName.METADATA),
    (StageName.VALIDATION, StageName.METADATA, StageName.RESIZE, StageName.THUMBNAIL),
]
LAMBDA_STAGES = {d.STATE_NAMES[s]: s for s in StageName}


def _scopes(machine: dict[str, Any]) -> list[dict[str, Any]]:
    """The top-level state machine and every Parallel branch (each is its own name scope)."""
    found = [machine]
    for state in machine["States"].values():
        for branch in state.get("Branches", []):
            found.extend(_scopes(branch))
    return found


def _all_states(machine: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: state for scope in _scopes(machine) for name, state in scope["States"].items()}


def _first_retrier(retriers: list[dict[str, Any]], error: str) -> dict[str, Any] | None:
    """The retrier Step Functions applies to `error` (first match, TaskFailed = any task error)."""
    for retrier in retriers:
        names = retrier["ErrorEquals"]
        if error in names or "States.ALL" in names:
            return retrier
        if "States.TaskFailed" in names and not error.startswith("States."):
            return retrier
    return None


def _first_catcher(catchers: list[dict[str, Any]], error: str) -> dict[str, Any] | None:
    for catcher in catchers:
        if error in catcher["ErrorEquals"] or "States.ALL" in catcher["ErrorEquals"]:
            return catcher
    return None


def _check_well_formed(machine: dict[str, Any]) -> None:
    for scope in _scopes(machine):
        states = scope["States"]
        assert scope["StartAt"] in states
        reachable, pending = set(), [scope["StartAt"]]
        while pending:
            name = pending.pop()
            if name in reachable:
                continue
            reachable.add(name)
            state = states[name]
            targets = [state.get("Next"), state.get("Default")]
            targets += [c["Next"] for c in state.get("Catch", [])]
            targets += [c["Next"] for c in state.get("Choices", [])]
            for target in filter(None, targets):
                assert target in states, f"{name} -> {target} does not resolve"
                pending.append(target)
            terminal = state["Type"] in {"Succeed", "Fail"} or state.get("End") is True
            assert terminal != ("Next" in state), f"{name} needs exactly one of Next/End"
        assert reachable == set(states), f"unreachable: {set(states) - reachable}"


@pytest.mark.parametrize("selection", SELECTIONS, ids=lambda s: "+".join(x.value for x in s))
def test_every_transition_resolves_and_every_state_is_reachable(selection):
    machine = json.loads(d.definition_json(selection))
    _check_well_formed(machine)


@pytest.mark.parametrize("selection", SELECTIONS, ids=lambda s: "+".join(x.value for x in s))
def test_optional_stages_drop_out_cleanly(selection):
    text = d.definition_json(selection)
    states = _all_states(json.loads(text))
    tasks = {LAMBDA_STAGES[name] for name in states if name in LAMBDA_STAGES}
    assert tasks == set(selection)
    assert d.placeholders(text) == (
        {d.FUNCTION_PLACEHOLDERS[s] for s in selection}
        | {
            d.TOPIC_PLACEHOLDER,
            d.TABLE_PLACEHOLDER,
            d.EVENT_BUS_PLACEHOLDER,
            d.DEAD_LETTER_QUEUE_PLACEHOLDER,
        }
    )
    outputs = {StageName.RESIZE, StageName.THUMBNAIL} & set(selection)
    assert (d.PARALLEL_STATE in states) == bool(outputs)
    # Without archive, the machine itself marks the record COMPLETED before notifying.
    assert (d.MARK_COMPLETED_STATE in states) == (StageName.ARCHIVE not in selection)
    success = states[d.PUBLISH_SUCCESS_STATE]["Parameters"]["Message"]
    assert success["stages"] == [s.value for s in selection]


@pytest.mark.parametrize("workflow", list(Workflow))
@pytest.mark.parametrize("selection", SELECTIONS, ids=lambda s: "+".join(x.value for x in s))
def test_lambda_retries_are_the_workflows_budget(selection, workflow):
    limits = LIMITS[workflow]

    def budget(rule):
        return (
            rule["IntervalSeconds"],
            rule["MaxAttempts"],
            rule["BackoffRate"],
            rule["MaxDelaySeconds"],
        )

    def expected(policy):
        return (
            policy.interval_seconds,
            policy.max_attempts,
            policy.backoff_rate,
            policy.max_delay_seconds,
        )

    machine = json.loads(d.definition_json(selection, workflow))
    for name, state in _all_states(machine).items():
        if name not in LAMBDA_STAGES:
            continue
        retry = state["Retry"]
        for error in (
            "Lambda.ServiceException",
            "Lambda.TooManyRequestsException",
            RETRYABLE_ERROR,
        ):
            assert budget(_first_retrier(retry, error)) == expected(limits.service_retry)
        for error in ("States.TaskFailed", "KeyError", "Lambda.Unknown"):
            assert budget(_first_retrier(retry, error)) == expected(limits.task_retry)
        # A rejection or a permanent error is caught by the first retrier, which never retries.
        for error in (INVALID_IMAGE_ERROR, PERMANENT_ERROR):
            assert _first_retrier(retry, error)["MaxAttempts"] == 0
        # The stage is told the retries its errors get, to know its last attempt (the image's
        # end, timed as ImageProcessingDuration FAILED).
        context = state["Parameters"]["execution"]
        assert context["serviceRetries"] == _first_retrier(retry, RETRYABLE_ERROR)["MaxAttempts"]
        assert context["taskRetries"] == _first_retrier(retry, "KeyError")["MaxAttempts"]
        assert context["retryCount.$"] == "$$.State.RetryCount"
        # Its timeout is the function's (one table for the constructs and the definition).
        service = STAGE_SERVICES[LAMBDA_STAGES[name]]
        allowed = FUNCTION_TIMEOUT_SECONDS[service] + INVOKE_ALLOWANCE_SECONDS
        assert state["TimeoutSeconds"] == allowed


@pytest.mark.parametrize("selection", SELECTIONS, ids=lambda s: "+".join(x.value for x in s))
def test_every_lambda_task_passes_the_state_and_its_execution_context(selection):
    for name, state in _all_states(json.loads(d.definition_json(selection))).items():
        if name not in LAMBDA_STAGES:
            continue
        assert state["Parameters"]["state.$"] == "$"
        context = state["Parameters"]["execution"]
        assert context["executionId.$"] == "$$.Execution.Id"
        assert context["executionName.$"] == "$$.Execution.Name"
        assert context["retryCount.$"] == "$$.State.RetryCount"


def _longest_by_enumeration(machine: dict[str, Any]) -> float:
    """The same worst case, by listing every path (slow, independent of the memoised walk)."""
    states = machine["States"]

    def cost(state: dict[str, Any]) -> float:
        if state["Type"] == "Parallel":
            return max(_longest_by_enumeration(b) for b in state["Branches"])
        if state["Type"] != "Task":
            return 0.0
        attempts, waits = 1, 0.0
        for rule in state.get("Retry", []):
            for n in range(rule.get("MaxAttempts", 3)):
                attempts += 1
                delay = rule.get("IntervalSeconds", 1) * rule.get("BackoffRate", 2.0) ** n
                waits += min(delay, rule.get("MaxDelaySeconds", delay))
        return state["TimeoutSeconds"] * attempts + waits

    def paths(name: str) -> list[float]:
        state = states[name]
        targets = {state.get("Next"), *(c["Next"] for c in state.get("Catch", []))} - {None}
        below = [t for target in targets for t in paths(target)] or [0.0]
        return [cost(state) + t for t in below]

    return max(paths(machine["StartAt"]))


@pytest.mark.parametrize("selection", SELECTIONS, ids=lambda s: "+".join(x.value for x in s))
def test_the_express_worst_case_ends_inside_the_cap(selection):
    # Every task at its timeout on every attempt, every retry waited, the Catch path included.
    machine = json.loads(d.definition_json(selection, Workflow.EXPRESS))
    worst = d.worst_case_seconds(machine)
    assert worst == _longest_by_enumeration(machine)
    # The machine's own timeout never cuts a path short, and it ends before AWS's cap does.
    assert worst <= machine["TimeoutSeconds"] <= EXPRESS_EXECUTION_CAP_SECONDS - 30
    tasks = [state for state in _all_states(machine).values() if state["Type"] == "Task"]
    assert all("TimeoutSeconds" in state for state in tasks)


def test_the_standard_workflow_keeps_its_own_limits():
    express = json.loads(d.definition_json(workflow=Workflow.EXPRESS))
    standard = json.loads(d.definition_json(workflow=Workflow.STANDARD))
    assert standard["TimeoutSeconds"] == LIMITS[Workflow.STANDARD].execution_timeout_seconds
    assert d.worst_case_seconds(standard) <= standard["TimeoutSeconds"]
    # More retries than Express can afford: the design's budgets.
    assert d.worst_case_seconds(standard) > d.worst_case_seconds(express)


def test_worst_case_of_a_known_machine():
    def task(seconds: int, **rest: Any) -> dict[str, Any]:
        return {"Type": "Task", "TimeoutSeconds": seconds, **rest}

    retry = [
        {"ErrorEquals": ["X"], "MaxAttempts": 0},
        {
            "ErrorEquals": ["Y"],
            "IntervalSeconds": 2,
            "MaxAttempts": 3,
            "BackoffRate": 2.0,
            "MaxDelaySeconds": 5,
        },
    ]
    machine = {
        "StartAt": "A",
        "States": {
            "A": task(10, Retry=retry, Next="P", Catch=[{"ErrorEquals": ["X"], "Next": "F"}]),
            "P": {
                "Type": "Parallel",
                "Branches": [
                    {"StartAt": "B", "States": {"B": task(7, End=True)}},
                    {"StartAt": "C", "States": {"C": task(3, End=True)}},
                ],
                "End": True,
            },
            "F": task(20, Next="Z"),
            "Z": {"Type": "Fail"},
        },
    }
    # A: 4 attempts x 10 s + waits 2 + 4 + 5 (capped); then the catch path (20) beats P (7).
    assert d.worst_case_seconds(machine) == 40 + 11 + 20
    del machine["States"]["F"]["TimeoutSeconds"]
    with pytest.raises(ValueError, match="TimeoutSeconds"):
        d.worst_case_seconds(machine)


@pytest.mark.parametrize("selection", SELECTIONS, ids=lambda s: "+".join(x.value for x in s))
def test_errors_end_rejected_or_in_handle_error(selection):
    states = _all_states(json.loads(d.definition_json(selection)))
    validate = states[d.STATE_NAMES[StageName.VALIDATION]]
    rejected = _first_catcher(validate["Catch"], INVALID_IMAGE_ERROR)
    assert rejected["Next"] == d.REJECTED_STATE
    assert states[d.REJECTED_STATE]["Type"] == "Succeed"
    # Inside a Parallel branch the Parallel state's own Catch applies.
    branch_tasks = {n for s in states.values() for b in s.get("Branches", []) for n in b["States"]}
    for name, state in states.items():
        if name in LAMBDA_STAGES:
            # Every stage's failure is named before it is recorded, in a branch too.
            catcher = _first_catcher(state["Catch"], "Lambda.Unknown")
            assert catcher == {
                "ErrorEquals": ["States.ALL"],
                "Next": f"{name}Failed",
                "ResultPath": "$.error",
            }
            named = states[f"{name}Failed"]
            assert named["Parameters"]["stage"] == LAMBDA_STAGES[name].value
            if name in branch_tasks:
                abort = states[named["Next"]]
                assert abort["Type"] == "Fail"
                assert abort["CausePath"] == "States.JsonToString($.error)"
            else:
                assert named["Next"] == d.HANDLE_ERROR_STATE
        if state["Type"] == "Parallel":
            catcher = _first_catcher(state["Catch"], "Lambda.Unknown")
            assert catcher["Next"] == d.PARALLEL_FAILED_STATE
            assert states[d.PARALLEL_FAILED_STATE]["Next"] == d.NAME_FAILED_BRANCH_STATE
            assert states[d.NAME_FAILED_BRANCH_STATE]["Next"] == d.HANDLE_ERROR_STATE
    handle = states[d.HANDLE_ERROR_STATE]["Parameters"]
    assert "failedStage" in handle["ExpressionAttributeNames"].values()
    assert states[d.HANDLE_ERROR_STATE]["Next"] == d.PUBLISH_FAILURE_STATE
    assert states[d.PUBLISH_FAILURE_STATE]["Next"] == d.ANNOUNCE_FAILURE_STATE
    assert states[d.ANNOUNCE_FAILURE_STATE]["Next"] == d.DEAD_LETTER_STATE
    assert states[d.DEAD_LETTER_STATE]["Next"] == d.FAILED_STATE
    assert states[d.FAILED_STATE]["Type"] == "Fail"


# Requirement 4.1 / issue 8: the pipeline's outcome is also a ProcessingEvent on EventBridge
# (ProcessingCompleted after PublishSuccess, ProcessingFailed after PublishFailure).
@pytest.mark.parametrize("selection", SELECTIONS, ids=lambda s: "+".join(x.value for x in s))
def test_outcomes_are_put_on_the_event_bus(selection):
    states = _all_states(json.loads(d.definition_json(selection)))
    assert states[d.PUBLISH_SUCCESS_STATE]["Next"] == d.ANNOUNCE_SUCCESS_STATE
    for name, detail_type, status in (
        (d.ANNOUNCE_SUCCESS_STATE, "ProcessingCompleted", "COMPLETED"),
        (d.ANNOUNCE_FAILURE_STATE, "ProcessingFailed", "FAILED"),
    ):
        state = states[name]
        assert state["Resource"] == "arn:aws:states:::events:putEvents"
        [entry] = state["Parameters"]["Entries"]
        assert entry["Source"] == "image-processor"
        assert entry["DetailType"] == detail_type
        assert entry["EventBusName"] == "${EventBusName}"
        assert entry["Detail"]["status"] == status
        assert entry["Detail"]["imageKey.$"] == "$.imageKey"
    # Announcements are best effort once the record is final: their failure never fails the run.
    assert states[d.ANNOUNCE_SUCCESS_STATE]["Next"] == d.COMPLETED_STATE
    assert states[d.COMPLETED_STATE]["Type"] == "Succeed"
    for name, after in (
        (d.PUBLISH_SUCCESS_STATE, d.ANNOUNCE_SUCCESS_STATE),
        (d.ANNOUNCE_SUCCESS_STATE, d.COMPLETED_STATE),
        (d.PUBLISH_FAILURE_STATE, d.ANNOUNCE_FAILURE_STATE),
        (d.ANNOUNCE_FAILURE_STATE, d.DEAD_LETTER_STATE),
        (d.DEAD_LETTER_STATE, d.FAILED_STATE),
    ):
        assert states[name]["Catch"] == [
            {"ErrorEquals": ["States.ALL"], "Next": after, "ResultPath": None}
        ]


# Requirement 6.2 / issue 15: a failure after the retries leaves a dead-letter entry in the shape
# the trigger reads, marked with the execution id that HandleError also writes on the record.
@pytest.mark.parametrize("selection", SELECTIONS, ids=lambda s: "+".join(x.value for x in s))
def test_failure_path_sends_a_marked_dead_letter(selection):
    states = _all_states(json.loads(d.definition_json(selection)))
    send = states[d.DEAD_LETTER_STATE]
    assert send["Resource"] == "arn:aws:states:::sqs:sendMessage"
    params = send["Parameters"]
    assert params["QueueUrl"] == "${DeadLetterQueueUrl}"
    body = params["MessageBody"]
    assert (body["source"], body["detail-type"]) == ("aws.s3", "Object Created")
    assert body["detail"]["bucket"] == {"name.$": "$.bucket"}
    assert body["detail"]["object"]["key.$"] == "$.imageKey"
    assert params["MessageAttributes"]["qipDeadLetter"]["StringValue.$"] == "$$.Execution.Id"
    handle = states[d.HANDLE_ERROR_STATE]["Parameters"]
    marker = next(k for k, v in handle["ExpressionAttributeNames"].items() if v == "deadLetterId")
    assert f"{marker} = " in handle["UpdateExpression"]
    assert {"S.$": "$$.Execution.Id"} in handle["ExpressionAttributeValues"].values()
    assert "DeadLetterQueueUrl" in d.placeholders(d.definition_json(selection))


# Review: a first stage failing at once can end the record before the trigger writes the ARN,
# so HandleError writes the execution's ARN together with FAILED.
@pytest.mark.parametrize("selection", SELECTIONS, ids=lambda s: "+".join(x.value for x in s))
def test_handle_error_records_the_execution_arn(selection):
    handle = _all_states(json.loads(d.definition_json(selection)))[d.HANDLE_ERROR_STATE]
    params = handle["Parameters"]
    arn = next(k for k, v in params["ExpressionAttributeNames"].items() if v == "executionArn")
    value = params["UpdateExpression"].split(f"{arn} = ", 1)[1].split(",", 1)[0].strip()
    assert params["ExpressionAttributeValues"][value] == {"S.$": "$$.Execution.Id"}


# Issue 5 ("Optional stages drop out cleanly"; unknown or impossible selections fail clearly):
# every subset of stages either builds a well-formed machine or is refused with a reason.
@given(st.sets(st.sampled_from(list(StageName))), st.randoms(use_true_random=False))
def test_any_subset_builds_or_is_refused(subset, rnd):
    names = [s.value for s in subset]
    rnd.shuffle(names)
    refused = StageName.VALIDATION not in subset or (
        StageName.ARCHIVE in subset and not {StageName.RESIZE, StageName.THUMBNAIL} & subset
    )
    if refused:
        with pytest.raises(d.StageSelectionError):
            d.build_definition(names)
        return
    assert d.parse_stages(names) == tuple(s for s in StageName if s in subset)
    _check_well_formed(d.build_definition(names))


def test_unknown_and_impossible_selections_say_why():
    with pytest.raises(d.StageSelectionError, match="unknown stage 'sharpen'"):
        d.parse_stages(["validate", "sharpen"])
    with pytest.raises(d.StageSelectionError, match="archive needs an output stage"):
        d.parse_stages(["validate", "archive"])
    with pytest.raises(d.StageSelectionError, match="validation is required"):
        d.parse_stages(["resize"])


def test_aliases_and_order_are_normalised():
    assert d.parse_stages(["archive", "resize", "validate"]) == (
        StageName.VALIDATION,
        StageName.RESIZE,
        StageName.ARCHIVE,
    )


def test_definition_text_is_deterministic_and_substitution_is_total():
    text = d.definition_json()
    assert text == d.definition_json(list(reversed(list(StageName))))
    values = {name: f"arn:test:{name}" for name in d.placeholders(text)}
    resolved = json.loads(d.substitute(text, values))
    assert not d.placeholders(json.dumps(resolved))
    with pytest.raises(KeyError, match=d.TABLE_PLACEHOLDER):
        d.substitute(text, {k: v for k, v in values.items() if k != d.TABLE_PLACEHOLDER})
