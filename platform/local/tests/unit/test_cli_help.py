"""Help texts that state designed numbers read them from `qip_shared.limits`."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from qip_local import cli
from qip_local.cli.common import RetryScaleOption, _retried
from qip_shared.limits import LIMITS, Workflow


def _help_of(*command: str) -> str:
    result = CliRunner().invoke(cli.app, [*command, "--help"], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    return re.sub(r"[\s│]+", " ", result.output)


def test_retry_budgets_in_words() -> None:
    assert _retried(LIMITS[Workflow.STANDARD].service_retry) == "3 times after 2, 4, 8 s"
    assert _retried(LIMITS[Workflow.EXPRESS].service_retry) == "once after 2 s"


def test_retry_scale_help_states_the_express_budget_the_local_system_runs() -> None:
    express = LIMITS[Workflow.EXPRESS]
    text = RetryScaleOption.__metadata__[0].help
    assert f"retried {_retried(express.service_retry)}" in text
    assert f"other failures {_retried(express.task_retry)}" in text
    assert "2/4/8" not in text
    for command in ("process", "serve"):
        assert text in _help_of(command), command
