"""Thumbnail's errors; AWS failures map to the shared classes in `qip_shared.aws`.

The subclasses below are permanent; the handler raises them as plain `PermanentError`, the
only name the state machine matches besides `RetryableError` and `InvalidImageError`.
"""

from __future__ import annotations

from qip_shared.errors import PermanentError

__all__ = [
    "RecordNotFoundError",
    "UndecodableImageError",
]


class UndecodableImageError(PermanentError):
    """The upload cannot be decoded although validate accepted it: a bug, never retried."""

    code = "UNDECODABLE_IMAGE"


class RecordNotFoundError(PermanentError):
    """The image has no record: the trigger creates one before any execution starts."""

    code = "RECORD_NOT_FOUND"
