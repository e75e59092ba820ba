"""moto made safe and quick for the pipeline: the patches the local runtime applies.

DynamoDB requests one at a time (moto's is not thread-safe), Step Functions' clients, programs
and JSONPath parses cached, its DynamoDB tasks answered directly, and moto imported without
EC2's models. Each patch is a context manager (or, for the import, a one-time call).
"""

# moto is imported only when the patches are applied (it is slow to import).
# ruff: noqa: PLC0415

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import importlib
import json
import os
import pickle
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
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


# Bumped when what a cached program holds changes (its pickles then no longer match).
PROGRAM_FORMAT = 1
# Parsed definitions kept on disk (the newest; each test's names make another definition).
PROGRAMS_KEPT = 64


def program_cache_directory() -> Path:
    """Where parsed definitions are kept between runs: the user's cache, per moto and Python."""
    import moto

    cache = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    version = f"moto-{moto.__version__}-py{sys.version_info[0]}.{sys.version_info[1]}"
    return Path(cache) / "qip" / "asl" / f"{version}-{PROGRAM_FORMAT}"


class ParsedPrograms:
    """moto's parsed Step Functions programs by the definition's SHA-256, in memory and on disk.

    Parsing (moto's ANTLR grammar) costs ~0.45 s of CPU per definition; a program is a tree of
    declarations that evaluation never changes (see `cached_state_machine_programs`), so one
    parse serves every create and execution, and its pickle (~30 kB) serves the next run. Only
    a definition that parsed is ever stored, so a definition found here is a valid one.
    """

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory
        self.parsed = 0  # definitions this instance had to parse (neither in memory nor on disk)
        self._programs: dict[str, Any] = {}
        self._lock = threading.Lock()

    def program(self, definition: str) -> Any:
        """The parsed program of `definition`; a definition that does not parse raises."""
        digest = hashlib.sha256(definition.encode("utf-8")).hexdigest()
        # One parse per definition, even when executions start at once.
        with self._lock:
            program = self._programs.get(digest)
            if program is None:
                program = self._load(digest)
            if program is None:
                program = self._parse(definition)
                self._store(digest, program)
            self._programs[digest] = program
            return program

    def _parse(self, definition: str) -> Any:
        from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

        program = AmazonStateLanguageParser.parse(definition)[0]
        _fix_heap_keys(program)
        self.parsed += 1
        return program

    def _path(self, digest: str) -> Path | None:
        return self.directory / f"{digest}.pickle" if self.directory is not None else None

    def _load(self, digest: str) -> Any:
        path = self._path(digest)
        if path is None:
            return None
        try:
            return pickle.loads(path.read_bytes())  # noqa: S301 - our own cache, written below
        except FileNotFoundError:
            return None
        except Exception:  # a torn or stale file: parse again and overwrite it
            return None

    def _store(self, digest: str, program: Any) -> None:
        path = self._path(digest)
        if path is None:
            return
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            data = pickle.dumps(program, protocol=pickle.HIGHEST_PROTOCOL)
            temporary = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
            temporary.write_bytes(data)
            os.replace(temporary, path)  # readers see the whole file or none
            self._prune()
        except (OSError, pickle.PicklingError, RecursionError, TypeError):
            return  # the cache is an optimisation: without it every run parses

    def _prune(self) -> None:
        assert self.directory is not None
        stored = sorted(self.directory.glob("*.pickle"), key=lambda p: p.stat().st_mtime)
        for old in stored[:-PROGRAMS_KEPT]:
            with contextlib.suppress(OSError):
                old.unlink()


# The programs of this process; on disk unless QIP_ASL_CACHE is "0".
PROGRAMS_ENV = "QIP_ASL_CACHE"
_programs: dict[str, ParsedPrograms] = {}


def parsed_programs() -> ParsedPrograms:
    """This process's `ParsedPrograms` (on disk under `program_cache_directory()`)."""
    use_disk = os.environ.get(PROGRAMS_ENV, "1") != "0"
    key = str(program_cache_directory()) if use_disk else ""
    if key not in _programs:
        _programs[key] = ParsedPrograms(Path(key) if use_disk else None)
    return _programs[key]


@contextlib.contextmanager
def cached_state_machine_programs(programs: ParsedPrograms | None = None) -> Iterator[None]:
    """Let moto's Step Functions parse each definition once: at create, not on every execution.

    The parsed program is a tree of declarations: evaluating it keeps every per-execution
    value in the execution's `Environment` (its frames, heap, variables and history), and no
    component assigns to itself while evaluating except `heap_key`, a random name it draws on
    first use to index that heap (retry counters). Drawn lazily, two executions starting at
    once could draw two names; each cached program therefore draws all of them up front.

    CreateStateMachine still validates: a definition not in the cache is parsed, and one that
    does not parse is refused by moto's own validation, with moto's own error.
    """
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    cache = programs or parsed_programs()
    original_entrypoint = ExecutionWorker._get_evaluation_entrypoint
    original_validate = StepFunctionsParserBackend.__dict__["_validate_definition"]

    def entrypoint(worker: Any) -> Any:
        return cache.program(worker._evaluation_details.state_machine_details.definition)

    def validate(definition: str) -> None:
        try:
            cache.program(definition)
        except Exception:
            original_validate.__func__(definition)  # raises moto's InvalidDefinition
            raise

    ExecutionWorker._get_evaluation_entrypoint = entrypoint  # type: ignore[method-assign,assignment]
    StepFunctionsParserBackend._validate_definition = staticmethod(validate)  # type: ignore[method-assign]
    try:
        yield
    finally:
        ExecutionWorker._get_evaluation_entrypoint = original_entrypoint  # type: ignore[method-assign]
        StepFunctionsParserBackend._validate_definition = original_validate  # type: ignore[method-assign]


def _one_key_per_model(loader: Any) -> Any:
    """A loader whose model cache has one key per model however the caller spells the call.

    Clients ask `load_service_model(name, "service-2", api_version=None)`, moto's region lists
    `load_service_model(name, type_name="service-2", api_version=None)`: two cache keys.
    """
    load = loader.load_service_model

    def load_service_model(
        service_name: str, type_name: str = "service-2", api_version: str | None = None
    ) -> Any:
        return load(service_name, type_name, api_version)

    loader.load_service_model = load_service_model
    return loader


@contextlib.contextmanager
def shared_botocore_loader() -> Iterator[None]:
    """Give every botocore session of this process one data loader, and moto one of its own.

    Each session (ours, moto's own for its region lists, each handler's default one) otherwise
    decodes `endpoints.json` (1.2 MB) and every service model again, and moto builds a new
    loader (listing botocore's 400 data folders) for each service's answers: ~0.35 s of CPU
    at start, again at each handler's first call. Loaded models are read-only data; botocore
    already shares them among the clients of one session.
    """
    session_module: Any = importlib.import_module("botocore.session")
    moto_utils: Any = importlib.import_module("moto.core.utils")

    originals = (session_module.create_loader, moto_utils.create_loader)
    loaders: dict[Any, Any] = {}
    lock = threading.Lock()

    def create_loader(search_path_string: Any = None) -> Any:
        with lock:
            if search_path_string not in loaders:
                loaders[search_path_string] = _one_key_per_model(originals[0](search_path_string))
            return loaders[search_path_string]

    def create_moto_loader() -> Any:
        # moto's loader adds its own extras to the models: never the clients' loader.
        with lock:
            if "moto" not in loaders:
                loaders["moto"] = originals[1]()
            return loaders["moto"]

    session_module.create_loader = create_loader
    moto_utils.create_loader = create_moto_loader
    try:
        yield
    finally:
        session_module.create_loader, moto_utils.create_loader = originals


class _ReceivesStoppedError(Exception):
    """Raised inside moto's long poll when the runtime stops; the receive answers empty."""


@contextlib.contextmanager
def interruptible_receives() -> Iterator[threading.Event]:
    """Let the runtime end moto's idle SQS long polls at once: set the yielded event.

    A receive waiting for messages (up to WaitTimeSeconds) then answers with no messages, as
    SQS may at any time; one that has messages still gets them. Without this, stopping waits
    out every poller's long poll (up to a second).
    """
    from moto.sqs.models import Queue, SQSBackend, sqs_backends

    stopping = threading.Event()
    original_wait = Queue.wait_for_messages
    original_receive = SQSBackend.receive_message

    def wait_for_messages(self: Any, timeout: int) -> None:
        with self._messages_lock:
            self._messages_lock.wait_for(
                lambda: self.messages or stopping.is_set(), timeout=timeout
            )
        if stopping.is_set() and not self.messages:
            raise _ReceivesStoppedError

    def receive_message(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return original_receive(self, *args, **kwargs)
        except _ReceivesStoppedError:
            return []

    class Stopping(threading.Event):
        def set(self) -> None:
            stopping.set()
            super().set()
            # Wake every waiting receive (they wait on their queue's condition).
            for regions in list(sqs_backends.values()):
                for backend in list(regions.values()):
                    for queue in list(backend.queues.values()):
                        with queue._messages_lock:
                            queue._messages_lock.notify_all()

    Queue.wait_for_messages = wait_for_messages  # type: ignore[method-assign]
    SQSBackend.receive_message = receive_message  # type: ignore[method-assign]
    try:
        yield Stopping()
    finally:
        Queue.wait_for_messages = original_wait  # type: ignore[method-assign]
        SQSBackend.receive_message = original_receive  # type: ignore[method-assign]


def stop_server_promptly(server: Any, stop: Callable[[], None] | None = None) -> None:
    """Stop a `ThreadedMotoServer` (with `stop`, default its own) without werkzeug's wait.

    Its `shutdown()` only takes effect when the serving loop wakes from its half-second
    select; a connection wakes it at once.
    """
    stop = stop or server.stop
    wsgi_server = server._server
    if wsgi_server is None:
        stop()
        return
    host, port = wsgi_server.server_address[:2]
    address = ("127.0.0.1" if host in {"0.0.0.0", ""} else host, port)  # noqa: S104
    stopper = threading.Thread(target=stop, name="moto-server-stop", daemon=True)
    stopper.start()
    while stopper.is_alive():
        with contextlib.suppress(OSError):
            socket.create_connection(address, timeout=0.2).close()
        stopper.join(0.02)


@contextlib.contextmanager
def prompt_server_stops() -> Iterator[None]:
    """While the block runs, `ThreadedMotoServer.stop()` returns at once (see above)."""
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer

    original = ThreadedMotoServer.stop

    def stop(self: Any) -> None:
        stop_server_promptly(self, functools.partial(original, self))

    ThreadedMotoServer.stop = stop  # type: ignore[method-assign]
    try:
        yield
    finally:
        ThreadedMotoServer.stop = original  # type: ignore[method-assign]


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
def single_pass_projections() -> Iterator[None]:
    """Let moto's DynamoDB convert an item once per projection instead of once per path.

    `Item.project` converts the whole item to plain JSON for every path of the
    ProjectionExpression. One conversion serves all paths; each path's part is copied before
    it is merged, so a merge never writes into the conversion the next path reads.
    """
    import copy

    from moto.core.utils import merge_dicts
    from moto.dynamodb.models.dynamo_type import Item, serializer
    from moto.dynamodb.models.utilities import find_nested_key

    original = Item.project

    def project(self: Any, projection_expressions: list[list[str]]) -> Any:
        result: dict[str, Any] = {}
        plain = self.to_regular_json()
        for expression in projection_expressions:
            merge_dicts(result, copy.deepcopy(find_nested_key(expression, plain)))
        return Item(
            hash_key=self.hash_key,
            range_key=self.range_key,
            attrs=serializer.serialize(result)["M"],
        )

    Item.project = project  # type: ignore[method-assign]
    try:
        yield
    finally:
        Item.project = original  # type: ignore[method-assign]


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
