"""moto made safe and quick for the pipeline: the patches the local runtime applies.

DynamoDB requests one at a time (moto's is not thread-safe), Step Functions' clients and
JSONPath parses cached, its DynamoDB tasks answered directly, and moto imported without EC2's
models. Each patch is a context manager (or, for the import, a one-time call). Parsed
definitions are cached by `qip_local.asl_cache`; start-up and shutdown by `qip_local.lifecycle`.
"""

# moto is imported only when the patches are applied (it is slow to import).
# ruff: noqa: PLC0415

from __future__ import annotations

import base64
import contextlib
import functools
import importlib
import json
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any


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
        from moto.ec2 import ec2_backends  # type: ignore[attr-defined]

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

    if "moto.ec2" in sys.modules:
        return
    if "moto.ssm.models" not in sys.modules:
        with _stand_in_module("moto.ec2", ec2_backends=_DeferredEc2Backends()):
            importlib.import_module("moto.ssm")
    if "moto.batch" not in sys.modules and BATCH_TASK not in sys.modules:
        with _stand_in_module("moto.batch"):
            importlib.import_module(BATCH_TASK)


@contextlib.contextmanager
def balanced_task_timeouts() -> Iterator[None]:
    """Keep moto's evaluation stack balanced when a task's TimeoutSeconds is pruned.

    moto's Lambda task evaluates `TimeoutSeconds` and pops the value, but a component evaluated
    after its branch stopped (a Parallel whose other branch failed) pushes nothing, so the pop
    takes the task's payload and the history then holds a dict as `timeoutInSeconds` (an error
    when read). A static timeout pushes its number either way.
    """
    from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import TimeoutSeconds

    original = TimeoutSeconds.eval

    def push_always(self: Any, env: Any) -> None:
        env.stack.append(self.timeout_seconds)

    TimeoutSeconds.eval = push_always  # type: ignore[method-assign]
    try:
        yield
    finally:
        TimeoutSeconds.eval = original  # type: ignore[method-assign]


@contextlib.contextmanager
def quick_sqs_clock() -> Iterator[None]:
    """Let moto's SQS read the clock with `time.time()` instead of two datetimes per reading.

    Every sent message makes moto compute the queue's attributes, which checks every message's
    visibility and delay, each reading the clock through `utcnow()` and `utcfromtimestamp(0)`:
    the largest single cost of the emulation once queues hold a few hundred messages. The
    same instant as a float; readings of a given datetime still go through moto's own code.
    """
    from moto.sqs import models

    module: Any = models
    originals = {"unix_time": module.unix_time, "unix_time_millis": module.unix_time_millis}

    def unix_time(dt: Any = None) -> float:
        if dt is not None:
            return float(originals["unix_time"](dt))
        return time.time()

    def unix_time_millis(dt: Any = None) -> float:
        if dt is not None:
            return float(originals["unix_time_millis"](dt))
        return time.time() * 1000.0

    module.unix_time, module.unix_time_millis = unix_time, unix_time_millis
    try:
        yield
    finally:
        module.unix_time = originals["unix_time"]
        module.unix_time_millis = originals["unix_time_millis"]


@contextlib.contextmanager
def cached_action_names() -> Iterator[None]:
    """Let moto list a response class's methods once instead of on every request.

    Before dispatching, moto checks the action against `inspect.getmembers` of the response
    class, which walks every attribute of the class each time. The names a class defines do
    not change while the system runs (the patches here replace methods, never add them).
    """
    from moto.core import responses

    module: Any = responses
    original = module.method_names_from_class
    module.method_names_from_class = functools.lru_cache(maxsize=256)(original)
    try:
        yield
    finally:
        module.method_names_from_class = original


class _CopyWithoutOldItems:
    """moto's `copy` module for its DynamoDB modules: no deep copy of the old item when unused."""

    def __init__(self, real: Any, lean: threading.local) -> None:
        self._real = real
        self._lean = lean

    def deepcopy(self, value: Any, memo: Any = None) -> Any:
        """None while a lean update runs (its old item is never read), else a real deep copy."""
        if getattr(self._lean, "active", False):
            return None
        return self._real.deepcopy(value, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


LEAN_RETURN_VALUES = frozenset({"NONE", "ALL_NEW"})


@contextlib.contextmanager
def lean_dynamodb_updates() -> Iterator[None]:
    """Let moto's UpdateItem skip copying the old item when nothing reads the copy.

    moto deep-copies the item twice per update: once to answer UPDATED_OLD/UPDATED_NEW/ALL_OLD
    and once for the table's stream. With ReturnValues NONE or ALL_NEW on a table without a
    stream, neither copy is read; these updates get none (the answer is the same).
    """
    import copy

    from moto.dynamodb import models, responses
    from moto.dynamodb.responses import DynamoHandler

    lean = threading.local()
    stand_in = _CopyWithoutOldItems(copy, lean)
    modules: list[Any] = [models, responses]
    original = DynamoHandler.update_item

    def update_item(self: Any) -> Any:
        try:
            table = self.dynamodb_backend.get_table(self.body["TableName"])
            quick = (
                self.body.get("ReturnValues", "NONE") in LEAN_RETURN_VALUES
                and table.stream_shard is None
            )
        except Exception:  # the original answers the error
            quick = False
        lean.active = quick
        try:
            return original(self)
        finally:
            lean.active = False

    for module in modules:
        module.copy = stand_in
    DynamoHandler.update_item = update_item  # type: ignore[method-assign]
    try:
        yield
    finally:
        DynamoHandler.update_item = original  # type: ignore[method-assign]
        for module in modules:
            module.copy = copy
