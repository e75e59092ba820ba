"""The real artifacts, unpacked as Lambda lays them out, run by python3.13 on the embedded AWS.

Each function's bundle and layers (x86_64: the deployed arm64 layers hold the same pins, only the
platform wheels differ) are unpacked by `qip_platform.lambda_tree` into `var/task`, `opt` and
`var/runtime` (boto3 pinned by `uv.lock`, standing in for the runtime's own). The local system
(moto server on 127.0.0.1, the very state machine) then runs every function as a
`python3.13 -I -S bootstrap.py` process over its tree, with the environment Lambda gives it.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from qip_local.runtime import FAKE_CREDENTIALS, REGION, LocalConfig, LocalRuntime
from qip_pipeline.names import ALL_SERVICES, handler_path
from qip_platform.bytecode import LambdaPythonMissingError, lambda_python
from qip_platform.lambda_tree import LambdaTree, unpack_functions
from qip_platform.versions import LAMBDA_PYTHON, service_version
from qip_shared import limits
from qip_shared.testing.xray import XRayDaemon

ARCHITECTURE = "x86_64"  # this machine's; the pins are the deployed arm64 layers' pins
BOOTSTRAP = Path(__file__).with_name("bootstrap.py")
MEMORY_MB = 1024
TIMEOUT_SECONDS = 120
COLD_PROCESS_ALLOWANCE_SECONDS = 60


@pytest.fixture(scope="session")
def python313() -> Path:
    """The Lambda runtime's Python; the session fails with one line when there is none."""
    try:
        return lambda_python()
    except LambdaPythonMissingError as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture(scope="session")
def lambda_trees(
    python313: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, LambdaTree]:
    """Every function's artifacts, built (layers cached by lock hash), zipped and unpacked."""
    del python313  # building compiles with it
    return unpack_functions(ALL_SERVICES, tmp_path_factory.mktemp("artifacts"), ARCHITECTURE)


@dataclass
class Invocation:
    """One run of a function's artifacts: its event, its answer, its stdout split into logs."""

    service: str
    event: Any
    answer: dict[str, Any]
    logs: list[dict[str, Any]]
    other_output: list[str]
    stderr: str
    seconds: float


class ArtifactFunction:
    """A local function served by a python3.13 process over the function's unpacked artifacts."""

    _numbers = itertools.count()

    def __init__(
        self, tree: LambdaTree, python: Path, system: dict[str, Any], calls: list[Invocation]
    ) -> None:
        self.tree = tree
        self.python = python
        self.system = system
        self.calls = calls

    def environment(self) -> dict[str, str]:
        """What Lambda and the stack put in the function's environment (local endpoints)."""
        runtime: LocalRuntime = self.system["runtime"]
        assert runtime.resources is not None
        assert runtime.endpoint_url is not None
        service = self.tree.service
        name = runtime.resources.function_name(service)
        trace = f"Root=1-{int(time.time()):08x}-{os.urandom(12).hex()};Parent={os.urandom(8).hex()}"
        return {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            **FAKE_CREDENTIALS,
            "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL": runtime.endpoint_url,
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(MEMORY_MB),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_python{LAMBDA_PYTHON}",
            "LAMBDA_TASK_ROOT": str(self.tree.task),
            "LAMBDA_RUNTIME_DIR": str(self.tree.runtime),
            "_HANDLER": handler_path(service),
            "_X_AMZN_TRACE_ID": f"{trace};Sampled=1",
            "AWS_XRAY_DAEMON_ADDRESS": self.system["xray"].address,
            "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
            **runtime.resources.environment(),
            "QIP_SERVICE_VERSION": service_version(service),
            "POWERTOOLS_SERVICE_NAME": f"qip-{service}",
            "POWERTOOLS_METRICS_NAMESPACE": "QIP",
        }

    def __call__(self, event: Any, context: Any) -> Any:
        """Run the handler once in a fresh interpreter (a cold start) and answer as Lambda."""
        number = next(self._numbers)
        spec_file = self.tree.root / f"invocation-{number}.json"
        result_file = self.tree.root / f"invocation-{number}.result.json"
        spec = {
            "task_path": self.tree.task_path(),
            "runtime_path": [str(self.tree.runtime)],
            "handler": handler_path(self.tree.service),
            "event": event,
            "result": str(result_file),
            "function_name": context.function_name,
            "function_arn": context.invoked_function_arn,
            "memory_mb": MEMORY_MB,
            "timeout_seconds": TIMEOUT_SECONDS,
        }
        spec_file.write_text(json.dumps(spec))
        started = time.perf_counter()
        done = subprocess.run(
            # -B: nothing written, as on Lambda's read-only /var/task and /opt
            [str(self.python), "-I", "-S", "-B", str(BOOTSTRAP), str(spec_file)],
            env=self.environment(),
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
            check=False,
            cwd=self.tree.task,
        )
        seconds = time.perf_counter() - started
        if not result_file.exists():
            raise RuntimeError(f"{self.tree.service} crashed:\n{done.stderr[-3000:]}")
        answer = json.loads(result_file.read_text())
        logs, other = [], []
        for line in done.stdout.splitlines():
            try:
                parsed = json.loads(line)
            except ValueError:
                other.append(line)
                continue
            (logs if isinstance(parsed, dict) else other).append(parsed)
        self.calls.append(
            Invocation(self.tree.service, event, answer, logs, other, done.stderr, seconds)
        )
        if not answer["ok"]:
            raise type(answer["errorType"], (Exception,), {})(answer["errorMessage"])
        return answer["result"]


@pytest.fixture(scope="session")
def xray_daemon() -> Iterator[XRayDaemon]:
    """A stand-in X-Ray daemon on 127.0.0.1 (UDP)."""
    daemon = XRayDaemon()
    yield daemon
    daemon.close()


@pytest.fixture(scope="session")
def invocations() -> list[Invocation]:
    """Every invocation of every artifact function, in order."""
    return []


@pytest.fixture(scope="session")
def artifact_system(
    lambda_trees: dict[str, LambdaTree],
    python313: Path,
    xray_daemon: XRayDaemon,
    invocations: list[Invocation],
) -> Iterator[LocalRuntime]:
    """The local system (moto server) whose every function runs from its artifacts."""
    system: dict[str, Any] = {"xray": xray_daemon}
    handlers = {
        service: ArtifactFunction(lambda_trees[service], python313, system, invocations)
        for service in ALL_SERVICES
    }
    runtime = LocalRuntime(
        # A cold start here may take seconds: no redelivery while the trigger is still running.
        LocalConfig(
            prefix="qipart",
            retry_scale=0.01,
            visibility_timeout=TIMEOUT_SECONDS,
            handlers=handlers,
        ),
        server=True,
    )
    system["runtime"] = runtime
    # Every invocation here is a cold python3.13 on a shared machine: give each task the seconds
    # that takes on top of its function's timeout, instead of timing the task out (the
    # definition reads the allowance when the runtime provisions it).
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(limits, "INVOKE_ALLOWANCE_SECONDS", COLD_PROCESS_ALLOWANCE_SECONDS)
        with runtime:
            yield runtime
