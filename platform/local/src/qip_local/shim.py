"""Run Lambda functions in-process on moto: the Lambda invoke shim and scaled retry sleeps.

moto's Lambda normally runs code in Docker. The shim replaces `LambdaBackend.invoke`, so every
invocation (from Step Functions tasks, from `lambda.invoke`, from the SQS poller) calls a Python
handler registered under the function's name, in this process, and answers as Lambda does:
the handler's JSON result, or on an exception the `x-amz-function-error` header with
`{"errorType": <class name>, "errorMessage": ...}` (the name Step Functions' Retry/Catch match).
"""

# moto is imported only when the patches are applied (it is slow to import).
# ruff: noqa: PLC0415

from __future__ import annotations

import collections
import contextlib
import hashlib
import importlib
import json
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

# Re-exported for the tests that import these patches from here (they live in moto_patches).
from qip_local.moto_patches import (  # noqa: F401
    cached_json_paths,
    direct_dynamodb_answers,
    import_moto_without_ec2,
)
from qip_shared.boundary import Dependencies

Handler = Callable[[Any, Any], Any]
# A fault hook runs before the handler: (function name, event, attempt) -> None, or raises.
FaultHook = Callable[[str, Any, int], None]

DEFAULT_TIMEOUT_MS = 900_000
MAX_REMEMBERED = 10_000


@dataclass
class FakeLambdaContext:
    """The attributes of the Lambda context object that powertools and our handlers read."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int = 1024
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = "local"
    timeout_ms: int = DEFAULT_TIMEOUT_MS
    _started: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.log_group_name = self.log_group_name or f"/aws/lambda/{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the (local, generous) timeout."""
        return max(0, self.timeout_ms - int((time.monotonic() - self._started) * 1000))


@dataclass
class Invocation:
    """One call the shim made: for tests and the CLI's counters."""

    function_name: str
    ok: bool
    error_type: str | None
    seconds: float


class FunctionRegistry:
    """Handlers by function name, fault hooks, and a log of invocations (thread-safe)."""

    def __init__(self, concurrency: int = 4) -> None:
        self._handlers: dict[str, Handler] = {}
        self._limits: dict[str, threading.BoundedSemaphore] = {}
        self._hooks: list[FaultHook] = []
        self._attempts: collections.OrderedDict[tuple[str, str], int] = collections.OrderedDict()
        self._lock = threading.Lock()
        self.concurrency = concurrency
        # Bounded, so a long `qip serve` does not grow without end.
        self.invocations: collections.deque[Invocation] = collections.deque(maxlen=MAX_REMEMBERED)

    def register(self, function_name: str, handler: Handler) -> None:
        """Serve `function_name` with `handler(event, context)`."""
        with self._lock:
            self._handlers[function_name] = handler
            self._limits[function_name] = threading.BoundedSemaphore(self.concurrency)

    def handler_for(self, function_name: str) -> Handler | None:
        """The handler registered for a function, if any."""
        with self._lock:
            return self._handlers.get(function_name)

    def add_fault_hook(self, hook: FaultHook) -> Callable[[], None]:
        """Run `hook` before every invocation; returns a function that removes it."""
        with self._lock:
            self._hooks.append(hook)

        def remove() -> None:
            with self._lock, contextlib.suppress(ValueError):
                self._hooks.remove(hook)

        return remove

    def clear_faults(self) -> None:
        """Remove every fault hook."""
        with self._lock:
            self._hooks.clear()

    def _attempt(self, function_name: str, event: Any) -> int:
        # A stage task says which attempt it is (`execution.retryCount`, from `$$.State`).
        execution = event.get("execution") if isinstance(event, dict) else None
        retry_count = execution.get("retryCount") if isinstance(execution, dict) else None
        if isinstance(retry_count, int) and not isinstance(retry_count, bool):
            return retry_count + 1
        # Otherwise counts calls with the same payload (a redelivered message, a re-invoke).
        text = json.dumps(event, sort_keys=True, default=str).encode("utf-8", "surrogatepass")
        key = (function_name, hashlib.sha256(text).hexdigest())
        with self._lock:
            n = self._attempts.pop(key, 0) + 1
            self._attempts[key] = n
            while len(self._attempts) > MAX_REMEMBERED:
                self._attempts.popitem(last=False)
            return n

    def call(self, function_name: str, function_arn: str, event: Any) -> tuple[Any, bool]:
        """Invoke a handler as Lambda would; returns (payload, errored)."""
        handler = self.handler_for(function_name)
        started = time.perf_counter()
        limit = self._limits.get(function_name)
        try:
            if handler is None:
                raise HandlerNotFoundError(f"no local handler registered for {function_name}")
            attempt = self._attempt(function_name, event)
            with self._lock:
                hooks = list(self._hooks)
            for hook in hooks:
                hook(function_name, event, attempt)
            context = FakeLambdaContext(function_name, function_arn)
            if limit is not None:
                with limit:
                    result = handler(event, context)
            else:
                result = handler(event, context)
        except Exception as exc:
            self._log(function_name, False, type(exc).__name__, started)
            return _error_payload(exc), True
        self._log(function_name, True, None, started)
        return result, False

    def _log(self, name: str, ok: bool, error_type: str | None, started: float) -> None:
        with self._lock:
            self.invocations.append(Invocation(name, ok, error_type, time.perf_counter() - started))


class HandlerNotFoundError(Exception):
    """Lambda's `Runtime.ImportModuleError`, locally: the function has no handler."""


def _error_payload(exc: BaseException) -> dict[str, Any]:
    # The shape the Lambda runtime gives an unhandled exception.
    return {
        "errorType": type(exc).__name__,
        "errorMessage": str(exc),
        # A handler that ran in a worker process brings its own trace.
        "stackTrace": getattr(exc, "stack_trace", None) or traceback.format_exception(exc)[-3:],
    }


def load_handler(service: str) -> Handler:
    """Import a service's handler (`qip_<service>.handler.handler`) and reset its dependencies.

    Every handler module exposes the same boundary (`qip_shared.boundary`): `handler` and
    `dependencies`. The local runtime sets the environment first, so the reset makes the
    function build its clients from it on first use.
    """
    module = importlib.import_module(f"qip_{service.replace('-', '_')}.handler")
    dependencies: Dependencies[Any] = module.dependencies
    dependencies.cache_clear()
    handler: Handler = module.handler
    return handler


def lazy_handler(service: str) -> Handler:
    """A handler that imports the service on first call (an import error fails that call)."""
    loaded: list[Handler] = []
    lock = threading.Lock()

    def call(event: Any, context: Any) -> Any:
        with lock:
            if not loaded:
                loaded.append(load_handler(service))
        return loaded[0](event, context)

    return call


# The registry the patched backend consults: one embedded AWS per process.
REGISTRY = FunctionRegistry()
_patch_lock = threading.Lock()
# Nesting depth of `lambda_shim()` and moto's own invoke, restored when the last one exits.
_patch_state: dict[str, Any] = {"depth": 0, "original": None}


def _patched_invoke(  # noqa: PLR0917 - moto's signature
    self: Any,
    function_name: str,
    qualifier: str | None,
    body: Any,
    headers: Any,
    response_headers: Any,
) -> str | bytes | None:
    fn = self.get_function(function_name, qualifier)
    if isinstance(body, bytes):
        body = body.decode("utf-8")
    event = json.loads(body) if body else {}
    if (headers or {}).get("X-Amz-Invocation-Type") == "Event":
        # Asynchronous invoke: Lambda answers 202 at once and runs the function later.
        threading.Thread(
            target=REGISTRY.call, args=(fn.function_name, fn.function_arn, event), daemon=True
        ).start()
        return ""
    result, errored = REGISTRY.call(fn.function_name, fn.function_arn, event)
    if errored:
        response_headers["x-amz-function-error"] = "Unhandled"
    payload = json.dumps(result, default=str)
    response_headers["Content-Length"] = str(len(payload.encode("utf-8")))
    return payload


@contextlib.contextmanager
def lambda_shim() -> Iterator[FunctionRegistry]:
    """Patch moto's Lambda backend to call registered Python handlers (re-entrant)."""
    from moto.awslambda.models import LambdaBackend

    with _patch_lock:
        if _patch_state["depth"] == 0:
            _patch_state["original"] = LambdaBackend.invoke
            LambdaBackend.invoke = _patched_invoke  # type: ignore[method-assign]
        _patch_state["depth"] += 1
    try:
        yield REGISTRY
    finally:
        with _patch_lock:
            _patch_state["depth"] -= 1
            if _patch_state["depth"] == 0:
                LambdaBackend.invoke = _patch_state["original"]  # type: ignore[method-assign]


class ScaledTime:
    """Stands in for the `time` module of moto's retrier: sleeps `scale` x the ASL interval."""

    def __init__(self, scale: float) -> None:
        self.scale = scale
        self.requested: list[float] = []
        self._lock = threading.Lock()

    def sleep(self, seconds: float) -> None:
        """Record the interval the state machine asked for, and sleep a scaled part of it."""
        with self._lock:
            self.requested.append(seconds)
        time.sleep(max(0.0, seconds * self.scale))

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


@contextlib.contextmanager
def scaled_retry_sleeps(scale: float) -> Iterator[ScaledTime]:
    """Make Step Functions retry waits `scale` times their designed length (1.0 = real)."""
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

    module: Any = retrier_decl
    original = module.time
    scaled = ScaledTime(scale)
    module.time = scaled
    try:
        yield scaled
    finally:
        module.time = original
