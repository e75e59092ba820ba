"""Cold-start proxy: `python -X importtime` of each handler module against `import boto3` alone.

Two conditions, because the deployed packages carry no bytecode (the bundles exclude
`__pycache__` and the layers are installed without compiling): *source* (no `.pyc` anywhere,
every module compiled at import, as on Lambda today) and *bytecode* (a warm `.pyc` cache in a
private prefix outside the repo, as a layer built with compiled bytecode would give).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")

# What no handler should pull in (build, test and CLI tooling).
NEVER = ("aws_cdk", "constructs", "jsii", "cdk_nag", "moto", "typer", "rich", "nox", "pytest")
# Only the image stages decode pixels.
IMAGE_ONLY = ("PIL",)


def import_times(module: str, env: dict[str, str]) -> tuple[float, dict[str, float]]:
    """(total seconds, self seconds per top-level package) of importing `module` afresh."""
    command = [sys.executable, "-X", "importtime", "-c", f"import {module}"]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)  # noqa: S603
    if done.returncode != 0:
        raise RuntimeError(f"import {module} failed:\n{done.stderr[-1500:]}")
    total = 0.0
    packages: dict[str, float] = defaultdict(float)
    for line in done.stderr.splitlines():
        match = _LINE.match(line)
        if not match:
            continue
        self_us, cumulative_us, indent, name = match.groups()
        packages[name.split(".")[0]] += int(self_us) / 1e6
        if not indent and name == module:
            total = int(cumulative_us) / 1e6
    if not total:  # the module was a submodule of one imported first: sum the top levels
        total = sum(packages.values())
    return total, dict(packages)


def _env(bytecode: bool, cache: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")
    }
    if bytecode:
        env["PYTHONPYCACHEPREFIX"] = str(cache)  # never writes into the repo or the venv
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env["PYTHONPYCACHEPREFIX"] = str(cache / "empty")  # an empty cache: compile everything
    return env


def measure_imports(
    modules: dict[str, str],
    *,
    repeat: int,
    conditions: tuple[str, ...] = ("source", "bytecode"),
    warm: bool = True,
    cache: Path | None = None,
) -> dict[str, Any]:
    """name -> {condition -> best total seconds, packages, flagged imports}.

    `cache` is the bytecode cache to use (a fresh temporary one by default); `warm` fills it
    with one untimed import first.
    """
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="qip-bench-pyc-") as tmp:
        cache = cache or Path(tmp)
        for name, module in modules.items():
            entry: dict[str, Any] = {"module": module}
            for condition in conditions:
                bytecode = condition == "bytecode"
                env = _env(bytecode, cache)
                if bytecode and warm:
                    import_times(module, env)  # fill the cache; the timed runs reuse it
                # Compiling from source dwarfs the noise: one run is enough there.
                runs = [import_times(module, env) for _ in range(repeat if bytecode else 1)]
                best_total, best_packages = min(runs, key=lambda run: run[0])
                entry[condition] = best_total
                if bytecode:
                    entry["packages"] = dict(
                        sorted(best_packages.items(), key=lambda kv: -kv[1])[:8]
                    )
                    entry["imported"] = sorted(best_packages)
            results[name] = entry
    return results


def flag_imports(service: str, imported: list[str], needs_pillow: bool) -> list[str]:
    """Top-level packages a handler imports but should not."""
    flagged = [name for name in imported if name in NEVER]
    if not needs_pillow:
        flagged += [name for name in imported if name in IMAGE_ONLY]
    return flagged
