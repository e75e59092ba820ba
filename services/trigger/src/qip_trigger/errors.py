"""Trigger's errors; AWS failures map to the shared classes in `qip_shared.aws`.

A raised error makes the SQS message a batch item failure: it returns to the queue and, after
the queue's maxReceiveCount (3), lands in the DLQ. The SDK has already retried transient faults.
"""

from __future__ import annotations

from qip_shared.errors import PermanentError, RetryableError

__all__ = [
    "ClaimInFlightError",
    "MalformedMessageError",
    "StartFailedError",
]


class MalformedMessageError(PermanentError):
    """The SQS message is not an S3 Object Created event: it can only end in the DLQ."""

    code = "MALFORMED_EVENT"


class ClaimInFlightError(RetryableError):
    """Another delivery claimed this upload moments ago and may still be starting it."""

    code = "CLAIM_IN_FLIGHT"


class StartFailedError(RetryableError):
    """The execution could not be started; the claim was given back for the next delivery."""

    code = "START_FAILED"
