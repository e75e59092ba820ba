"""Cold start: a handler imports the X-Ray SDK only when tracing is on, and then still traces.

Each check runs in a fresh interpreter (`sys.modules` as Lambda's init leaves it), with the
environment Lambda gives a function (`LAMBDA_TASK_ROOT`), so only the tracing switch differs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from qip_pipeline.names import ALL_SERVICES
from qip_platform.versions import module_name, needs_pillow
from qip_shared.testing.xray import XRayDaemon

NON_IMAGE_SERVICES = [s for s in ALL_SERVICES if not needs_pillow(s)]

# Import the handler, then (optionally) invoke it once with an empty event; report what loaded.
_PROBE = """
import json, sys
handler_module = __import__(sys.argv[1] + ".handler", fromlist=["handler"])
invoked = None
if sys.argv[2] == "invoke":
    try:
        handler_module.handler({}, None)
        invoked = "answered"
    except Exception as exc:  # an empty event is refused; the trace is what matters here
        invoked = type(exc).__name__
# A stage or API function keeps its tracer on its runtime object (`stage`, `api`).
tracer = getattr(handler_module, "tracer", None) or handler_module.api.tracer
print(json.dumps({
    "xray": sorted(m for m in sys.modules if m.split(".")[0] == "aws_xray_sdk"),
    "tracer": type(tracer).__module__ + "." + type(tracer).__name__,
    "invoked": invoked,
}))
"""


def _lambda_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POWERTOOLS_", "AWS_"))}
    env.update(
        LAMBDA_TASK_ROOT=str(tmp_path),
        AWS_LAMBDA_FUNCTION_NAME="qip-probe",
        AWS_REGION="us-east-1",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_ENDPOINT_URL="http://127.0.0.1:9",  # any AWS call fails at once, nothing leaves
        AWS_MAX_ATTEMPTS="1",
        POWERTOOLS_METRICS_NAMESPACE="QIP",
        **extra,
    )
    return env


def _probe(service: str, env: dict[str, str], *, invoke: bool) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, module_name(service), "invoke" if invoke else "import"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


@pytest.mark.parametrize("service", NON_IMAGE_SERVICES)
def test_tracing_disabled_never_imports_the_xray_sdk(service: str, tmp_path: Path) -> None:
    loaded = _probe(service, _lambda_env(tmp_path, POWERTOOLS_TRACE_DISABLED="true"), invoke=False)
    assert loaded["xray"] == []
    assert loaded["tracer"] == "qip_shared.boundary.UntracedTracer"


@pytest.fixture
def daemon() -> Iterator[XRayDaemon]:
    started = XRayDaemon()
    yield started
    started.close()


@pytest.mark.parametrize("service", NON_IMAGE_SERVICES)
def test_tracing_enabled_still_records_segments(
    service: str, tmp_path: Path, daemon: XRayDaemon
) -> None:
    env = _lambda_env(
        tmp_path,
        AWS_XRAY_DAEMON_ADDRESS=daemon.address,
        _X_AMZN_TRACE_ID="Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
    )
    loaded = _probe(service, env, invoke=True)
    assert "aws_xray_sdk.core" in loaded["xray"]
    assert loaded["tracer"] == "aws_lambda_powertools.tracing.tracer.Tracer"
    deadline = threading.Event()
    for _ in range(50):  # UDP: give the receiver a moment
        if daemon.segments():
            break
        deadline.wait(0.05)
    names = {segment.get("name") for segment in daemon.segments()}
    # powertools names the handler's subsegment "## <function name>"
    assert any(str(name).startswith("## ") for name in names), (names, loaded["invoked"])
