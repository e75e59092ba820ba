"""Lambda handlers in worker processes, like Lambda's instances: one invocation at a time each.

The embedded AWS's process (`qip_local.aws_process`) forks a template process before it imports
moto or starts a thread; the template imports the handlers meanwhile, builds their clients once
the embedded AWS is up, and forks a worker whenever the pool needs one. The pool's
`handler(service)` is what the Lambda shim calls: it sends the event to a free worker and, while
the handler runs, answers the worker's AWS calls with moto (`qip_local.forwarding`) until the
result or the error comes back. A handler's exception comes back as its class name and message
(what Step Functions' Retry/Catch match); a worker that dies mid-invocation is Lambda's
`Runtime.ExitError`, and the next invocation gets a fresh worker.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import threading
import time
from collections.abc import Iterable
from multiprocessing.connection import Connection
from typing import Any

from qip_local import forwarding
from qip_local.worker_process import (
    ERROR,
    FORK,
    HEADER,
    INVOKE,
    OUTPUT,
    PREPARE,
    RESULT,
    Handler,
    template_main,
)

STOP_TIMEOUT = 5.0
EXIT_ERROR = "Runtime.ExitError"


class WorkerLostError(Exception):
    """The worker process died or closed its connection."""


class RemoteHandlerError(Exception):
    """A handler's exception in a worker; its class is renamed to the original's name."""

    stack_trace: list[str]


_error_types: dict[str, type[RemoteHandlerError]] = {}
# Per thread: how many workers this thread is answering AWS calls for (nested invocations).
_serving = threading.local()


def remote_error(name: str, message: str, stack_trace: list[str]) -> RemoteHandlerError:
    """An exception whose class name and message are the worker's exception's."""
    error_type = _error_types.get(name)
    if error_type is None:
        error_type = type(name, (RemoteHandlerError,), {"__module__": __name__})
        _error_types[name] = error_type
    error = error_type(message)
    error.stack_trace = stack_trace
    return error


# -- the pool (in the embedded AWS's process) ----------------------------------------------------


class Worker:
    """One worker process, seen from the embedded AWS: its connection and its process id."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.pid: int | None = None
        self.environment_sent: dict[str, str] | None = None
        # Functions this worker has run (their clients are built: a warm instance).
        self.services: set[str] = set()

    def _receive(self) -> tuple[Any, ...]:
        try:
            message: tuple[Any, ...] = self.connection.recv()
        except (EOFError, OSError) as exc:
            raise WorkerLostError(str(exc)) from exc
        return message

    def _send(self, message: tuple[Any, ...]) -> None:
        try:
            self.connection.send(message)
        except OSError as exc:
            raise WorkerLostError(str(exc)) from exc

    def _answer(self, message: tuple[Any, ...]) -> None:
        # moto answers the worker's AWS call here, in the invoking thread.
        try:
            request = forwarding.receive_body(self.connection, message)
        except (EOFError, OSError) as exc:
            raise WorkerLostError(str(exc)) from exc
        *fields, body = forwarding.answer_request(request)
        try:
            forwarding.send_with_body(self.connection, tuple(fields), body)
        except OSError as exc:
            raise WorkerLostError(str(exc)) from exc

    def invoke(self, service: str, event: Any, context_fields: dict[str, Any]) -> Any:
        """Run the handler in this worker, answering its AWS calls until it returns or raises."""
        if self.pid is None:
            self.pid = self._receive()[1]
        environment = dict(os.environ)
        changed = environment if environment != self.environment_sent else None
        self._send((INVOKE, service, event, context_fields, changed))
        self.environment_sent = environment
        self.services.add(service)
        _serving.depth = getattr(_serving, "depth", 0) + 1
        try:
            return self._serve_until_answer()
        finally:
            _serving.depth -= 1

    def _serve_until_answer(self) -> Any:
        while True:
            message = self._receive()
            kind = message[0]
            if kind == forwarding.AWS_REQUEST:
                self._answer(message)
            elif kind == RESULT:
                return json.loads(message[1])
            elif kind == ERROR:
                raise remote_error(message[1], message[2], message[3])
            else:
                raise WorkerLostError(f"unexpected message {kind!r}")

    def close(self) -> None:
        """Close the connection (an idle worker then exits)."""
        self.connection.close()


class WorkerPool:
    """Up to `capacity` handler workers, forked on demand from a template process.

    An invocation takes an idle worker that already ran its function (its clients are built),
    else any idle one, else a new one while there are fewer than `capacity`, else waits: more
    workers than cores only add cold starts. An invocation made while answering a worker's
    AWS call (a nested one) never waits, so a chain of calls cannot deadlock the pool.
    """

    def __init__(self, control: socket.socket, template_pid: int, capacity: int) -> None:
        self._control = control
        self.template_pid: int | None = template_pid
        self.capacity = max(1, capacity)
        self._idle: list[Worker] = []
        self._all: list[Worker] = []
        self._lock = threading.Lock()
        self._freed = threading.Condition(self._lock)
        self._closed = False

    @classmethod
    def start(
        cls, services: Iterable[str], capacity: int, environment: dict[str, str] | None = None
    ) -> WorkerPool:
        """Fork the template (call before any thread starts) and return the pool."""
        parent_end, template_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        pid = os.fork()
        if pid == 0:
            parent_end.close()
            template_main(template_end, list(services), dict(environment or {}))
        template_end.close()
        return cls(parent_end, pid, capacity)

    def _new_worker(self) -> Worker:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            socket.send_fds(self._control, [FORK + bytes(HEADER - 1)], [theirs.fileno()])
        finally:
            theirs.close()
        worker = Worker(Connection(ours.detach()))
        self._all.append(worker)
        return worker

    def prepare(self, environment: dict[str, str]) -> None:
        """Have the template build the handlers' clients for `environment` (workers forked
        from now on start warm)."""
        payload = json.dumps(environment).encode()
        with self._lock:
            self._control.sendall(PREPARE + len(payload).to_bytes(HEADER - 1, "big") + payload)

    def send_output(self, fd: int) -> None:
        """Have the template, and every worker forked from now on, write its output to `fd`."""
        with self._lock:
            socket.send_fds(self._control, [OUTPUT + bytes(HEADER - 1)], [fd])

    def prestart(self, count: int) -> None:
        """Fork up to `count` idle workers now (ready once the template has its imports)."""
        with self._lock:
            while len(self._all) < min(count, self.capacity):
                self._idle.append(self._new_worker())

    def _take_idle(self, service: str) -> Worker | None:
        for worker in reversed(self._idle):
            if service in worker.services:
                self._idle.remove(worker)
                return worker
        return self._idle.pop() if self._idle else None

    def _acquire(self, service: str) -> Worker:
        nested = bool(getattr(_serving, "depth", 0))
        with self._freed:
            while True:
                if self._closed:
                    raise WorkerLostError("the worker pool is stopped")
                worker = self._take_idle(service)
                if worker is not None:
                    return worker
                if nested or len(self._all) < self.capacity:
                    return self._new_worker()
                self._freed.wait()

    def _release(self, worker: Worker) -> None:
        with self._freed:
            if not self._closed:
                self._idle.append(worker)
                self._freed.notify()
                return
        worker.close()

    def _discard(self, worker: Worker) -> None:
        worker.close()
        if worker.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.pid, signal.SIGKILL)  # the template reaps it
        with self._freed:
            with contextlib.suppress(ValueError):
                self._all.remove(worker)
            self._freed.notify()

    def invoke(self, service: str, event: Any, context: Any) -> Any:
        """Run `service`'s handler on a free worker; its exception re-raised by name."""
        fields = {
            "function_name": context.function_name,
            "invoked_function_arn": context.invoked_function_arn,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "aws_request_id": context.aws_request_id,
            "timeout_ms": context.get_remaining_time_in_millis(),
        }
        worker = self._acquire(service)
        try:
            result = worker.invoke(service, event, fields)
        except RemoteHandlerError:
            self._release(worker)
            raise
        except WorkerLostError:
            self._discard(worker)
            raise remote_error(
                EXIT_ERROR,
                f"RequestId: {context.aws_request_id} Error: Runtime exited without providing"
                " a reason",
                [],
            ) from None
        except BaseException:
            self._discard(worker)  # an answer half-read: the connection is out of step
            raise
        self._release(worker)
        return result

    def handler(self, service: str) -> Handler:
        """The handler the shim registers for `service`: it runs in a worker."""

        def call(event: Any, context: Any) -> Any:
            return self.invoke(service, event, context)

        return call

    @property
    def worker_pids(self) -> list[int]:
        """Process ids of the workers that have answered (for tests and diagnostics)."""
        with self._lock:
            return [worker.pid for worker in self._all if worker.pid is not None]

    def kill(self) -> None:
        """Kill the template now and reap it: for a pool that never forked a worker."""
        if self.template_pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.template_pid, signal.SIGKILL)
        self.close()

    def close(self) -> None:
        """Stop the template and every worker (idle or busy), and reap the template.

        A busy worker's connection is left to its invoking thread: the template kills the
        worker, so that thread reads the end of the connection and closes it.
        """
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        self._control.close()  # the template kills its workers and exits
        for worker in idle:
            worker.close()
        pid, self.template_pid = self.template_pid, None
        if pid is None:
            return
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                return
            time.sleep(0.01)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
