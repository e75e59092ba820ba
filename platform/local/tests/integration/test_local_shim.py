"""The Lambda shim on moto: handlers run in-process, errors reach Step Functions by name,
retries happen (with scaled sleeps) and are visible in the execution history."""

from __future__ import annotations

import concurrent.futures
import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

from qip_local import LocalConfig, LocalRuntime
from qip_pipeline.names import ALL_SERVICES
from qip_shared.enums import RejectionReason
from qip_shared.errors import InvalidImageError, PermanentError, RetryableError
from qip_shared.limits import LIMITS, Workflow

RETRY_SCALE = 0.005


class Behaviours:
    """Per-service fake handlers a test can swap; the default echoes a valid stage output."""

    def __init__(self) -> None:
        self.table: dict[str, Callable[[Any, Any], Any]] = {}
        self.calls: list[tuple[str, Any]] = []

    def handler(self, service: str) -> Callable[[Any, Any], Any]:
        def call(event: Any, context: Any) -> Any:
            self.calls.append((service, context.function_name))
            behaviour = self.table.get(service)
            if behaviour is not None:
                return behaviour(event, context)
            result = {"service": service, "imageKey": event.get("imageKey")}
            if service == "archive":
                # PublishSuccess reads these from the archive result.
                result |= {
                    "archivedLocation": "s3://archive/x/",
                    "processingDuration": 5,
                    "render": {},
                }
            return result

        return call


@pytest.fixture(scope="module")
def behaviours() -> Behaviours:
    return Behaviours()


@pytest.fixture(scope="module")
def runtime(behaviours: Behaviours) -> Iterator[LocalRuntime]:
    config = LocalConfig(
        retry_scale=RETRY_SCALE,
        poll_messages=False,
        handlers={s: behaviours.handler(s) for s in ALL_SERVICES},
    )
    with LocalRuntime(config) as started:
        yield started


@pytest.fixture(autouse=True)
def _reset(behaviours: Behaviours, runtime: LocalRuntime) -> Iterator[None]:
    yield
    behaviours.table.clear()
    behaviours.calls.clear()
    assert runtime.registry is not None
    runtime.registry.clear_faults()


def run_execution(
    runtime: LocalRuntime, timeout: float = 30
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    assert runtime.resources is not None
    sfn = runtime.client("stepfunctions")
    arn = sfn.start_execution(
        stateMachineArn=runtime.resources.state_machine_arn,
        name=f"test-{uuid.uuid4().hex[:12]}",
        input=json.dumps(
            {
                "imageKey": f"uploads/2026/11/26/{uuid.uuid4()}.png",
                "bucket": runtime.resources.upload_bucket,
                "uploadTimestamp": "2026-11-26T00:00:00.000Z",
                "contentType": "image/png",
                "size": 10,
            }
        ),
    )["executionArn"]
    deadline = time.monotonic() + timeout
    while True:
        described = sfn.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING" or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    history = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    return described, history


def test_invoke_returns_the_handlers_result(runtime: LocalRuntime, behaviours: Behaviours) -> None:
    behaviours.table["metadata"] = lambda event, _: {"echo": event, "n": 42}
    answer = runtime.client("lambda").invoke(
        FunctionName="qip-metadata", Payload=json.dumps({"imageKey": "k"}).encode()
    )
    assert "FunctionError" not in answer
    assert json.loads(answer["Payload"].read()) == {"echo": {"imageKey": "k"}, "n": 42}
    # The handler got a Lambda-like context naming the function.
    assert behaviours.calls == [("metadata", "qip-metadata")]


def test_an_exception_becomes_a_lambda_function_error(
    runtime: LocalRuntime, behaviours: Behaviours
) -> None:
    def boom(event: Any, context: Any) -> Any:
        raise PermanentError("disk on fire")

    behaviours.table["resize"] = boom
    answer = runtime.client("lambda").invoke(FunctionName="qip-resize", Payload=b"{}")
    assert answer["FunctionError"] == "Unhandled"
    payload = json.loads(answer["Payload"].read())
    assert payload["errorType"] == "PermanentError"
    assert "disk on fire" in payload["errorMessage"]


def test_a_successful_execution_runs_every_stage_once(
    runtime: LocalRuntime, behaviours: Behaviours
) -> None:
    described, history = run_execution(runtime)
    assert described["status"] == "SUCCEEDED", described
    services = sorted(service for service, _ in behaviours.calls)
    assert services == ["archive", "metadata", "resize", "thumbnail", "validate"]
    assert [e["type"] for e in history].count("LambdaFunctionSucceeded") == 5


def test_invalid_image_error_is_caught_by_name_and_not_retried(
    runtime: LocalRuntime, behaviours: Behaviours
) -> None:
    def reject(event: Any, context: Any) -> Any:
        raise InvalidImageError(RejectionReason.CORRUPT, "not decodable")

    behaviours.table["validate"] = reject
    described, history = run_execution(runtime)
    # The Catch on InvalidImageError leads to the Rejected (Succeed) state.
    assert described["status"] == "SUCCEEDED"
    failures = [e for e in history if e["type"] == "LambdaFunctionFailed"]
    assert len(failures) == 1
    assert failures[0]["lambdaFunctionFailedEventDetails"]["error"] == "InvalidImageError"
    assert any(
        e["type"] == "SucceedStateEntered" and e["stateEnteredEventDetails"]["name"] == "Rejected"
        for e in history
    )
    assert [s for s, _ in behaviours.calls] == ["validate"]


def test_retryable_errors_are_retried_with_the_designed_backoff(
    runtime: LocalRuntime, behaviours: Behaviours
) -> None:
    assert runtime.retry_clock is not None
    before = len(runtime.retry_clock.requested)

    def flaky(event: Any, context: Any) -> Any:
        raise RetryableError("throttled")

    behaviours.table["thumbnail"] = flaky
    started = time.monotonic()
    described, history = run_execution(runtime)
    elapsed = time.monotonic() - started
    assert described["status"] == "FAILED"
    scheduled = [
        e
        for e in history
        if e["type"] == "LambdaFunctionScheduled"
        and "qip-thumbnail" in e["lambdaFunctionScheduledEventDetails"]["resource"]
    ]
    # One attempt plus the Express budget's retries, waiting its backoff (scaled here).
    budget = LIMITS[Workflow.EXPRESS].service_retry
    assert len(scheduled) == 1 + budget.max_attempts
    assert runtime.retry_clock.requested[before:] == budget.waits()
    assert elapsed < sum(budget.waits()) * RETRY_SCALE + 10
    # After the retries, the Catch sent it to HandleError and PublishFailure.
    entered = [
        e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e
    ]
    assert "HandleError" in entered
    assert "PublishFailure" in entered


def test_a_transient_failure_then_success_completes(
    runtime: LocalRuntime, behaviours: Behaviours
) -> None:
    assert runtime.registry is not None

    retries = LIMITS[Workflow.EXPRESS].service_retry.max_attempts

    def fail_until_the_last_retry(function: str, event: Any, attempt: int) -> None:
        if function == "qip-metadata" and attempt <= retries:
            raise RetryableError(f"transient #{attempt}")

    runtime.registry.add_fault_hook(fail_until_the_last_retry)
    described, history = run_execution(runtime)
    assert described["status"] == "SUCCEEDED"
    failed = [e for e in history if e["type"] == "LambdaFunctionFailed"]
    assert [e["lambdaFunctionFailedEventDetails"]["error"] for e in failed] == [
        "RetryableError"
    ] * retries


def test_a_function_without_handler_fails_like_a_missing_module(runtime: LocalRuntime) -> None:
    assert runtime.registry is not None
    runtime.client("lambda").create_function(
        FunctionName="qip-orphan",
        Runtime="python3.12",
        Role=f"arn:aws:iam::123456789012:role/{runtime.config.prefix}-local-role",
        Handler="nowhere.handler",
        Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},
    )
    answer = runtime.client("lambda").invoke(FunctionName="qip-orphan", Payload=b"{}")
    assert answer["FunctionError"] == "Unhandled"
    assert json.loads(answer["Payload"].read())["errorType"] == "HandlerNotFoundError"


def test_concurrent_executions_share_one_parsed_program(
    runtime: LocalRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Retry counters live per execution although every execution runs the same parsed tree."""
    assert runtime.registry is not None
    retries = LIMITS[Workflow.EXPRESS].service_retry.max_attempts
    parses: list[str] = []
    original = AmazonStateLanguageParser.parse

    def counting_parse(definition: str) -> Any:
        parses.append(definition)
        return original(definition)

    monkeypatch.setattr(AmazonStateLanguageParser, "parse", staticmethod(counting_parse))

    def fail_until_the_last_retry(function: str, event: Any, attempt: int) -> None:
        if function == "qip-metadata" and attempt <= retries:
            raise RetryableError(f"transient #{attempt}")

    runtime.registry.add_fault_hook(fail_until_the_last_retry)
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        runs = list(pool.map(lambda _: run_execution(runtime, timeout=60), range(4)))
    for described, history in runs:
        assert described["status"] == "SUCCEEDED"
        failed = [e for e in history if e["type"] == "LambdaFunctionFailed"]
        assert len(failed) == retries
    assert len(parses) <= 1  # the first execution of this runtime parses; the rest reuse it
