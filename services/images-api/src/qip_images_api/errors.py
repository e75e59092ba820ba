"""The images-api errors: each carries a stable code, a human message and its HTTP status."""

from __future__ import annotations

from typing import Any

from qip_shared.errors import QipError


class ImagesApiError(QipError):
    """A request the service answers with an error body instead of images."""

    code = "IMAGES_API_ERROR"
    status = 500

    def to_body(self) -> dict[str, Any]:
        """The JSON error body: `{"error": {"code", "message"}}`."""
        return {"error": {"code": self.code, "message": self.message}}


class BadRequestError(ImagesApiError):
    """Malformed query parameters or continuation token."""

    code = "BAD_REQUEST"
    status = 400


class UnauthorizedError(ImagesApiError):
    """No authenticated caller (the authorizer's claims are missing)."""

    code = "UNAUTHORIZED"
    status = 401


class ImageNotFoundError(ImagesApiError):
    """No such image for this caller (another user's image is answered the same way)."""

    code = "NOT_FOUND"
    status = 404


class RouteNotFoundError(ImagesApiError):
    """No such route or method."""

    code = "NOT_FOUND"
    status = 404


class InternalError(ImagesApiError):
    """Anything unexpected: answered without internals, logged in full."""

    code = "INTERNAL_ERROR"
    status = 500
