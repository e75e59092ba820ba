"""The upload-url errors: each carries a stable code, a human message and its HTTP status."""

from __future__ import annotations

from typing import Any

from qip_shared.errors import QipError


class UploadUrlError(QipError):
    """A request the service answers with an error body instead of an upload URL."""

    code = "UPLOAD_URL_ERROR"
    status = 500

    def to_body(self) -> dict[str, Any]:
        """The JSON error body: `{"error": {"code", "message"}}`."""
        return {"error": {"code": self.code, "message": self.message}}


class BadRequestError(UploadUrlError):
    """Malformed body or parameters."""

    code = "BAD_REQUEST"
    status = 400


class UnauthorizedError(UploadUrlError):
    """No authenticated caller (the authorizer's claims are missing)."""

    code = "UNAUTHORIZED"
    status = 401


class RouteNotFoundError(UploadUrlError):
    """No such route or method."""

    code = "NOT_FOUND"
    status = 404


class TooLargeError(UploadUrlError):
    """The declared size is over the byte limit."""

    code = "TOO_LARGE"
    status = 413


class UnsupportedContentTypeError(UploadUrlError):
    """The content type is not one of the accepted image types."""

    code = "UNSUPPORTED_CONTENT_TYPE"
    status = 415


class BucketUnavailableError(UploadUrlError):
    """The upload bucket is missing, unreachable or not configured (Requirement 6.4)."""

    code = "UPLOAD_BUCKET_UNAVAILABLE"
    status = 503


class InternalError(UploadUrlError):
    """Anything unexpected: answered without internals, logged in full."""

    code = "INTERNAL_ERROR"
    status = 500
