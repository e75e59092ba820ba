"""Where a running `qip serve` is: a small JSON state file the other commands read."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

STATE_FILE_ENV = "QIP_STATE_FILE"
ENDPOINT_ENV = "QIP_ENDPOINT"


@dataclass(frozen=True)
class ServeState:
    """What `qip serve` writes when it is ready."""

    endpoint: str
    prefix: str
    pid: int
    region: str = "us-east-1"


def state_path() -> Path:
    """`$QIP_STATE_FILE`, else `$XDG_STATE_HOME/qip/serve.json` (default `~/.local/state`)."""
    explicit = os.environ.get(STATE_FILE_ENV)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "qip" / "serve.json"


def write_state(state: ServeState) -> Path:
    """Record a running server (atomically)."""
    path = state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(asdict(state), indent=2) + "\n")
    temporary.replace(path)
    return path


def read_state() -> ServeState | None:
    """The recorded server, if the file exists and its process is still alive."""
    path = state_path()
    try:
        raw = json.loads(path.read_text())
        state = ServeState(**raw)
    except (OSError, ValueError, TypeError):
        return None
    if not _alive(state.pid):
        return None
    return state


def clear_state(pid: int) -> None:
    """Remove the state file if it still describes process `pid`."""
    path = state_path()
    try:
        if json.loads(path.read_text()).get("pid") == pid:
            path.unlink()
    except (OSError, ValueError):
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
