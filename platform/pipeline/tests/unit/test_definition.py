"""The state machine definition: well-formed for every selection, retries as the design says."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qip_pipeline import definition as d
from qip_shared.enums import StageName
from qip_shared.errors import INVALID_IMAGE_ERROR, PERMANENT_ERROR, RETRYABLE_ERROR

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


@pytest.mark.parametrize("selection", SELECTIONS, ids=lambda s: "+".join(x.value for x in s))
def test_lambda_retries_match_the_design(selection):
    for name, state in _all_states(json.loads(d.definition_json(selection))).items():
        if name not in LAMBDA_STAGES:
            continue
        retry = state["Retry"]
        for error in ("Lambda.ServiceException", "Lambda.TooManyRequestsException"):
            rule = _first_retrier(retry, error)
            assert rule is not None
            assert (rule["IntervalSeconds"], rule["MaxAttempts"], rule["BackoffRate"]) == (
                2,
                3,
                2.0,
            )
        rule = _first_retrier(retry, RETRYABLE_ERROR)
        assert (rule["IntervalSeconds"], rule["MaxAttempts"], rule["BackoffRate"]) == (2, 3, 2.0)
        for error in ("States.TaskFailed", "KeyError", "Lambda.Unknown"):
            rule = _first_retrier(retry, error)
            assert (rule["IntervalSeconds"], rule["MaxAttempts"], rule["BackoffRate"]) == (
                1,
                2,
                1.5,
            )
        # A rejection or a permanent error is caught by the first retrier, which never retries.
        for error in (INVALID_IMAGE_ERROR, PERMANENT_ERROR):
            assert _first_retrier(retry, error)["MaxAttempts"] == 0


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
        if (name in LAMBDA_STAGES and name not in branch_tasks) or state["Type"] == "Parallel":
            catcher = _first_catcher(state["Catch"], "Lambda.Unknown")
            assert catcher == {
                "ErrorEquals": ["States.ALL"],
                "Next": d.HANDLE_ERROR_STATE,
                "ResultPath": "$.error",
            }
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
