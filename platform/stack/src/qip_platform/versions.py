"""Each service's version and needs (read from its own pyproject.toml), and the runtime's Python."""

from __future__ import annotations

import importlib.util
import re
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

from qip_pipeline.names import ALL_SERVICES
from qip_shared import config

# The Lambda runtime's Python (`python3.13`): the functions' and layers' runtime, the interpreter
# that compiles their bytecode and the platform tag of their wheels. One value, read everywhere.
LAMBDA_PYTHON = config.LAMBDA_PYTHON_VERSION


def module_name(service: str) -> str:
    """The import name of a service package (`upload-url` -> `qip_upload_url`)."""
    return "qip_" + service.replace("-", "_")


def source_dir(module: str) -> Path:
    """The directory of an importable package, found without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise LookupError(f"package {module} is not installed in this environment")
    return Path(next(iter(spec.submodule_search_locations))).resolve()


def service_dir(service: str) -> Path:
    """`services/<service>/` (the package's `src/qip_<service>` is two levels below)."""
    if service not in ALL_SERVICES:
        raise ValueError(f"unknown service {service!r}; choose from {', '.join(ALL_SERVICES)}")
    return source_dir(module_name(service)).parents[1]


@cache
def _project(service: str) -> dict[str, Any]:
    data = tomllib.loads((service_dir(service) / "pyproject.toml").read_text())
    return dict(data["project"])


def service_version(service: str) -> str:
    """The version in `services/<service>/pyproject.toml`."""
    return str(_project(service)["version"])


def service_dependencies(service: str) -> tuple[str, ...]:
    """Normalised distribution names (with extras, e.g. `qip-shared[imaging]`) it depends on."""
    names = []
    for requirement in _project(service).get("dependencies", []):
        match = re.match(r"\s*([A-Za-z0-9_.-]+)(\[[^\]]*\])?", requirement)
        if match:
            names.append(match.group(1).lower().replace("_", "-") + (match.group(2) or ""))
    return tuple(names)


def needs_pillow(service: str) -> bool:
    """Whether the service imports Pillow (directly, or via `qip-shared[imaging]`)."""
    return any(
        dep == "pillow" or (dep.startswith("qip-shared[") and "imaging" in dep)
        for dep in service_dependencies(service)
    )
