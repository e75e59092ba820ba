"""Time limits and retry budgets of the pipeline, in one place.

The state machine definition (`qip_pipeline.definition`) sets each task's `TimeoutSeconds` and
retriers from here, and every service construct sets its function's timeout from here, so the
two always agree. The numbers are chosen so that an Express execution's worst case (every task
using its whole time on every attempt, every retry waited, the failure path included) ends
inside the Express cap; `qip_pipeline.definition.worst_case_seconds` computes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class Workflow(StrEnum):
    """The Step Functions workflow type the pipeline is deployed as."""

    EXPRESS = "EXPRESS"
    STANDARD = "STANDARD"


EXPRESS_EXECUTION_CAP_SECONDS = 300
"""AWS stops an Express execution after 5 minutes, catchable by nothing."""

# Lambda timeout of each function (seconds), by service name. Stage values are what a
# 100-megapixel upload needs at the construct's memory size, with room for a slow S3 read.
FUNCTION_TIMEOUT_SECONDS: Mapping[str, int] = {
    "validate": 10,
    "metadata": 6,
    "resize": 18,
    "thumbnail": 15,
    "archive": 8,
    "trigger": 30,
    "upload-url": 10,
    "sweeper": 60,
}
INVOKE_ALLOWANCE_SECONDS = 3
"""Added to a function's timeout for its task: a cold start's init runs outside the timeout."""
INTEGRATION_TIMEOUT_SECONDS = 4
"""Task timeout of the state machine's own DynamoDB, SNS and EventBridge calls."""


@dataclass(frozen=True)
class RetryBudget:
    """One retrier's policy: `max_attempts` retries, waits `interval * backoff**n` capped."""

    interval_seconds: int
    max_attempts: int
    backoff_rate: float
    max_delay_seconds: int

    def waits(self) -> list[float]:
        """The wait before each retry, in seconds."""
        return [
            min(self.interval_seconds * self.backoff_rate**n, self.max_delay_seconds)
            for n in range(self.max_attempts)
        ]


@dataclass(frozen=True)
class PipelineLimits:
    """A workflow's budget: the execution's own timeout and the retriers of its tasks."""

    execution_timeout_seconds: int
    service_retry: RetryBudget
    """Lambda service errors and `RetryableError` (throttling, 5xx, timeouts of AWS calls)."""
    task_retry: RetryBudget
    """Any other task failure (a crash, an out-of-memory, a function timeout)."""
    integration_retry: RetryBudget
    """The state machine's own DynamoDB, SNS and EventBridge calls."""


LIMITS: Mapping[Workflow, PipelineLimits] = {
    # Express: one retry of each stage error kind keeps the worst case (266 s) under the cap.
    Workflow.EXPRESS: PipelineLimits(
        execution_timeout_seconds=270,
        service_retry=RetryBudget(2, 1, 2.0, 8),
        task_retry=RetryBudget(1, 1, 2.0, 4),
        integration_retry=RetryBudget(1, 3, 2.0, 4),
    ),
    # Standard has no 5-minute cap: the design's budgets (3 service retries, 2 task retries).
    Workflow.STANDARD: PipelineLimits(
        execution_timeout_seconds=900,
        service_retry=RetryBudget(2, 3, 2.0, 8),
        task_retry=RetryBudget(1, 2, 1.5, 4),
        integration_retry=RetryBudget(1, 3, 2.0, 8),
    ),
}

SWEEP_GRACE_SECONDS = 60
"""How long past its execution's timeout a record may stay PROCESSING before it is swept."""


def task_timeout_seconds(service: str) -> int:
    """The `TimeoutSeconds` of the task that invokes a service's function."""
    return FUNCTION_TIMEOUT_SECONDS[service] + INVOKE_ALLOWANCE_SECONDS


def sweep_after_seconds(workflow: Workflow) -> int:
    """Age of a claim after which a PROCESSING record can no longer be finished by its execution."""
    return LIMITS[workflow].execution_timeout_seconds + SWEEP_GRACE_SECONDS
