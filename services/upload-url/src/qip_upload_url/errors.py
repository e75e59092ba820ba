"""The upload-url errors beyond the shared API ones (`qip_shared.errors`): code, message, status."""

from __future__ import annotations

from qip_shared.errors import ApiError


class TooLargeError(ApiError):
    """The declared size is over the byte limit."""

    code = "TOO_LARGE"
    status = 413


class UnsupportedContentTypeError(ApiError):
    """The content type is not one of the accepted image types."""

    code = "UNSUPPORTED_CONTENT_TYPE"
    status = 415


class BucketUnavailableError(ApiError):
    """The upload bucket is missing, unreachable or not configured (Requirement 6.4)."""

    code = "UPLOAD_BUCKET_UNAVAILABLE"
    status = 503
