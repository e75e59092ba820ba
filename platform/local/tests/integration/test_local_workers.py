"""Handlers in worker processes: results, errors by name, AWS calls answered by the parent's moto,
a dying worker as Lambda's Runtime.ExitError, a bounded pool, and nothing left after closing;
then the whole system as `qip process` runs it (workers on), for a good and a rejected image."""

from __future__ import annotations

import io
import json
import os
import sys
import threading
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from PIL import Image

from qip_local import LocalConfig, LocalRuntime
from qip_local.shim import FakeLambdaContext, FunctionRegistry
from qip_local.workers import EXIT_ERROR, RemoteHandlerError, WorkerPool
from qip_shared.boundary import Dependencies

BUCKET = "worker-test-bucket"
SERVICE = "workertest"  # served by the module `qip_workertest.handler`, defined below


class InvalidImageError(Exception):
    """Has the name of the pipeline's own error: Step Functions matches names."""


def _handler(event: dict[str, Any], context: Any) -> Any:
    action = event["action"]
    if action == "echo":
        return {"echo": event["value"], "function": context.function_name}
    if action == "put":
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.put_object(Bucket=BUCKET, Key=event["key"], Body=event["value"].encode())
        body = s3.get_object(Bucket=BUCKET, Key=event["key"])["Body"].read().decode()
        return {"read": body, "pid": os.getpid()}
    if action == "raise":
        raise InvalidImageError(event["value"])
    if action == "die":
        os._exit(3)
    if action == "built":  # where this function's dependencies were built
        return {"built_in": sys.modules["qip_workertest.handler"].dependencies()["pid"]}
    if action == "sleep":
        time.sleep(event["value"])
        return {"pid": os.getpid()}
    raise ValueError(action)


@pytest.fixture(scope="module")
def handler_module() -> Iterator[None]:
    """`qip_workertest.handler`, importable in the forked workers (they inherit sys.modules)."""
    package = types.ModuleType("qip_workertest")
    module = types.ModuleType("qip_workertest.handler")
    module.handler = _handler  # type: ignore[attr-defined]
    module.dependencies = Dependencies(lambda: {"pid": os.getpid()})  # type: ignore[attr-defined]
    # A function whose dependencies call AWS while being built (the template cannot).
    calling = types.ModuleType("qip_workercalls.handler")
    calling.dependencies = Dependencies(  # type: ignore[attr-defined]
        lambda: {"buckets": boto3.client("s3", region_name="us-east-1").list_buckets()}
    )
    calling.handler = lambda event, context: {  # type: ignore[attr-defined]
        "buckets": len(calling.dependencies()["buckets"]["Buckets"])
    }
    modules = {
        "qip_workertest": package,
        "qip_workertest.handler": module,
        "qip_workercalls": types.ModuleType("qip_workercalls"),
        "qip_workercalls.handler": calling,
    }
    sys.modules.update(modules)
    yield
    for name in modules:
        del sys.modules[name]


@pytest.fixture
def aws(handler_module: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto in this process, started before the pool forks (a copy must never answer)."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield


@pytest.fixture
def pool(aws: None) -> Iterator[WorkerPool]:
    """Two workers' worth of pool."""
    workers = WorkerPool.start([SERVICE], capacity=2)
    yield workers
    workers.close()


def _context() -> FakeLambdaContext:
    return FakeLambdaContext(SERVICE, f"arn:aws:lambda:us-east-1:123456789012:function:{SERVICE}")


def test_a_worker_runs_the_handler_in_another_process(pool: WorkerPool) -> None:
    result = pool.invoke(SERVICE, {"action": "echo", "value": [1, "two"]}, _context())
    assert result == {"echo": [1, "two"], "function": SERVICE}
    assert pool.worker_pids
    assert os.getpid() not in pool.worker_pids


def test_aws_calls_are_answered_by_the_parents_moto(pool: WorkerPool) -> None:
    # The bucket exists only in this process's moto, created after the workers were forked.
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    for key, value in {"small.txt": "hello", "large.txt": "0123456789abcdef" * 20_000}.items():
        # A large body travels as raw bytes beside its message, both ways.
        result = pool.invoke(SERVICE, {"action": "put", "key": key, "value": value}, _context())
        assert result["read"] == value
        assert result["pid"] != os.getpid()
        assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == value.encode()


def test_an_exception_keeps_its_name_and_message(pool: WorkerPool) -> None:
    with pytest.raises(RemoteHandlerError) as raised:
        pool.invoke(SERVICE, {"action": "raise", "value": "not an image"}, _context())
    assert type(raised.value).__name__ == "InvalidImageError"
    assert str(raised.value) == "not an image"
    assert any("InvalidImageError" in line for line in raised.value.stack_trace)
    # Through the shim's registry it is the payload Step Functions matches on.
    registry = FunctionRegistry()
    registry.register(SERVICE, pool.handler(SERVICE))
    payload, errored = registry.call(
        SERVICE, _context().invoked_function_arn, {"action": "raise", "value": "x"}
    )
    assert errored
    assert payload["errorType"] == "InvalidImageError"
    assert payload["errorMessage"] == "x"
    # The worker survived its handler's exception and serves the next call.
    assert pool.invoke(SERVICE, {"action": "echo", "value": 1}, _context())["echo"] == 1


def test_prepared_clients_are_built_once_in_the_template(aws: None) -> None:
    pool = WorkerPool.start([SERVICE, "workercalls"], capacity=2)
    try:
        pool.prepare({**os.environ, "QIP_PREPARED": "yes"})
        pool.prestart(2)
        built = {
            pool.invoke(SERVICE, {"action": "built"}, _context())["built_in"] for _ in range(3)
        }
        assert len(built) == 1
        assert built.isdisjoint(pool.worker_pids)  # built before the workers were forked
        assert os.getpid() not in built
        # Building that needed AWS was left to the worker, where the call is answered.
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
        assert pool.invoke("workercalls", {}, _context()) == {"buckets": 1}
    finally:
        pool.close()


def test_a_worker_dying_mid_invocation_is_a_runtime_exit_error(pool: WorkerPool) -> None:
    with pytest.raises(RemoteHandlerError) as raised:
        pool.invoke(SERVICE, {"action": "die"}, _context())
    assert type(raised.value).__name__ == EXIT_ERROR
    assert "Runtime exited" in str(raised.value)
    # A fresh worker takes the next invocation.
    assert pool.invoke(SERVICE, {"action": "echo", "value": 2}, _context())["echo"] == 2


def test_the_pool_never_runs_more_workers_than_its_capacity(pool: WorkerPool) -> None:
    pids: list[int] = []
    lock = threading.Lock()

    def call() -> None:
        result = pool.invoke(SERVICE, {"action": "sleep", "value": 0.3}, _context())
        with lock:
            pids.append(result["pid"])

    threads = [threading.Thread(target=call) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(pids) == 5
    assert len(set(pids)) <= 2


def _descendants(pid: int) -> set[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier}
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_closing_the_pool_leaves_no_process(aws: None) -> None:
    pool = WorkerPool.start([SERVICE], capacity=2)
    pool.prestart(2)
    ended: list[str] = []

    def sleep_long() -> None:
        try:
            pool.invoke(SERVICE, {"action": "sleep", "value": 30}, _context())
        except RemoteHandlerError as exc:
            ended.append(type(exc).__name__)

    busy = threading.Thread(target=sleep_long)
    busy.start()
    pool.invoke(SERVICE, {"action": "echo", "value": 0}, _context())
    time.sleep(0.5)  # the busy worker is inside its handler
    processes = _descendants(os.getpid())
    assert len(processes) >= 3  # the template and two workers
    started = time.monotonic()
    pool.close()
    busy.join(10)
    assert not busy.is_alive()
    assert ended == [EXIT_ERROR]  # the busy invocation ended as Lambda's does
    assert time.monotonic() - started < 10
    deadline = time.monotonic() + 5
    while any(_alive(pid) for pid in processes) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in processes)


# -- the whole system, as `qip process` runs it ---------------------------------------------------


@pytest.fixture(scope="module")
def system() -> Iterator[LocalRuntime]:
    """The CLI's runtime: moto in a child, the handlers in its workers."""
    with LocalRuntime(
        LocalConfig(prefix="wrk", retry_scale=0.001, visibility_timeout=1), separate_process=True
    ) as runtime:
        yield runtime


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (800, 600), (200, 90, 40)).save(buffer, "JPEG")
    return buffer.getvalue()


def test_the_pipeline_runs_in_the_workers(system: LocalRuntime) -> None:
    assert system.child_pid is not None
    client = system.local_client()
    key = client.upload_bytes(_jpeg(), file_name="orange.jpg")
    record = client.wait_for([key], timeout=90)[key]
    assert record is not None
    assert record.status.value == "COMPLETED"
    assert record.execution_arn
    history = system.client("stepfunctions").get_execution_history(
        executionArn=record.execution_arn
    )["events"]
    assert history[-1]["type"] == "ExecutionSucceeded"
    assert len(_descendants(system.child_pid)) >= 2  # the template and at least one worker


def test_a_rejected_image_is_caught_by_its_error_name(system: LocalRuntime) -> None:
    client = system.local_client()
    # A PNG signature with no image after it: the validate stage rejects it, in a worker.
    corrupt = b"\x89PNG\r\n\x1a\n" + b"this is not a picture" * 50
    key = client.upload_bytes(corrupt, file_name="fake.png")
    record = client.wait_for([key], timeout=90)[key]
    assert record is not None
    assert record.status.value == "REJECTED"
    assert record.execution_arn
    events = system.client("stepfunctions").get_execution_history(
        executionArn=record.execution_arn
    )["events"]
    failures = [e for e in events if e["type"] == "LambdaFunctionFailed"]
    assert failures
    assert failures[0]["lambdaFunctionFailedEventDetails"]["error"] == "InvalidImageError"
    cause = json.loads(failures[0]["lambdaFunctionFailedEventDetails"]["cause"])
    assert cause["errorType"] == "InvalidImageError"


def test_stopping_the_system_leaves_no_process() -> None:
    runtime = LocalRuntime(LocalConfig(prefix="wgone", poll_messages=False), separate_process=True)
    runtime.start()
    child = runtime.child_pid
    assert child is not None
    deadline = time.monotonic() + 30
    while len(_descendants(child)) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)  # the template forks the workers once it has built their clients
    processes = _descendants(child) | {child}
    assert len(processes) >= 4  # the child, the template and two or more workers
    runtime.stop()
    assert not any(_alive(pid) for pid in processes)


def test_handlers_can_stay_in_the_embedded_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QIP_HANDLER_PROCESSES", "0")
    with LocalRuntime(
        LocalConfig(prefix="wone", retry_scale=0.001), separate_process=True
    ) as runtime:
        assert runtime.child_pid is not None
        client = runtime.local_client()
        keys = [client.upload_bytes(_jpeg(), file_name=f"{n}.jpg") for n in range(3)]
        records = client.wait_for(keys, timeout=90)
        assert {record.status.value for record in records.values() if record} == {"COMPLETED"}
        assert len(records) == 3
        assert _descendants(runtime.child_pid) == set()  # no template, no workers
