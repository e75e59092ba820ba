"""Starting and stopping the embedded AWS quickly, in the runtime's own process.

One botocore loader per process, cyclic garbage collection paused while it starts, SQS long
polls that end when it stops, and a moto server that stops without waiting out its select.
"""

# moto is imported only when the patches are applied (it is slow to import).
# ruff: noqa: PLC0415

from __future__ import annotations

import contextlib
import functools
import gc
import importlib
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

# Set in the separate process's environment: its heap after start-up lives as long as it does.
FREEZE_HEAP_ENV = "QIP_FREEZE_HEAP_AFTER_START"


@contextlib.contextmanager
def paused_garbage_collection(*, freeze: bool = False) -> Iterator[None]:
    """No cyclic garbage collection while the block runs (as it was, after).

    Start-up allocates ~300k long-lived objects (moto's backends, botocore's models); the
    collector would traverse them all again and again (~0.25 s of CPU) to find no garbage.
    `freeze`, for a process that exists to run the runtime: move them into the collector's
    permanent generation, so neither the first collection after start nor later ones do.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if freeze:
            gc.freeze()
        if was_enabled:
            gc.enable()


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
