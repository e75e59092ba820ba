"""Archive's errors; AWS failures map to the shared classes in `qip_shared.aws`.

The subclasses below are permanent; the stage boundary raises them as plain `PermanentError`,
the only name the state machine matches besides `RetryableError` and `InvalidImageError`.
"""

from __future__ import annotations

from qip_shared.errors import PermanentError

__all__ = [
    "MisconfiguredError",
    "RecordNotArchivableError",
]


class MisconfiguredError(PermanentError):
    """A setting archive needs is missing (e.g. QIP_ARCHIVE_BUCKET)."""

    code = "MISCONFIGURED"


class RecordNotArchivableError(PermanentError):
    """The record is absent or finished otherwise (FAILED, REJECTED): nothing to archive."""

    code = "RECORD_NOT_ARCHIVABLE"
