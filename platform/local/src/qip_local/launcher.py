"""Starting the embedded AWS's process (`qip_local.aws_process`), as early as `qip` can.

A local `qip process` spends its first half second importing typer, rich and boto3 and parsing
its arguments; the embedded AWS's process spends as long importing moto and forking its
workers' template, none of which depends on those arguments. So `qip`'s entry point starts it
first (`prestart`), before any heavy import; the command hands it to `LocalRuntime`, which
sends it the configuration; a process the command did not take is stopped when it ends
(`stop_unused`). This module imports only the standard library: it runs before everything.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Any

from qip_local.lifecycle import FREEZE_HEAP_ENV

REGION = "us-east-1"
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
}
DEFAULT_HOST = "127.0.0.1"
STOP_TIMEOUT = 10.0  # seconds the embedded AWS gets to stop before it is killed

# `qip process` options that use something other than an embedded AWS, or print help.
_NOT_LOCAL_OPTIONS = frozenset({"--endpoint", "--outputs", "--help"})


@dataclass
class AwsProcess:
    """The embedded AWS's process: where it will serve, and the pipe it answers ready on."""

    process: subprocess.Popen[bytes]
    answers: IO[bytes]
    host: str
    port: int

    @property
    def pid(self) -> int:
        """Its process id."""
        return self.process.pid

    def configure(self, config_line: str) -> None:
        """Send the configuration (one JSON line, `aws_process.config_json`): it starts now."""
        assert self.process.stdin is not None
        self.process.stdin.write(config_line.encode() + b"\n")
        self.process.stdin.flush()

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Close its stdin (it stops what it runs and exits); kill it if it takes too long."""
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        self._reap(timeout)

    def stop_now(self) -> None:
        """Stop it at once (SIGTERM): for a process that was never configured."""
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGTERM)
        self.stop()

    def _reap(self, timeout: float) -> None:
        self.answers.close()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def child_environment() -> dict[str, str]:
    """The embedded AWS's environment: ours, its fake credentials, no endpoint, a bytecode cache.

    Without bytecode every start compiles moto, boto3 and the handlers again (about a second
    of CPU); where writing it is disabled, the child keeps its own under the user's cache.
    """
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in {"AWS_ENDPOINT_URL", "AWS_PROFILE"}
    }
    environment.update(FAKE_CREDENTIALS)
    environment[FREEZE_HEAP_ENV] = "1"
    if environment.pop("PYTHONDONTWRITEBYTECODE", None) and not sys.pycache_prefix:
        cache = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
        environment["PYTHONPYCACHEPREFIX"] = os.path.join(cache, "qip", "pycache")
    return environment


def spawn(host: str = DEFAULT_HOST, port: int = 0, output: Any = subprocess.DEVNULL) -> AwsProcess:
    """Start `python -m qip_local.aws_process`: it gets ready to start, then waits for its
    configuration; `output` is where its stdout and stderr go until the configuration names
    a file."""
    read_end, write_end = os.pipe()
    try:
        process = subprocess.Popen(  # noqa: S603 - our own module, our own arguments
            [sys.executable, "-m", "qip_local.aws_process", str(write_end), host, str(port)],
            stdin=subprocess.PIPE,
            stdout=output,
            stderr=subprocess.STDOUT,
            pass_fds=(write_end,),
            env=child_environment(),
        )
    except BaseException:
        os.close(read_end)
        raise
    finally:
        os.close(write_end)
    return AwsProcess(process, os.fdopen(read_end, "rb"), host, port)


def starts_embedded_aws(args: Sequence[str]) -> bool:
    """Whether `qip *args` is a `qip process` that starts an embedded AWS."""
    if not args or args[0] != "process":
        return False
    options = {arg.split("=", 1)[0] for arg in args[1:] if arg.startswith("--")}
    return not options & _NOT_LOCAL_OPTIONS


_prestarted: list[AwsProcess] = []


def prestart(args: Sequence[str]) -> None:
    """Start the embedded AWS's process now if `qip *args` will need one (best effort: if it
    cannot start, the command starts its own and reports why that failed)."""
    if starts_embedded_aws(args) and not _prestarted:
        with contextlib.suppress(OSError):
            _prestarted.append(spawn())


def take_prestarted() -> AwsProcess | None:
    """The process `prestart` started, now the caller's to configure and stop (None: none)."""
    return _prestarted.pop() if _prestarted else None


def stop_unused() -> None:
    """Stop a prestarted process nobody took (a usage error, another outcome than a run)."""
    while _prestarted:
        _prestarted.pop().stop_now()
