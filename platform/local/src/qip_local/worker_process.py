"""The processes behind `qip_local.workers`' pool: the template and the workers it forks.

The template is forked by the embedded AWS's process before it imports moto or starts a thread;
it imports the handlers at once, builds their clients when told (`PREPARE`), and forks a
worker for every socket it is sent (`FORK`). A worker serves invocations on its connection, one
at a time, its AWS calls forwarded to the embedded AWS (`qip_local.forwarding`).
"""

# ruff: noqa: PLC0415 - the template imports the handlers after it is forked

from __future__ import annotations

import contextlib
import importlib
import json
import os
import signal
import socket
import sys
import traceback
from collections.abc import Callable, Iterable
from multiprocessing.connection import Connection
from typing import Any, NoReturn

from qip_local import forwarding

Handler = Callable[[Any, Any], Any]

# (kind, ...) tuples on a worker's connection, besides the forwarded AWS calls.
HELLO = "hello"
INVOKE = "invoke"
RESULT = "result"
ERROR = "error"

# Control messages to the template: one kind byte and a 4-byte payload length.
FORK = b"F"  # with a worker's socket attached
PREPARE = b"P"  # with the environment (JSON): build every handler's clients before forking
OUTPUT = b"O"  # with a file attached: where the template's and its workers' output goes
HEADER = 5


def _handler_modules(services: Iterable[str]) -> None:
    for service in services:
        with contextlib.suppress(ImportError):  # its invocations fail with the import error
            importlib.import_module(f"qip_{service.replace('-', '_')}.handler")


def _sync_environment(environment: dict[str, str]) -> None:
    for name in set(os.environ) - set(environment):
        del os.environ[name]
    os.environ.update(environment)


def _context(fields: dict[str, Any]) -> Any:
    from qip_local.shim import FakeLambdaContext

    return FakeLambdaContext(**fields)


def _run_invocation(handlers: dict[str, Handler], message: tuple[Any, ...]) -> tuple[Any, ...]:
    from qip_local.shim import load_handler

    _, service, event, context_fields, environment = message
    if environment is not None:
        _sync_environment(environment)
    try:
        if service not in handlers:
            handlers[service] = load_handler(service)
        result = handlers[service](event, _context(context_fields))
        return (RESULT, json.dumps(result, default=str))
    except Exception as exc:
        return (ERROR, type(exc).__name__, str(exc), traceback.format_exception(exc)[-3:])


def worker_main(connection: Connection) -> None:
    """Serve invocations on `connection` until it closes (runs in a forked worker)."""
    forwarding.connect(connection)
    handlers: dict[str, Handler] = dict(_prepared)
    try:
        connection.send((HELLO, os.getpid()))
    except OSError:
        return  # the pool stopped before this worker was ready
    while True:
        try:
            message = connection.recv()
        except (EOFError, OSError):
            return
        answer = _run_invocation(handlers, message)
        try:
            connection.send(answer)
        except OSError:
            return


# Handlers whose clients the template built (inherited by every worker forked afterwards).
_prepared: dict[str, Handler] = {}


def _prepare(environment: dict[str, str], services: Iterable[str]) -> None:
    """Set the functions' environment and build each handler's clients, once for all workers.

    Building them is most of a worker's cold start; a handler whose building fails (or would
    call AWS, which the template cannot reach) is left to build in its worker on first use.
    """
    from qip_local.shim import load_handler

    _sync_environment(environment)
    for service in services:
        try:
            handler = load_handler(service)
            module = importlib.import_module(f"qip_{service.replace('-', '_')}.handler")
        except ImportError:
            continue
        try:
            module.dependencies()
        except Exception:
            module.dependencies.cache_clear()
            continue
        _prepared[service] = handler


def _send_output_to(fd: int) -> None:
    with contextlib.suppress(ValueError, OSError):
        sys.stdout.flush()
        sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def _receive_exactly(control: socket.socket, size: int) -> bytes:
    chunks: list[bytes] = []
    while size:
        chunk = control.recv(size)
        if not chunk:
            raise EOFError("the control socket closed")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _reap(children: set[int]) -> None:
    while children:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            children.clear()
            return
        if pid == 0:
            return
        children.discard(pid)


def _fork_worker(control: socket.socket, worker_fd: int) -> int:
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            control.close()
            worker_main(Connection(worker_fd))
        except BaseException:
            traceback.print_exc()
            code = 1
        finally:
            os._exit(code)
    os.close(worker_fd)
    return pid


def template_main(
    control: socket.socket, services: Iterable[str], environment: dict[str, str]
) -> NoReturn:
    """Import the handlers, then fork a worker for every socket received; build the handlers'
    clients when told to."""
    from qip_local.lifecycle import paused_garbage_collection
    from qip_local.runtime import quiet_loggers

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the embedded AWS, which stops us
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the embedded AWS's handler (nor its mask)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    os.environ.update(environment)
    quiet_loggers()
    forwarding.install_forwarder()
    children: set[int] = set()
    code = 0
    try:
        # Imported at once, while the embedded AWS starts on the other core.
        with paused_garbage_collection(freeze=True):
            _handler_modules(services)
        while True:
            try:
                header, fds, _, _ = socket.recv_fds(control, HEADER, 1, socket.MSG_WAITALL)
            except OSError:
                break
            _reap(children)
            if len(header) < HEADER:
                break  # the embedded AWS closed the control socket
            kind, size = header[:1], int.from_bytes(header[1:], "big")
            if kind == FORK and fds:
                children.add(_fork_worker(control, fds[0]))
            elif kind == OUTPUT and fds:
                _send_output_to(fds[0])
            elif kind == PREPARE:
                payload = _receive_exactly(control, size)
                # Frozen, so a worker's collections never walk (or copy) the template's objects.
                with paused_garbage_collection(freeze=True):
                    _prepare(json.loads(payload), services)
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for pid in children:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        os._exit(code)
