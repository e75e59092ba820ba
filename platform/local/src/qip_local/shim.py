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

import base64
import collections
import contextlib
import functools
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
        "stackTrace": traceback.format_exception(exc)[-3:],
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


@contextlib.contextmanager
def serialized_dynamodb() -> Iterator[None]:
    """Run moto's DynamoDB requests one at a time.

    moto's DynamoDB is not thread-safe: two `update_item`s on one item (the parallel resize
    and thumbnail branches do exactly that) can interleave their SET clauses and crash while
    serialising the answer (`dictionary changed size during iteration`). DynamoDB itself is
    atomic per item; a lock gives moto the same behaviour. Its requests never call out, so
    the lock is only ever held briefly.
    """
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.call_action
    lock = threading.RLock()

    def call_action(self: Any) -> Any:
        with lock:
            return original(self)

    DynamoHandler.call_action = call_action  # type: ignore[method-assign]
    try:
        yield
    finally:
        DynamoHandler.call_action = original  # type: ignore[method-assign]


@contextlib.contextmanager
def cached_state_machine_clients() -> Iterator[None]:
    """Let moto's Step Functions interpreter reuse its boto3 clients across tasks.

    It builds a new client for every Lambda/SNS/DynamoDB task (~30 ms each on 2 cores); the
    clients are thread-safe and their settings never vary, so one per service is enough.
    """
    import sys

    from moto.core.models import botocore_stubber
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import (  # noqa: F401
        lambda_eval_utils,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (  # noqa: F401
        state_task_service_dynamodb,
        state_task_service_sns,
    )
    from moto.stepfunctions.parser.asl.utils import boto_client

    original = boto_client.boto_client_for
    cache: dict[tuple[str, str, bool], Any] = {}
    lock = threading.Lock()

    def cached(region: str, service: str, state_credentials: Any = None) -> Any:
        key = (region, service, botocore_stubber.enabled)
        with lock:
            if key not in cache:
                cache[key] = original(region, service, state_credentials)
            return cache[key]

    patched = [
        module
        for name, module in list(sys.modules.items())
        if name.startswith("moto.stepfunctions.parser")
        and getattr(module, "boto_client_for", None) is original
    ]
    # The modules our definition uses are imported above, so they are among the patched ones.
    for module in patched:
        module.boto_client_for = cached  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for module in patched:
            module.boto_client_for = original  # type: ignore[attr-defined]


# Item operations whose results moto already holds in the wire shape (attribute values).
DIRECT_DYNAMODB_OPERATIONS = frozenset(
    {"GetItem", "PutItem", "UpdateItem", "BatchGetItem", "Query", "Scan"}
)


def _blob_text(value: object) -> str:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")  # how the JSON protocol sends blobs
    raise TypeError(f"{type(value).__name__} is not JSON")


@contextlib.contextmanager
def direct_dynamodb_answers() -> Iterator[None]:
    """Answer DynamoDB item operations with `json.dumps` of moto's result.

    moto's generic response serializer walks the output shape value by value (~60% of a
    `BatchGetItem`'s CPU); for item operations moto's result is already the wire shape, so
    the body is the same JSON. The status and headers still come from moto's serializer.
    """
    from moto.core.responses import ActionResult

    original = ActionResult.execute_result

    def execute_result(self: Any, context: Any) -> Any:
        result = self.result
        if (
            context.service_model.service_name != "dynamodb"
            or context.operation_model.name not in DIRECT_DYNAMODB_OPERATIONS
            or not isinstance(result, dict)
        ):
            return original(self, context)
        try:
            body = json.dumps(result, default=_blob_text)
        except (TypeError, ValueError):
            return original(self, context)
        status, headers, _ = original(ActionResult({}), context)
        return status, headers, body

    ActionResult.execute_result = execute_result  # type: ignore[method-assign]
    try:
        yield
    finally:
        ActionResult.execute_result = original  # type: ignore[method-assign]


@contextlib.contextmanager
def cached_json_paths() -> Iterator[None]:
    """Let moto parse each JSONPath once instead of on every event and state.

    moto's EventBridge (per put event and target) and Step Functions (per execution and state)
    call `jsonpath_ng`'s `parse`, which rebuilds its LR parser tables every time: ~15% of the
    emulation's CPU. A parsed path is immutable and `find` is pure, so one per text is enough.
    """
    import sys

    import jsonpath_ng
    import jsonpath_ng.ext.parser
    import jsonpath_ng.parser
    from moto.stepfunctions.parser.asl.component.common.path import result_path  # noqa: F401
    from moto.stepfunctions.parser.asl.utils import json_path  # noqa: F401

    originals: list[Any] = [jsonpath_ng.parser.parse, jsonpath_ng.ext.parser.parse]
    replacements: dict[Any, Any] = {
        original: functools.lru_cache(maxsize=4096)(original) for original in originals
    }
    patched: list[tuple[Any, Any]] = [
        (module, module.parse)
        for name, module in list(sys.modules.items())
        if (name.startswith(("moto.", "jsonpath_ng")) or name == "jsonpath_ng")
        and getattr(module, "parse", None) in originals
    ]
    for module, original in patched:
        module.parse = replacements[original]
    try:
        yield
    finally:
        for module, original in patched:
            module.parse = original


BATCH_TASK = (
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_batch"
)


class _DeferredEc2Backends:
    """moto's `ec2_backends`, imported when first used."""

    def _backends(self) -> Any:
        from moto.ec2 import ec2_backends

        return ec2_backends

    def __getitem__(self, key: str) -> Any:
        return self._backends()[key]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backends(), name)


@contextlib.contextmanager
def _stand_in_module(name: str, **attributes: Any) -> Iterator[None]:
    """While the block runs, `name` is a module without its `__init__` (the real one loads later).

    Submodules imported meanwhile are forgotten too, so the real package loads its own.
    """
    import importlib.util
    import sys
    import types

    spec = importlib.util.find_spec(name)
    stand_in = types.ModuleType(name)
    if spec is not None and spec.submodule_search_locations is not None:
        stand_in.__path__ = list(spec.submodule_search_locations)
    for attribute, value in attributes.items():
        setattr(stand_in, attribute, value)
    before = set(sys.modules)
    sys.modules[name] = stand_in
    try:
        yield
    finally:
        if sys.modules.get(name) is stand_in:
            del sys.modules[name]
        for module in set(sys.modules) - before:
            if module.startswith(name + "."):
                del sys.modules[module]


def import_moto_without_ec2() -> None:
    """Import moto's SSM and Step Functions tasks without EC2's models (~0.9 s of CPU at start).

    Both import EC2 only for operations this system never calls: SSM's `ec2_backends` serves
    send_command with targets, Step Functions' Batch task imports the `moto.batch` package
    (whose models import EC2) for one string enum in `moto.batch.utils`. Here SSM gets a
    deferred `ec2_backends` and the Batch task its own copy of `moto.batch.utils`; the real
    `moto.ec2` and `moto.batch` still load, unchanged, the first time anything uses them.
    """
    import sys

    if "moto.ec2" in sys.modules:
        return
    if "moto.ssm.models" not in sys.modules:
        with _stand_in_module("moto.ec2", ec2_backends=_DeferredEc2Backends()):
            importlib.import_module("moto.ssm")
    if "moto.batch" not in sys.modules and BATCH_TASK not in sys.modules:
        with _stand_in_module("moto.batch"):
            importlib.import_module(BATCH_TASK)


def _fix_heap_keys(root: Any) -> None:
    """Give every component of a parsed program its heap key now (moto draws it lazily)."""
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent

    seen: set[int] = set()
    pending: list[Any] = [root]
    while pending:
        value = pending.pop()
        if id(value) in seen:
            continue
        seen.add(id(value))
        if isinstance(value, dict):
            pending.extend(value.values())
        elif isinstance(value, list | tuple | set | frozenset):
            pending.extend(value)
        elif hasattr(value, "__dict__") and type(value).__module__.startswith("moto."):
            if isinstance(value, EvalComponent):
                _ = value.heap_key
            pending.extend(vars(value).values())


@contextlib.contextmanager
def cached_state_machine_programs() -> Iterator[None]:
    """Let moto's Step Functions parse each definition once instead of on every execution.

    The parsed program is a tree of declarations: evaluating it keeps every per-execution
    value in the execution's `Environment` (its frames, heap, variables and history), and no
    component assigns to itself while evaluating except `heap_key`, a random name it draws on
    first use to index that heap (retry counters). Drawn lazily, two executions starting at
    once could draw two names; each cached program therefore draws all of them up front.
    """
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    original = ExecutionWorker._get_evaluation_entrypoint
    programs: dict[str, Any] = {}
    lock = threading.Lock()

    def cached(worker: Any) -> Any:
        definition = worker._evaluation_details.state_machine_details.definition
        with lock:
            if definition not in programs:
                program = AmazonStateLanguageParser.parse(definition)[0]
                _fix_heap_keys(program)
                programs[definition] = program
            return programs[definition]

    ExecutionWorker._get_evaluation_entrypoint = cached  # type: ignore[method-assign]
    try:
        yield
    finally:
        ExecutionWorker._get_evaluation_entrypoint = original  # type: ignore[method-assign]
