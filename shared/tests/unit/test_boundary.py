"""The Lambda boundary every function shares: its logger's version key, its dependencies."""

from __future__ import annotations

import io
import json

import pytest

from qip_shared import config
from qip_shared.boundary import Dependencies, LocalContext, function_logger


def test_every_log_line_carries_the_deployed_version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(config.ENV_SERVICE_VERSION, "1.4.2")
    logger = function_logger("qip-boundary-test")
    stream = io.StringIO()
    logger.registered_handler.setStream(stream)  # type: ignore[attr-defined]

    @logger.inject_lambda_context(clear_state=True)
    def handler(event: dict[str, str], context: object) -> None:
        logger.info("handled")

    handler({}, LocalContext.around(None, "qip-boundary-test"))
    handler({}, LocalContext.around(None, "qip-boundary-test"))
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    assert [line["serviceVersion"] for line in lines] == ["1.4.2", "1.4.2"]


def test_dependencies_are_built_once_and_injection_wins() -> None:
    built: list[object] = []
    dependencies: Dependencies[object] = Dependencies(lambda: built.append(object()) or built[-1])
    first = dependencies()
    assert dependencies() is first
    assert len(built) == 1
    injected = object()
    dependencies.inject(injected)
    assert dependencies() is injected
    dependencies.cache_clear()
    assert dependencies() is not first
    assert len(built) == 2
