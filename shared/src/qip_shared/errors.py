"""Error contract: names the state machine matches on, the base classes stages raise, and the
API functions' errors (each with its HTTP status)."""

from __future__ import annotations

from typing import Any

from qip_shared.enums import RejectionReason

# The Lambda runtime reports the exception class name as `errorType`; the state machine's
# Retry/Catch match on it, so these names are part of the contract.
INVALID_IMAGE_ERROR = "InvalidImageError"
RETRYABLE_ERROR = "RetryableError"
PERMANENT_ERROR = "PermanentError"


class QipError(Exception):
    """Base of every QIP error: a stable machine code plus a human message."""

    code: str = "QIP_ERROR"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class RetryableError(QipError):
    """A transient failure (throttling, 5xx, timeout): Step Functions retries it."""

    code = "RETRYABLE"


class PermanentError(QipError):
    """A failure that will not go away by retrying: the image ends FAILED."""

    code = "PERMANENT"


class InvalidImageError(PermanentError):
    """The upload is not an acceptable image: never retried, the image ends REJECTED."""

    def __init__(self, reason: RejectionReason, message: str) -> None:
        super().__init__(message, code=reason.value)
        self.reason = reason


assert InvalidImageError.__name__ == INVALID_IMAGE_ERROR
assert RetryableError.__name__ == RETRYABLE_ERROR
assert PermanentError.__name__ == PERMANENT_ERROR


class ApiError(QipError):
    """A request an API function answers with an error body and this HTTP status."""

    code = "API_ERROR"
    status = 500

    def to_body(self) -> dict[str, Any]:
        """The JSON error body: `{"error": {"code", "message"}}`."""
        return {"error": {"code": self.code, "message": self.message}}


class BadRequestError(ApiError):
    """Malformed body, parameters or continuation token."""

    code = "BAD_REQUEST"
    status = 400


class UnauthorizedError(ApiError):
    """No authenticated caller (the authorizer's claims are missing)."""

    code = "UNAUTHORIZED"
    status = 401


class RouteNotFoundError(ApiError):
    """No such route or method."""

    code = "NOT_FOUND"
    status = 404


class InternalError(ApiError):
    """Anything unexpected: answered without internals, logged in full."""

    code = "INTERNAL_ERROR"
    status = 500
