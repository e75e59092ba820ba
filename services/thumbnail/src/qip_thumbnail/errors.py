"""Thumbnail's errors and the mapping of AWS client errors to retryable / permanent.

The state machine matches on the class name: `RetryableError` and `PermanentError` are raised
as they are; the subclasses below are permanent and end in HandleError (`States.ALL`).
"""

from __future__ import annotations

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    ConnectTimeoutError,
    ReadTimeoutError,
)

from qip_shared.errors import PermanentError, QipError, RetryableError

# Error codes that go away by trying again (architecture.md, "Errors").
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
        "InternalFailure",
        "RequestTimeout",
        "TooManyRequestsException",
        "TransactionConflictException",
    }
)


class UndecodableImageError(PermanentError):
    """The upload cannot be decoded although validate accepted it: a bug, never retried."""

    code = "UNDECODABLE_IMAGE"


class RecordNotFoundError(PermanentError):
    """The image has no record: the trigger creates one before any execution starts."""

    code = "RECORD_NOT_FOUND"


def is_retryable(err: ClientError) -> bool:
    """Whether a botocore `ClientError` is transient (throttling, 5xx, timeouts)."""
    code = str(err.response.get("Error", {}).get("Code", ""))
    status = int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return code in RETRYABLE_CODES or status >= 500


def error_code(err: ClientError) -> str:
    """The AWS error code of a `ClientError` (empty when absent)."""
    return str(err.response.get("Error", {}).get("Code", ""))


def from_aws_error(err: Exception, action: str) -> QipError:
    """The QIP error to raise for a failed AWS call (`action` says what was attempted)."""
    if isinstance(err, ClientError):
        code = error_code(err) or "ClientError"
        message = f"{action} failed: {code}: {err}"
        if is_retryable(err):
            return RetryableError(message, code=code)
        return PermanentError(message, code=code)
    if isinstance(err, ConnectionError | ConnectTimeoutError | ReadTimeoutError):
        return RetryableError(f"{action} failed: {err}", code="CONNECTION")
    if isinstance(err, BotoCoreError):
        return PermanentError(f"{action} failed: {err}", code=type(err).__name__)
    return PermanentError(f"{action} failed: {err}", code=type(err).__name__)
