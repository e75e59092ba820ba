"""Cold start on the real artifacts: each handler imported by python3.13 from its unpacked tree.

The trees are what ships (`qip_platform.lambda_tree`: bundle in `var/task`, layers in `opt`,
boto3 pinned by uv.lock in `var/runtime`; x86_64 wheels, the same pins as arm64), imported in a
fresh `python3.13 -I -S` whose `sys.path` is Lambda's. Per function, best of `repeat` runs (wall
and CPU seconds; the ratios use CPU time, which other load on the machine disturbs least):

- `boto3`: `import boto3` in that same interpreter and path (the floor any handler pays);
- `xray_on`: the handler's import (Lambda's init) as deployed, bytecode, powertools' Tracer on;
- `xray_off`: the same with `POWERTOOLS_TRACE_DISABLED=true` (no X-Ray SDK import or patching);
- `source`: the same as `xray_on` from a copy of the tree without `__pycache__` (what shipping
  no bytecode costs; the runtime's boto3 keeps its bytecode).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from qip_platform.bytecode import lambda_python
from qip_platform.lambda_tree import LambdaTree, unpack_functions
from qip_platform.versions import LAMBDA_PYTHON, module_name, needs_pillow

# Run by python3.13 -I -S -c: sys.path is then the standard library only.
_PROBE = """
import json, sys, time
path = json.loads(sys.argv[1])
sys.path[:] = [*path["task"], *sys.path, *path["runtime"]]
wall, cpu = time.perf_counter(), time.process_time()
__import__(sys.argv[2])
print(time.perf_counter() - wall, time.process_time() - cpu)
"""


def _environment(tree: LambdaTree, *, tracing: bool) -> dict[str, str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_NAME": f"qip-{tree.service}",
        "AWS_EXECUTION_ENV": f"AWS_Lambda_python{LAMBDA_PYTHON}",
        "LAMBDA_TASK_ROOT": str(tree.task),
        "POWERTOOLS_SERVICE_NAME": f"qip-{tree.service}",
    }
    if not tracing:
        env["POWERTOOLS_TRACE_DISABLED"] = "true"
    return env


def import_seconds(
    python: Path, tree: LambdaTree, module: str, *, tracing: bool
) -> tuple[float, float]:
    """(wall, CPU) seconds `import <module>` takes in a fresh interpreter over the tree."""
    path = json.dumps({"task": tree.task_path(), "runtime": [str(tree.runtime)]})
    done = subprocess.run(  # noqa: S603
        # -B: nothing written, as on Lambda's read-only /var/task and /opt
        [str(python), "-I", "-S", "-B", "-c", _PROBE, path, module],
        env=_environment(tree, tracing=tracing),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"import {module} from {tree.root} failed:\n{done.stderr[-1500:]}")
    wall, cpu = done.stdout.split()[-2:]
    return float(wall), float(cpu)


def _without_bytecode(tree: LambdaTree, root: Path) -> LambdaTree:
    """A copy of the tree's code and layers without `__pycache__` (files hard-linked)."""

    def link(source: str, target: str) -> None:
        try:
            os.link(source, target)
        except OSError:
            shutil.copy2(source, target)

    ignore = shutil.ignore_patterns("__pycache__")
    stripped = LambdaTree(tree.service, root / tree.service, tree.layers, tree.bundle_zip_bytes)
    shutil.copytree(tree.task, stripped.task, ignore=ignore, copy_function=link)
    shutil.copytree(tree.opt, stripped.opt, ignore=ignore, copy_function=link)
    stripped.runtime.parent.mkdir(parents=True, exist_ok=True)
    stripped.runtime.symlink_to(tree.runtime)
    return stripped


def measure(services: tuple[str, ...], work: Path, *, repeat: int) -> dict[str, Any]:
    """Import times per function (see the module docstring), in seconds."""
    python = lambda_python()
    trees = unpack_functions(services, work / "artifact-trees")
    results: dict[str, Any] = {"python": str(python), "repeat": repeat, "functions": {}}
    with tempfile.TemporaryDirectory(prefix="qip-bench-source-", dir=work) as tmp:
        for service, tree in trees.items():
            handler = f"{module_name(service)}.handler"
            source_tree = _without_bytecode(tree, Path(tmp))

            def best(
                module: str, *, tracing: bool = True, on: LambdaTree = tree
            ) -> dict[str, float]:
                runs = [import_seconds(python, on, module, tracing=tracing) for _ in range(repeat)]
                return {"wall": min(w for w, _ in runs), "cpu": min(c for _, c in runs)}

            entry: dict[str, Any] = {
                "boto3": best("boto3"),
                "xray_on": best(handler),
                "xray_off": best(handler, tracing=False),
                "source": best(handler, on=source_tree),
                "image": needs_pillow(service),
            }
            # CPU time: what an import costs, whatever else shares the machine's cores
            entry["ratio"] = entry["xray_on"]["cpu"] / entry["boto3"]["cpu"]
            entry["ratio_xray_off"] = entry["xray_off"]["cpu"] / entry["boto3"]["cpu"]
            results["functions"][service] = entry
    return results
