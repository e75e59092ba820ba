"""Sweeper's errors; AWS failures map to the shared classes in `qip_shared.aws`.

A record whose sweep fails is left PROCESSING for the next scheduled run: nothing is retried here.
"""

from __future__ import annotations

from qip_shared.aws import RETRYABLE_CODES, error_code, from_aws_error, is_retryable

__all__ = ["RETRYABLE_CODES", "error_code", "from_aws_error", "is_retryable"]
