"""The embedded AWS with the pipeline running in it: moto, the shim, the resources, the poller.

Three modes: in-process (`mock_aws`, for tests), server (`ThreadedMotoServer` on 127.0.0.1, so
awscli and boto3 clients can look at everything while it runs; the handlers run in this
process and reach the server through `AWS_ENDPOINT_URL`), and server in a separate process
(`separate_process=True`, for the CLI: moto, the state machine and the poller run in-process
in a child, `qip_local.aws_process`, the handlers in that child's worker processes, so the
emulation, the handlers and the caller do not wait on one interpreter lock).
"""

# moto and the server are imported only when a mode needs them (they are slow to import).
# ruff: noqa: PLC0415

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import boto3

from qip_local.asl_cache import cached_state_machine_programs
from qip_local.launcher import FAKE_CREDENTIALS, REGION, AwsProcess, spawn
from qip_local.lifecycle import (
    FREEZE_HEAP_ENV,
    interruptible_receives,
    paused_garbage_collection,
    prompt_server_stops,
    shared_botocore_loader,
    stop_server_promptly,
)
from qip_local.moto_fidelity import atomic_uploads
from qip_local.moto_patches import (
    balanced_task_timeouts,
    cached_action_names,
    cached_json_paths,
    cached_state_machine_clients,
    direct_dynamodb_answers,
    import_moto_without_ec2,
    lean_dynamodb_updates,
    quick_sqs_clock,
    serialized_dynamodb,
)
from qip_local.moto_speedups import moto_speedups
from qip_local.poller import RegistryInvoker, SqsPoller
from qip_local.provision import Resources, provision
from qip_local.schedule import Schedule
from qip_local.shim import (
    FunctionRegistry,
    Handler,
    ScaledTime,
    lambda_shim,
    load_handler,
    scaled_retry_sleeps,
)
from qip_pipeline.definition import ALL_STAGES
from qip_pipeline.names import ALL_SERVICES, ResourceNames, function_name
from qip_shared.config import ENV_SWEEP_AFTER_SECONDS
from qip_shared.enums import StageName
from qip_shared.limits import Workflow, sweep_after_seconds
from qip_shared.recipe import DEFAULT_RECIPE, Recipe

MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}}
NOISY_LOGGERS = ("moto", "werkzeug", "botocore", "boto3", "urllib3")


def quiet_loggers(level: int = logging.CRITICAL) -> None:
    """Silence moto's and the HTTP stack's loggers (they report expected failures loudly)."""
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(level)


@dataclass
class LocalConfig:
    """How to run the local system."""

    prefix: str = "qip"
    stages: Sequence[str | StageName] = ALL_STAGES
    # 1.0 sleeps the definition's retry intervals (`qip_shared.limits`); tests use a fraction.
    retry_scale: float = 1.0
    # Short, unlike the stack's 300 s, so a failed message comes back (and reaches the DLQ) soon.
    visibility_timeout: int = 5
    # Seconds before a message the trigger failed is visible again (None: the queue's timeout).
    failed_visibility: int | None = None
    poller_workers: int = 2
    batch_size: int = 1
    function_concurrency: int = 4
    environment: Mapping[str, str] = field(default_factory=dict)
    # service name -> handler; replaces the real `qip_<service>.handler.handler` (tests).
    handlers: Mapping[str, Handler] = field(default_factory=dict)
    poll_messages: bool = True
    # Seconds between sweeper runs (the stack schedules it every 5 minutes); None: never.
    sweep_interval: float | None = 60.0
    # A PROCESSING record is swept this long after its claim (default: `qip_shared.limits`).
    sweep_after: float | None = None
    # Replaces the definition's own execution TimeoutSeconds (tests scale time down).
    execution_timeout: int | None = None
    # What the resize and thumbnail stages render (stored in the system's SSM parameter).
    recipe: Recipe = DEFAULT_RECIPE


CHILD_START_TIMEOUT = 120.0  # seconds: imports and provisioning on a loaded machine


def _child_output() -> Any:
    """Where the child's output goes: this process's stdout (a log file under the CLI)."""
    try:
        sys.stdout.flush()
        sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return subprocess.DEVNULL
    return sys.stdout


# The services a `LocalClient` calls first (uploads, watching).
CLIENT_SERVICES = ("lambda", "dynamodb", "stepfunctions", "s3", "sqs")


def _load_client_models(session: boto3.Session) -> None:
    """Load the models of the clients this process will make (into `session`'s loader).

    Their first clients otherwise decode them (~0.1 s of CPU) on the first upload's path;
    done while the separate process starts, the wait is free.
    """
    for service in CLIENT_SERVICES:
        session.client(service, endpoint_url="http://127.0.0.1")


def _read_answer(answers: Any, child: subprocess.Popen[bytes], timeout: float) -> dict[str, Any]:
    """The child's one-line answer: where it serves and what it provisioned."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise RuntimeError(f"the embedded AWS did not start within {timeout:.0f} s")
        ready, _, _ = select.select([answers], [], [], min(left, 0.5))
        if ready:
            break
        if child.poll() is not None:
            raise RuntimeError(f"the embedded AWS exited during start-up ({child.returncode})")
    line = answers.readline()
    if not line:
        raise RuntimeError(f"the embedded AWS exited during start-up ({child.wait()})")
    answer: dict[str, Any] = json.loads(line)
    if "error" in answer:
        raise RuntimeError(f"the embedded AWS failed to start: {answer['error']}")
    return answer


class LocalRuntime:
    """Starts moto (in-process or as a server), provisions the stack, runs the poller."""

    def __init__(
        self,
        config: LocalConfig | None = None,
        *,
        server: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        separate_process: bool = False,
        prestarted: AwsProcess | None = None,
        child_output: str | None = None,
    ) -> None:
        """`prestarted`: a separate process `qip_local.launcher` started (used if it serves on
        `host` and `port`, else stopped); `child_output`: the file the separate process
        appends its output to (None: this process's stdout)."""
        if prestarted is not None and not separate_process:
            prestarted.stop_now()
            raise ValueError("a prestarted process needs separate_process=True")
        self.config = config or LocalConfig()
        self.server_mode = server or separate_process
        self.separate_process = separate_process
        self.host = host
        self.port = port
        self.endpoint_url: str | None = None
        self.resources: Resources | None = None
        self.registry: FunctionRegistry | None = None
        self.retry_clock: ScaledTime | None = None
        self.poller: SqsPoller | None = None
        self.sweeper: Schedule | None = None
        self._stack = contextlib.ExitStack()
        self._receives_stopping: threading.Event | None = None
        self._own_clients: list[Any] = []  # the poller's and the sweeper's
        self._saved_env: dict[str, str | None] = {}
        self._server: Any = None
        self._prestarted = prestarted
        self.child_output = child_output
        self._child: AwsProcess | None = None
        # CPU seconds the separate process spent until it answered ready (imports, provisioning).
        self.child_start_cpu_seconds: float | None = None
        self.session: boto3.Session | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> LocalRuntime:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _setenv(self, name: str, value: str | None) -> None:
        if name not in self._saved_env:
            self._saved_env[name] = os.environ.get(name)
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value

    def start(self) -> Resources:
        """Start the embedded AWS, provision everything, and start delivering messages."""
        quiet_loggers()
        try:
            with paused_garbage_collection(freeze=os.environ.get(FREEZE_HEAP_ENV) == "1"):
                return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> Resources:
        for name, value in FAKE_CREDENTIALS.items():
            self._setenv(name, value)
        self._setenv("AWS_PROFILE", None)
        if self.separate_process:
            return self._start_separate()
        self._stack.enter_context(shared_botocore_loader())
        if self.server_mode:
            self._start_server()
        else:
            from moto import mock_aws

            # A user's endpoint would take calls away from the in-process mock.
            self._setenv("AWS_ENDPOINT_URL", None)
            mock = mock_aws(config=MOTO_CONFIG)  # type: ignore[call-overload]
            mock.start()
            self._stack.callback(mock.stop)
        import_moto_without_ec2()
        self.registry = self._stack.enter_context(lambda_shim())
        self.registry.concurrency = self.config.function_concurrency
        self.retry_clock = self._stack.enter_context(scaled_retry_sleeps(self.config.retry_scale))
        self._stack.enter_context(cached_state_machine_clients())
        self._stack.enter_context(cached_state_machine_programs())
        self._stack.enter_context(balanced_task_timeouts())
        self._stack.enter_context(atomic_uploads())
        self._stack.enter_context(cached_json_paths())
        self._stack.enter_context(direct_dynamodb_answers())
        self._stack.enter_context(serialized_dynamodb())
        self._stack.enter_context(quick_sqs_clock())
        self._stack.enter_context(cached_action_names())
        self._stack.enter_context(lean_dynamodb_updates())
        self._stack.enter_context(moto_speedups())
        self._stack.enter_context(prompt_server_stops())
        self._receives_stopping = self._stack.enter_context(interruptible_receives())
        self.session = boto3.Session(region_name=REGION)
        resources = provision(
            self.session,
            ResourceNames(self.config.prefix),
            stages=self.config.stages,
            visibility_timeout=self.config.visibility_timeout,
            endpoint_url=self.endpoint_url,
            extra_environment=self.config.environment,
            execution_timeout=self.config.execution_timeout,
            recipe=self.config.recipe,
        )
        self.resources = resources
        sweep_after = self.config.sweep_after or sweep_after_seconds(Workflow.EXPRESS)
        environment = {
            **resources.environment(),
            ENV_SWEEP_AFTER_SECONDS: str(sweep_after),
            **self.config.environment,
        }
        # Handlers read os.environ when they first build their dependencies.
        for name, value in environment.items():
            self._setenv(name, value)
        self._register_handlers(resources)
        self.sweeper = Schedule(
            self._own_client("lambda"),
            resources.function_name("sweeper"),
            self.config.sweep_interval or 0.0,
            resources.names.sweep_schedule,
        )
        if self.config.sweep_interval:
            self.sweeper.start()
        if self.config.poll_messages:
            assert self.registry is not None
            arns = {resources.function_name(s): a for s, a in resources.function_arns.items()}
            self.poller = SqsPoller(
                self._own_client("sqs"),
                RegistryInvoker(self.registry, arns),
                queue_url=resources.queue_url,
                queue_arn=resources.queue_arn,
                function_name=resources.function_name("trigger"),
                batch_size=self.config.batch_size,
                workers=self.config.poller_workers,
                failed_visibility=self.config.failed_visibility,
            )
            self.poller.start()
        return resources

    def _start_server(self) -> None:
        import requests
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
        server.start()
        self._server = server
        self._stack.callback(stop_server_promptly, server)
        host, port = server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        # Step Functions' interpreter calls Lambda (and SNS, DynamoDB) on localhost:$MOTO_PORT.
        self._setenv("MOTO_PORT", str(port))
        self._setenv("AWS_ENDPOINT_URL", self.endpoint_url)
        answer = requests.post(f"{self.endpoint_url}/moto-api/config", json=MOTO_CONFIG, timeout=10)
        answer.raise_for_status()

    def _start_separate(self) -> Resources:
        from qip_local.aws_process import config_json, resources_from_json

        if self.config.handlers:
            raise ValueError("handlers cannot cross into a separate process; use server=True")
        self._child = self._take_prestarted() or spawn(self.host, self.port, _child_output())
        self._stack.callback(self._stop_child)
        self._child.configure(config_json(self.config, self.child_output))
        self.session = boto3.Session(region_name=REGION)
        _load_client_models(self.session)  # while the child starts
        answer = _read_answer(self._child.answers, self._child.process, CHILD_START_TIMEOUT)
        self.endpoint_url = answer["endpoint"]
        self.child_start_cpu_seconds = float(answer["start_cpu_seconds"])
        self._setenv("AWS_ENDPOINT_URL", self.endpoint_url)
        self.resources = resources_from_json(answer["resources"], answer["endpoint"])
        return self.resources

    def _take_prestarted(self) -> AwsProcess | None:
        """The prestarted process if it can serve this runtime (else it is stopped)."""
        child, self._prestarted = self._prestarted, None
        if child is None:
            return None
        if (child.host, child.port) == (self.host, self.port) and child.process.poll() is None:
            return child
        child.stop_now()
        return None

    def _stop_child(self) -> None:
        child, self._child = self._child, None
        if child is not None:
            child.stop()  # it stops when its stdin closes

    def _register_handlers(self, resources: Resources) -> None:
        assert self.registry is not None
        for service in ALL_SERVICES:
            handler = self.config.handlers.get(service)
            if handler is None:
                handler = load_handler(service)
            self.registry.register(function_name(service, resources.names.prefix), handler)

    def stop(self) -> None:
        """Stop the poller, the server or mock, undo the patches and the environment.

        Idle long polls end at once; a batch the trigger is running completes (its execution
        started). Executions still running are abandoned with the embedded AWS's state, which
        lives in memory only.
        """
        if self._prestarted is not None:
            self._prestarted.stop_now()  # never started, or stopped before it got there
            self._prestarted = None
        if self._receives_stopping is not None:
            self._receives_stopping.set()
            self._receives_stopping = None
        if self.poller is not None:
            self.poller.stop()
            self.poller = None
        if self.sweeper is not None:
            self.sweeper.stop()
            self.sweeper = None
        while self._own_clients:
            # Its keep-alive connections would hold a server thread each until collected.
            self._own_clients.pop().close()
        self._stack.close()
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env.clear()

    # -- access ----------------------------------------------------------------------------
    @property
    def child_pid(self) -> int | None:
        """The process id of the embedded AWS when it runs in a separate process."""
        return self._child.pid if self._child is not None else None

    def _own_client(self, service: str) -> Any:
        client = self.client(service)
        self._own_clients.append(client)
        return client

    def client(self, service: str) -> Any:
        """A boto3 client for the embedded AWS."""
        assert self.session is not None, "start() first"
        return self.session.client(service, endpoint_url=self.endpoint_url)

    def local_client(self) -> Any:
        """A `LocalClient` (upload, wait, outputs, DLQ) bound to this runtime."""
        from qip_local.client import LocalClient

        assert self.session is not None, "start() first"
        assert self.resources is not None, "start() first"
        return LocalClient(self.session, self.resources, endpoint_url=self.endpoint_url)

    def add_fault_hook(self, hook: Callable[[str, Any, int], None]) -> Callable[[], None]:
        """Run `hook(function_name, event, attempt)` before every invocation (it may raise)."""
        assert self.registry is not None, "start() first"
        return self.registry.add_fault_hook(hook)
