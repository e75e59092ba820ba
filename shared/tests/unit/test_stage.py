"""qip_shared.stage: the lifecycle every stage runs, on moto, with a stand-in stage's work."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from qip_shared.aws import StageAdapters
from qip_shared.enums import ImageStatus, RejectionReason, StageName, StageStatus
from qip_shared.errors import InvalidImageError, PermanentError, RetryableError
from qip_shared.keys import resized_key
from qip_shared.pipeline import PipelineState, ResizeOutput
from qip_shared.stage import (
    Dependencies,
    LocalContext,
    Stage,
    StageDone,
    as_contract_error,
    attempt_number,
    emit_processing_duration,
    parse_state,
)
from qip_shared.testing import moto as stage_fixtures
from qip_shared.testing.moto import MotoAccount, processing_durations, read_json_lines

account, module_account, moto_options, lambda_logs, invoke = (
    stage_fixtures.account,
    stage_fixtures.module_account,
    stage_fixtures.moto_options,
    stage_fixtures.lambda_logs,
    stage_fixtures.invoke,
)


class NotFoundError(PermanentError):
    """A service's own permanent error."""

    code = "NOT_FOUND"


class SlowError(RetryableError):
    """A service's own retryable error."""

    code = "SLOW"


# A stand-in stage, built like a service's handler module: its work is swappable per test.
stage: Stage[StageAdapters] = Stage(
    service="qip-test", stage=StageName.RESIZE, build=StageAdapters.from_env
)
behaviour: dict[str, Callable[[PipelineState], Any]] = {}
# A second stage in the same process, built after the first (as in the local runtime, where all
# five share one process): its metrics must not relabel the first stage's.
other_stage: Stage[StageAdapters] = Stage(
    service="qip-other", stage=StageName.THUMBNAIL, build=StageAdapters.from_env
)


def _work(state: PipelineState) -> StageDone[ResizeOutput]:
    if "work" in behaviour:
        behaviour["work"](state)
    key = resized_key(state.image_key)
    output = ResizeOutput(image_key=state.image_key, resized_key=key, width=4, height=3, bytes=9)
    return StageDone(output=output, record_fields={"resizedKey": key}, event_metadata={"k": key})


def process(
    state: PipelineState, adapters: StageAdapters, *, execution_arn: str | None = None
) -> ResizeOutput:
    """The stand-in stage: IN_PROGRESS, `_work`, COMPLETED, announce."""
    return stage.run(
        state,
        adapters,
        work=lambda: _work(state),
        already_done=lambda: ResizeOutput(
            image_key=state.image_key, resized_key="already-done", width=1, height=1, bytes=1
        ),
        execution_arn=execution_arn,
    )


handler_module = SimpleNamespace(
    Adapters=StageAdapters,
    handler=stage.handler(process),
    logger=stage.logger,
    dependencies=stage.dependencies,
    set_dependencies=stage.inject,
)


@pytest.fixture(scope="session")
def stage_handler() -> Any:
    """The stand-in stage's 'handler module' for the shared moto fixtures."""
    return handler_module


@pytest.fixture
def event(account: MotoAccount) -> Iterator[dict[str, Any]]:
    """A stage input for a fresh key whose record is PROCESSING."""
    key = f"uploads/2026/11/26/{uuid.uuid4()}.jpg"
    account.seed_record(key)
    yield {
        "imageKey": key,
        "bucket": account.bucket,
        "uploadTimestamp": "2026-11-26T07:00:00.000Z",
        "contentType": "image/jpeg",
        "size": 9,
    }
    behaviour.clear()


def test_success_records_completion_and_announces_it(
    account: MotoAccount, event: dict[str, Any], invoke: Any, lambda_logs: Any
) -> None:
    key = event["imageKey"]
    answer = invoke({**event, "executionArn": "arn:exec"})
    assert answer["resizedKey"] == resized_key(key)
    record = account.record(key)
    assert record is not None
    assert record.status is ImageStatus.PROCESSING
    assert record.resized_key == resized_key(key)
    recorded = record.stages.get(StageName.RESIZE)
    assert recorded is not None
    assert recorded.status is StageStatus.COMPLETED
    assert recorded.duration_ms is not None
    [notification] = account.notifications()
    assert notification["eventType"] == "STAGE_COMPLETED"
    assert notification["processingDuration"] == recorded.duration_ms
    [bus_event] = account.bus_events()
    assert bus_event["detail"]["stage"] == "resize"
    assert bus_event["detail"]["executionArn"] == "arn:exec"
    assert bus_event["detail"]["metadata"] == {"k": resized_key(key)}
    lines = lambda_logs()
    [emf] = [line for line in lines if "_aws" in line]
    names = {m["Name"] for m in emf["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert "StageExecutionTime" in names
    # The stage dimension is this stage's even though `other_stage` was built later.
    assert emf["stage"] == "resize"


def test_refused_start_answers_with_already_done_and_writes_nothing(
    account: MotoAccount, event: dict[str, Any], invoke: Any
) -> None:
    account.seed_record(event["imageKey"], ImageStatus.FAILED)
    before = account.raw_item(event["imageKey"])
    assert invoke(event)["resizedKey"] == "already-done"
    assert account.raw_item(event["imageKey"]) == before
    assert account.notifications() == []


def test_failure_is_recorded_logged_and_raised_as_the_shared_class(
    account: MotoAccount, event: dict[str, Any], invoke: Any, lambda_logs: Any
) -> None:
    def fail(state: PipelineState) -> None:
        raise NotFoundError("gone")

    behaviour["work"] = fail
    lambda_logs()
    with pytest.raises(PermanentError) as caught:
        invoke({**event, "executionArn": "arn:exec", "retryCount": 1})
    # The state machine matches names: a subclass leaves as the plain shared class.
    assert type(caught.value) is PermanentError
    assert caught.value.code == "NOT_FOUND"
    assert caught.value.message == "gone"
    recorded = account.record(event["imageKey"]).stages.get(StageName.RESIZE)  # type: ignore[union-attr]
    assert recorded is not None
    assert recorded.status is StageStatus.FAILED
    assert recorded.error_message == "NOT_FOUND: gone"
    assert account.notifications() == []
    lines = lambda_logs()
    [error] = [line for line in lines if line.get("level") == "ERROR"]
    assert error["imageKey"] == event["imageKey"]
    assert event["imageKey"] not in error["message"]
    assert (error["stage"], error["errorType"], error["errorCode"]) == (
        "resize",
        "NotFoundError",
        "NOT_FOUND",
    )
    assert error["attempt"] == 2
    assert error["executionArn"] == "arn:exec"
    assert error["function_name"] == "qip-test"
    [emf] = [line for line in lines if "StageExecutionTime" in line]
    names = {m["Name"] for m in emf["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert {"StageExecutionTime", "StageAttemptFailures"} <= names
    # A permanent error ends the image (HandleError follows): timed once, as FAILED.
    [(status, elapsed, dimensions)] = processing_durations(lines)
    assert (status, dimensions) == ("FAILED", ["service", "status"])
    assert elapsed > 0  # uploaded 2026-11-26T07:00Z, failed now


def test_the_execution_context_reaches_logs_and_record(
    account: MotoAccount, event: dict[str, Any], invoke: Any, lambda_logs: Any
) -> None:
    def fail(state: PipelineState) -> None:
        raise RuntimeError("crash")

    arn = "arn:aws:states:us-east-1:123456789012:express:qip-pipeline:run-1:abc"
    execution = {
        "executionId": arn,
        "executionName": "run-1",
        "executionStartTime": "2026-11-26T07:00:01.000Z",
        "stateName": "ResizeImage",
        "retryCount": 2,
    }
    behaviour["work"] = fail
    lambda_logs()
    with pytest.raises(RuntimeError):
        invoke({"state": event, "execution": execution})
    # The stage recorded which execution ran it.
    record = account.record(event["imageKey"])
    assert record is not None
    assert record.execution_arn == arn
    lines = lambda_logs()
    [error] = [line for line in lines if line.get("level") == "ERROR"]
    assert (error["executionArn"], error["executionName"], error["attempt"]) == (arn, "run-1", 3)
    [emf] = [line for line in lines if "_aws" in line]
    names = {m["Name"] for m in emf["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    # An attempt's failure is not an image's failure: a retry may still succeed.
    assert "StageAttemptFailures" in names
    assert "PipelineFailures" not in names


def test_lost_publish_does_not_fail_the_stage(
    account: MotoAccount,
    event: dict[str, Any],
    invoke: Any,
    lambda_logs: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def down(**kwargs: Any) -> None:
        raise RetryableError("sns down", code="ServiceUnavailable")

    monkeypatch.setattr(account.adapters, "publish_notification", lambda n: down())
    lambda_logs()
    assert invoke(event)["resizedKey"] == resized_key(event["imageKey"])
    recorded = account.record(event["imageKey"]).stages.get(StageName.RESIZE)  # type: ignore[union-attr]
    assert recorded is not None
    assert recorded.status is StageStatus.COMPLETED
    metrics = [line for line in lambda_logs() if "_aws" in line]
    names = {m["Name"] for line in metrics for m in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert "PublishFailures" in names


def test_malformed_input_is_a_permanent_bad_input(account: MotoAccount, invoke: Any) -> None:
    with pytest.raises(PermanentError) as caught:
        invoke({"bucket": "qip-uploads"})
    assert type(caught.value) is PermanentError
    assert caught.value.code == "BAD_INPUT"


# --- the pieces ----------------------------------------------------------------------------


def test_dependencies_build_once_inject_and_reset() -> None:
    built: list[object] = []

    def build() -> Any:
        built.append(object())
        return built[-1]

    slot: Dependencies[Any] = Dependencies(build)
    first = slot()
    assert slot() is first
    assert len(built) == 1
    injected = object()
    slot.inject(injected)
    assert slot() is injected
    slot.cache_clear()  # forgets the injected ones too: back to the environment
    assert slot() is not injected
    assert len(built) == 2
    slot.inject(None)
    slot()
    assert len(built) == 3


def test_local_context_stands_in_for_a_missing_or_partial_context() -> None:
    stand_in = LocalContext.around(None, "qip-x")
    assert stand_in.function_name == "qip-x"
    full = SimpleNamespace(
        function_name="f", memory_limit_in_mb=128, invoked_function_arn="arn", aws_request_id="r"
    )
    assert LocalContext.around(full, "qip-x") is full
    partial = LocalContext.around(SimpleNamespace(aws_request_id="req-9"), "qip-x")
    assert (partial.aws_request_id, partial.function_name) == ("req-9", "qip-x")


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (NotFoundError("m"), PermanentError),
        (SlowError("m"), RetryableError),
        (PermanentError("m", code="C"), PermanentError),
        (RetryableError("m", code="C"), RetryableError),
    ],
)
def test_contract_errors_leave_as_the_shared_class(error: Exception, expected: type) -> None:
    raised = as_contract_error(error)
    assert type(raised) is expected
    assert (raised.code, raised.message) == (error.code, error.message)  # type: ignore[attr-defined]


def test_invalid_image_and_foreign_errors_pass_through() -> None:
    rejection = InvalidImageError(RejectionReason.CORRUPT, "broken")
    assert as_contract_error(rejection) is rejection
    bug = RuntimeError("a bug")
    assert as_contract_error(bug) is bug


def test_attempt_number_and_parse_state() -> None:
    assert attempt_number({"retryCount": 0}) == 1
    assert attempt_number({"attempt": 2}) == 3
    assert attempt_number({}) is None
    assert attempt_number({"retryCount": True}) is None
    with pytest.raises(PermanentError) as caught:
        parse_state({"imageKey": 3})
    assert caught.value.code == "BAD_INPUT"


# Review: ImageProcessingDuration once per image on every terminal status, the same dimensions
# from every function (`service` is the pipeline's, `status` the terminal one).
def test_a_retried_error_or_a_success_does_not_end_the_image(
    account: MotoAccount, event: dict[str, Any], invoke: Any, lambda_logs: Any
) -> None:
    def slow(state: PipelineState) -> None:
        raise SlowError("later")

    behaviour["work"] = slow
    lambda_logs()
    with pytest.raises(RetryableError):
        invoke(event)
    assert processing_durations(lambda_logs()) == []
    behaviour.clear()
    invoke(event)  # a stage that completes is not the end of the image (archive's is)
    assert processing_durations(lambda_logs()) == []


def test_processing_duration_is_one_emf_document_per_terminal_status(
    capsys: pytest.CaptureFixture[str],
) -> None:
    capsys.readouterr()
    for status in (ImageStatus.COMPLETED, ImageStatus.REJECTED, ImageStatus.FAILED):
        emit_processing_duration(status, "2026-11-26T07:00:00.000Z", "2026-11-26T07:00:01.500Z")
    emit_processing_duration(ImageStatus.FAILED, "not a time", "2026-11-26T07:00:01.500Z")
    lines = read_json_lines(capsys.readouterr().out)
    assert processing_durations(lines) == [
        ("COMPLETED", 1500.0, ["service", "status"]),
        ("REJECTED", 1500.0, ["service", "status"]),
        ("FAILED", 1500.0, ["service", "status"]),
    ]
    assert {line["service"] for line in lines} == {"qip-pipeline"}
    assert {line["_aws"]["CloudWatchMetrics"][0]["Namespace"] for line in lines} == {"QIP"}


@pytest.mark.parametrize(
    ("error", "budget", "retry_count", "ends"),
    [
        (SlowError("later"), "serviceRetries", 0, False),  # the state machine retries it
        (SlowError("later"), "serviceRetries", 1, True),  # its retrier's budget is spent
        (KeyError("bug"), "taskRetries", 0, False),
        (KeyError("bug"), "taskRetries", 1, True),
        (SlowError("later"), "taskRetries", 1, False),  # another retrier's budget says nothing
    ],
)
def test_the_last_attempt_of_a_retried_error_ends_the_image(
    account: MotoAccount,
    event: dict[str, Any],
    invoke: Any,
    lambda_logs: Any,
    error: Exception,
    budget: str,
    retry_count: int,
    ends: bool,
) -> None:
    def fail(state: PipelineState) -> None:
        raise error

    behaviour["work"] = fail
    lambda_logs()
    task = {"state": event, "execution": {"retryCount": retry_count, budget: 1}}
    with pytest.raises((RetryableError, KeyError)):  # a SlowError leaves as RetryableError
        invoke(task)
    expected = [("FAILED", ["service", "status"])] if ends else []
    assert [(s, d) for s, _, d in processing_durations(lambda_logs())] == expected
