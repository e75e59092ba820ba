"""The images-api errors beyond the shared API ones (`qip_shared.errors`): code, message, status."""

from __future__ import annotations

from qip_shared.errors import ApiError


class ImageNotFoundError(ApiError):
    """No such image for this caller (another user's image is answered the same way)."""

    code = "NOT_FOUND"
    status = 404
