"""The Lambda runtime's own Python, and reproducible bytecode compiled by it.

Lambda mounts `/var/task` and `/opt` read-only, so a cold start compiles every module that ships
without a `.pyc` for the runtime's exact version. Bundles and layers therefore carry
unchecked-hash pycs (valid whatever the files' mtimes; the sources stay beside them for
tracebacks) written by a `python3.13`: the interpreter is found with `uv python find`
(`QIP_LAMBDA_PYTHON` overrides it), and building fails with one line when there is none.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import cache
from pathlib import Path

from qip_platform.versions import LAMBDA_PYTHON

# Files and directories of an artifact get this mtime (1980-01-01, the oldest a zip can hold).
FIXED_MTIME = 315_532_800
# Where Lambda mounts function code and layer code.
TASK_ROOT = "/var/task"
LAYER_ROOT = "/opt/python"


class LambdaPythonMissingError(RuntimeError):
    """No interpreter of the Lambda runtime's version on this machine."""


def _uv_find(env: dict[str, str]) -> Path | None:
    uv = shutil.which("uv")
    if uv is None:
        return None
    done = subprocess.run(  # noqa: S603
        [uv, "python", "find", "--no-project", LAMBDA_PYTHON],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    path = done.stdout.strip()
    return Path(path) if done.returncode == 0 and path else None


def _pyenv_versions() -> list[str]:
    """pyenv's installed versions of the runtime's minor release (its shims hide them from uv)."""
    pyenv = shutil.which("pyenv")
    if pyenv is None:
        return []
    done = subprocess.run(  # noqa: S603
        [pyenv, "versions", "--bare"], capture_output=True, text=True, check=False
    )
    prefix = f"{LAMBDA_PYTHON}."
    return [v.strip() for v in done.stdout.splitlines() if v.strip().startswith(prefix)]


@cache
def lambda_python() -> Path:
    """The `python3.13` that compiles and tests what Lambda runs (found once per process)."""
    configured = os.environ.get("QIP_LAMBDA_PYTHON")
    if configured:
        return Path(configured)
    found = _uv_find(dict(os.environ))
    if found is None and (pyenv := _pyenv_versions()):
        # pyenv's shim answers only for the versions PYENV_VERSION selects.
        found = _uv_find({**os.environ, "PYENV_VERSION": ":".join(pyenv)})
    if found is None:
        raise LambdaPythonMissingError(
            f"no Python {LAMBDA_PYTHON} (the Lambda runtime's) found: "
            f"run `uv python install {LAMBDA_PYTHON}` or set QIP_LAMBDA_PYTHON"
        )
    return found


def fix_mtimes(root: Path) -> None:
    """Give every file and directory under `root` (and itself) the same fixed mtime."""
    for path in sorted(root.rglob("*"), reverse=True):
        os.utime(path, (FIXED_MTIME, FIXED_MTIME), follow_symlinks=False)
    os.utime(root, (FIXED_MTIME, FIXED_MTIME))


def compile_tree(root: Path, deployed_as: str) -> None:
    """Compile every `.py` under `root` to unchecked-hash pycs as Lambda's Python reads them.

    `deployed_as` is the directory `root` becomes on Lambda (`/var/task`, `/opt/python`): it is
    the file name in tracebacks, and keeps the bytes independent of where the build ran.
    """
    command = [
        str(lambda_python()),
        "-s",  # no user site-packages
        "-m",
        "compileall",
        "-q",
        "-j",
        "1",  # one process, files in sorted order: the same bytes every time
        "--invalidation-mode",
        "unchecked-hash",
        "-d",
        deployed_as,
        str(root),
    ]
    # A fixed hash seed: frozenset constants are marshalled in iteration order.
    env = {"PYTHONHASHSEED": "0", "PATH": os.environ.get("PATH", "")}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)  # noqa: S603
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip()[-2000:]
        raise RuntimeError(f"compileall failed under {root}:\n{output}")
    fix_mtimes(root)
