"""The Lambda boundary all seven functions share: injectable dependencies and a local context.

Every handler module logs through `function_logger` (its version on every line) and exposes
`dependencies` (a `Dependencies` of its adapters) and
`set_dependencies`: tests and the local runtime inject adapters or reset them the same way for
every function, and a handler called with no Lambda context (the local runtime) gets a stand-in.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from aws_lambda_powertools import Logger

from qip_shared import config

T = TypeVar("T")


def function_logger(service: str) -> Logger:
    """The function's logger: every line carries its package version (`serviceVersion`)."""
    version = os.environ.get(config.ENV_SERVICE_VERSION, "0.0.0")
    return Logger(service=service, serviceVersion=version)


class Dependencies(Generic[T]):
    """The adapters of this process: injected ones, else built lazily once (moto must be up)."""

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._injected: T | None = None
        self._built: T | None = None

    def __call__(self) -> T:
        """The injected adapters, or the ones built from the environment (once)."""
        if self._injected is not None:
            return self._injected
        if self._built is None:
            self._built = self._build()
        return self._built

    def inject(self, adapters: T | None) -> None:
        """Use `adapters` from now on; None goes back to building from the environment."""
        self._injected = adapters
        self._built = None

    def cache_clear(self) -> None:
        """Forget injected and built adapters: the next call builds from the environment."""
        self.inject(None)


@dataclass(frozen=True)
class LocalContext:
    """Stands in for the Lambda context when the caller passes none (or a partial one)."""

    function_name: str = "qip-local"
    memory_limit_in_mb: int = 0
    invoked_function_arn: str = "local:qip-local"
    aws_request_id: str = "local"

    @classmethod
    def around(cls, context: Any, service: str) -> Any:
        """`context` if it has what the logger reads, else a local stand-in borrowing its fields."""
        fields = ("function_name", "memory_limit_in_mb", "invoked_function_arn", "aws_request_id")
        if context is not None and all(hasattr(context, f) for f in fields):
            return context
        defaults: dict[str, Any] = {
            "function_name": service,
            "invoked_function_arn": f"local:{service}",
        }
        borrowed = {f: getattr(context, f) for f in fields if hasattr(context, f)}
        return cls(**{**defaults, **borrowed})
