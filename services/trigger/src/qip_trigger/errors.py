"""Trigger's errors: the shared retry classes, and the mapping of AWS error codes onto them.

A raised error makes the SQS message a batch item failure: it returns to the queue and, after
the queue's maxReceiveCount (3), lands in the DLQ. The SDK has already retried transient faults.
"""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from qip_shared.errors import PermanentError, RetryableError

RETRYABLE_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "SlowDown",
        "ServiceUnavailable",
        "InternalError",
        "InternalServerError",
        "RequestTimeout",
        "TransactionConflictException",
    }
)
CONDITIONAL_CHECK_FAILED = "ConditionalCheckFailedException"


def error_code(exc: ClientError) -> str:
    """The AWS error code of a client error ("" when absent)."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def is_conditional_check_failed(exc: BaseException) -> bool:
    """True for DynamoDB's refusal of a conditional write."""
    return isinstance(exc, ClientError) and error_code(exc) == CONDITIONAL_CHECK_FAILED


def classify(exc: Exception, action: str) -> RetryableError | PermanentError:
    """Map an AWS failure to the shared class Step Functions retries (or not)."""
    if isinstance(exc, ClientError):
        code = error_code(exc)
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        message = f"{action} failed: {code or 'ClientError'}"
        if code in RETRYABLE_CODES or status >= 500:
            return RetryableError(message, code=code or "RETRYABLE")
        return PermanentError(message, code=code or "PERMANENT")
    if isinstance(exc, BotoCoreError):
        # Connection and timeout errors that outlived the SDK's own retries.
        return RetryableError(f"{action} failed: {type(exc).__name__}")
    return PermanentError(f"{action} failed: {type(exc).__name__}")


class ClaimInFlightError(RetryableError):
    """Another delivery claimed this upload moments ago and may still be starting it."""

    code = "CLAIM_IN_FLIGHT"


class StartFailedError(RetryableError):
    """The execution could not be started; the claim was released for the next delivery."""

    code = "START_FAILED"
