"""The embedded AWS in its own process: moto, its Step Functions, the poller; handlers in workers.

`LocalRuntime(server=True, separate_process=True)` runs this module as a child process, so
the emulation does not share an interpreter lock with the caller (the CLI's uploads and
watching, a dashboard). Inside the child the runtime is the in-process one (`mock_aws`, no
HTTP between moto and the state machine); the handlers run in worker processes
(`qip_local.workers`) whose AWS calls this process's moto answers without HTTP, so the
handlers and the emulation each have a core. A moto server on 127.0.0.1 serves the same
backends to everyone outside. `QIP_HANDLER_PROCESSES=0` keeps the handlers in this process.

Protocol: the parent writes the configuration as one JSON line on the child's stdin and keeps
stdin open; the child answers one JSON line (`{"endpoint": ..., "resources": ...}` or
`{"error": ...}`) on the file descriptor named in its arguments; stdin closing (the parent
stopped or died) stops the child. The child forks its workers' template and imports moto
before it reads the configuration, so `qip` can start it before its own imports
(`qip_local.launcher`); the configuration's `output` names the file its output (and its
workers') then goes to. SIGTERM stops it at once (a child that was never configured).
"""

# ruff: noqa: PLC0415 - moto and the handlers are imported after the answer channel is open

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import json
import os
import signal
import sys
import threading
import time
import urllib.parse
from typing import Any

from qip_local.lifecycle import paused_garbage_collection
from qip_local.workers import WorkerPool
from qip_pipeline.names import ALL_SERVICES

# Set to "0" to run the handlers in the embedded AWS's own process (as before the workers).
HANDLER_PROCESSES_ENV = "QIP_HANDLER_PROCESSES"

# LocalConfig fields that cross the process boundary (handlers, being code, do not).
CONFIG_FIELDS = (
    "prefix",
    "stages",
    "retry_scale",
    "visibility_timeout",
    "failed_visibility",
    "poller_workers",
    "batch_size",
    "function_concurrency",
    "environment",
    "poll_messages",
    "recipe",
    "sweep_interval",
    "sweep_after",
    "execution_timeout",
)


def config_json(config: Any, output: str | None = None) -> str:
    """The JSON line that tells the child how to run (a `LocalConfig` without handlers), and
    the file its output goes to (None: where it went since it started)."""
    values = {name: getattr(config, name) for name in CONFIG_FIELDS}
    values["stages"] = [str(stage) for stage in values["stages"]]
    values["environment"] = dict(values["environment"])
    values["recipe"] = values["recipe"].model_dump(mode="json", by_alias=True)
    values["output"] = output
    return json.dumps(values)


def resources_json(resources: Any) -> dict[str, Any]:
    """`Resources` as JSON (names by prefix, stages by value)."""
    values = dataclasses.asdict(resources)
    values["names"] = resources.names.prefix
    values["stages"] = [str(stage) for stage in resources.stages]
    return values


def resources_from_json(values: dict[str, Any], endpoint: str) -> Any:
    """The `Resources` the child provisioned, rebuilt in the parent; queue URLs on `endpoint`."""
    from qip_local.provision import Resources
    from qip_pipeline.definition import parse_stages
    from qip_pipeline.names import ResourceNames

    # Provisioned in-process, the queues got AWS's URLs; the parent reaches them on the server.
    urls = {
        name: endpoint + urllib.parse.urlsplit(value).path
        for name, value in values.items()
        if name.endswith("_url")
    }
    return Resources(
        **{
            **values,
            **urls,
            "names": ResourceNames(values["names"]),
            "stages": parse_stages(values["stages"]),
        }
    )


def deferred_handler(service: str) -> Any:
    """A handler that imports its service on first call (start-up does not wait for it)."""
    from qip_local.shim import load_handler

    loaded: list[Any] = []
    lock = threading.Lock()

    def call(event: Any, context: Any) -> Any:
        with lock:
            if not loaded:
                with _handler_imports:
                    loaded.append(load_handler(service))
        return loaded[0](event, context)

    return call


# One handler import at a time: two threads importing services that share modules could see
# one of them partially initialised ("cannot import name ... partially initialized module").
_handler_imports = threading.Lock()


def _preload_handlers() -> None:
    # Imported after the system answers ready; a first invocation waits for its own import.
    for service in ALL_SERVICES:
        try:
            with _handler_imports:
                importlib.import_module(f"qip_{service.replace('-', '_')}.handler")
        except ImportError:
            continue  # its invocations fail with the import error, as Lambda's would


def handler_processes_enabled() -> bool:
    """Whether the handlers run in worker processes (`QIP_HANDLER_PROCESSES=0`: in this one)."""
    return os.environ.get(HANDLER_PROCESSES_ENV, "1") != "0"


def start_worker_pool() -> WorkerPool | None:
    """Fork the handler workers' template (before moto loads or any thread starts)."""
    if not handler_processes_enabled():
        return None
    return WorkerPool.start(ALL_SERVICES, capacity=1)


# Services whose moto backends every start uses (their models are imported on first use).
MOTO_SERVICES = (
    "s3",
    "sqs",
    "dynamodb",
    "stepfunctions",
    "lambda",
    "sns",
    "events",
    "iam",
    "sts",
    "ssm",
    "logs",
)


def warm_up() -> None:
    """Import what every start imports (the runtime, moto, its backends) before the
    configuration arrives; an import that fails here fails again, reported, in `serve`."""
    from moto.backends import get_backend

    from qip_local.moto_patches import import_moto_without_ec2

    importlib.import_module("qip_local.runtime")
    importlib.import_module("moto.server")
    import_moto_without_ec2()
    for service in MOTO_SERVICES:
        get_backend(service)  # type: ignore[call-overload]
    importlib.import_module("moto.stepfunctions.parser.models")


def send_output_to(path: str | None, pool: WorkerPool | None) -> None:
    """Append this process's output, and its workers', to the file at `path` (None: keep it)."""
    if path is None:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    log = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.dup2(log, sys.stdout.fileno())
        os.dup2(log, sys.stderr.fileno())
        if pool is not None:
            pool.send_output(log)
    finally:
        os.close(log)


def serve(
    config_line: str, answer: Any, host: str, port: int, pool: WorkerPool | None = None
) -> None:
    """Start the system, answer where it is, and run until stdin closes."""
    from moto.server import ThreadedMotoServer

    from qip_local.runtime import LocalConfig, LocalRuntime
    from qip_shared.recipe import Recipe

    values = json.loads(config_line)
    values.pop("output", None)
    values["recipe"] = Recipe.model_validate(values["recipe"])
    if pool is not None:
        pool.capacity = max(1, int(values["function_concurrency"] or 1))
        handlers = {service: pool.handler(service) for service in ALL_SERVICES}
    else:
        handlers = {service: deferred_handler(service) for service in ALL_SERVICES}
    runtime = LocalRuntime(LocalConfig(**values, handlers=handlers), server=False)
    try:
        resources = runtime.start()
        if pool is not None:
            # The functions' environment is complete: workers forked from now on start warm.
            pool.prepare(dict(os.environ))
            pool.prestart(pool.capacity)
    except BaseException:
        if pool is not None:
            pool.close()
        raise
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    try:
        server.start()
        bound_host, bound_port = server.get_host_and_port()
        endpoint = f"http://{bound_host}:{bound_port}"
        ready = {
            "endpoint": endpoint,
            "resources": resources_json(resources),
            "start_cpu_seconds": time.process_time(),
        }
        answer.write(json.dumps(ready))
        answer.write("\n")
        answer.flush()
        if pool is None:
            threading.Thread(target=_preload_handlers, name="qip-preload", daemon=True).start()
        sys.stdin.read()  # until the parent closes it
    finally:
        server.stop()
        if pool is not None:
            pool.close()  # in-flight invocations end now, so the poller stops at once
        runtime.stop()


def _stop_now(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def main() -> int:
    """`python -m qip_local.aws_process ANSWER_FD HOST PORT` (`qip_local.launcher` starts it)."""
    answer_fd, host, port = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    signal.signal(signal.SIGTERM, _stop_now)
    # Held until the template is forked and known, so stopping now never leaves it behind.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    with paused_garbage_collection():
        # Imported once for both sides of the fork (boto3, pydantic, the contracts).
        importlib.import_module("qip_local.runtime")
    pool = start_worker_pool()
    configured = False
    try:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
        with os.fdopen(answer_fd, "w") as answer:
            with contextlib.suppress(Exception), paused_garbage_collection():
                warm_up()
            config_line = sys.stdin.readline()
            if not config_line:
                return 0  # stopped before it was configured: a prestarted child not used
            configured = True
            try:
                send_output_to(json.loads(config_line).get("output"), pool)
                serve(config_line, answer, host, port, pool)
            except Exception as exc:
                answer.write(json.dumps({"error": f"{type(exc).__name__}: {exc}"}) + "\n")
                answer.flush()
                raise
    finally:
        if pool is not None:
            # A template never configured has no workers: it is killed, not waited for.
            if configured:
                pool.close()
            else:
                pool.kill()
    return 0


if __name__ == "__main__":
    try:
        exit_code = main()
    except SystemExit as stopped:  # SIGTERM
        exit_code = stopped.code if isinstance(stopped.code, int) else 1
    # Everything is stopped; tearing the large heap down object by object takes seconds.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(exit_code)
