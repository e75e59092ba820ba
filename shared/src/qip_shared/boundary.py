"""The Lambda boundary all seven functions share: injectable dependencies and a local context.

Every handler module logs through `function_logger` (its version on every line), traces through
`function_tracer` (powertools' Tracer only when tracing is on: the X-Ray SDK is never imported
otherwise) and exposes
`dependencies` (a `Dependencies` of its adapters) and
`set_dependencies`: tests and the local runtime inject adapters or reset them the same way for
every function, and a handler called with no Lambda context (the local runtime) gets a stand-in.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from aws_lambda_powertools import Logger, Tracer

from qip_shared import config

T = TypeVar("T")


def function_logger(service: str) -> Logger:
    """The function's logger: every line carries its package version (`serviceVersion`)."""
    version = os.environ.get(config.ENV_SERVICE_VERSION, "0.0.0")
    return Logger(service=service, serviceVersion=version)


# Powertools' own switches: tracing runs in Lambda unless disabled, never in a local emulator.
ENV_TRACE_DISABLED = "POWERTOOLS_TRACE_DISABLED"
LOCAL_EMULATOR_ENVS = ("AWS_SAM_LOCAL", "AWS_CHALICE_CLI_MODE")
TRUTHY = frozenset({"1", "y", "yes", "t", "true", "on"})
# The functions reach AWS through botocore and make no other outbound call: patching every library
# X-Ray knows (the default) costs about three times as much at import for nothing more recorded.
TRACED_MODULES = ("botocore",)


def tracing_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """Whether powertools' Tracer would trace here (in Lambda, not disabled, not emulated)."""
    env = os.environ if environ is None else environ
    if env.get(ENV_TRACE_DISABLED, "false").strip().lower() in TRUTHY:
        return False
    return bool(env.get("LAMBDA_TASK_ROOT")) and not any(env.get(k) for k in LOCAL_EMULATOR_ENVS)


class UntracedTracer:
    """Stands in for powertools' Tracer when tracing is off: decorators return what they wrap."""

    disabled = True

    def __init__(self, service: str) -> None:
        self.service = service

    def capture_lambda_handler(
        self,
        lambda_handler: Callable[..., Any] | None = None,
        capture_response: bool | None = None,
        capture_error: bool | None = None,
    ) -> Callable[..., Any]:
        """The handler unchanged (or, called with options only, a decorator that keeps it)."""
        if lambda_handler is None:
            return _unchanged
        return lambda_handler


def _unchanged(function: Callable[..., Any]) -> Callable[..., Any]:
    return function


def function_tracer(service: str) -> Tracer | UntracedTracer:
    """The function's tracer: powertools' Tracer (X-Ray SDK loaded) only when tracing is on."""
    if tracing_enabled():
        return Tracer(service=service, patch_modules=TRACED_MODULES)
    return UntracedTracer(service)


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
