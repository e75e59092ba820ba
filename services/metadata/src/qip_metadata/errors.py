"""How AWS failures map onto the shared error contract (retry vs. fail) for the metadata stage.

The mapping is `qip_shared.aws`'s, the same for every stage; the names stay importable here.
"""

from __future__ import annotations

from qip_shared.aws import (
    CONDITIONAL_CHECK_FAILED,
    RETRYABLE_CODES,
    StaleWriteError,
    error_code,
    is_retryable,
)
from qip_shared.aws import from_aws_error as map_aws_error

__all__ = [
    "CONDITIONAL_CHECK_FAILED",
    "RETRYABLE_CODES",
    "StaleWriteError",
    "error_code",
    "is_retryable",
    "map_aws_error",
]
