"""How AWS failures map onto the shared error contract (retry vs. fail) for the metadata stage.

Only the shared classes escape the handler: Step Functions matches on the class *name*, so a
renamed subclass would lose its parent's retry meaning.
"""

from __future__ import annotations

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from qip_shared.errors import PermanentError, QipError, RetryableError

CONDITIONAL_CHECK_FAILED = "ConditionalCheckFailedException"

# Error codes that go away by waiting: throttling, capacity and server-side faults.
RETRYABLE_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "TransactionConflictException",
        "SlowDown",
        "ServiceUnavailable",
        "InternalError",
        "InternalServerError",
        "InternalFailure",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)

_TRANSIENT_TRANSPORT = (
    EndpointConnectionError,
    ConnectTimeoutError,
    ReadTimeoutError,
    ConnectionClosedError,
)


class StaleWriteError(Exception):
    """A conditional record write was refused: the record moved on. Handled, never raised out."""

    def __init__(self, action: str) -> None:
        super().__init__(f"{action}: the record is not in a state that allows this write")
        self.action = action


def error_code(error: ClientError) -> str:
    """The AWS error code of a ClientError ("" when absent)."""
    return str(error.response.get("Error", {}).get("Code", ""))


def is_retryable(error: ClientError) -> bool:
    """Whether a ClientError is transient (throttling, capacity, 5xx)."""
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return error_code(error) in RETRYABLE_CODES or (isinstance(status, int) and status >= 500)


def map_aws_error(error: Exception, action: str) -> QipError:
    """The shared error (RetryableError or PermanentError) for a botocore failure of `action`."""
    if isinstance(error, ClientError):
        message = f"{action} failed: {error_code(error)}: {error}"
        return RetryableError(message) if is_retryable(error) else PermanentError(message)
    if isinstance(error, _TRANSIENT_TRANSPORT):
        return RetryableError(f"{action} failed: {type(error).__name__}: {error}")
    if isinstance(error, BotoCoreError):
        return PermanentError(f"{action} failed: {type(error).__name__}: {error}")
    return PermanentError(f"{action} failed: {type(error).__name__}: {error}")
