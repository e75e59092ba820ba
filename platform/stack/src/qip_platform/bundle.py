"""Function assets: each carries only its own package and `qip_shared`, with their bytecode.

Third-party code comes from the layers (see `layers.py`); boto3 from the Lambda runtime. Build-time
code never ships: each service's CDK `construct.py`, and `qip_shared`'s CDK base (`cdk.py`) and
test fixtures (`testing/`). The sources are compiled by the runtime's Python (`bytecode.py`).
"""

from __future__ import annotations

import fnmatch
import shutil
from collections.abc import Callable
from pathlib import Path

from qip_platform.bytecode import TASK_ROOT, compile_tree
from qip_platform.versions import module_name, source_dir

# Never shipped from any package: the build machine's bytecode and caches, CDK constructs.
NEVER_SHIPPED = ("__pycache__", "*.pyc", ".mypy_cache", "construct.py")
# Build- and test-time parts of a package, by path inside it (they import aws_cdk, moto, pytest).
BUILD_ONLY: dict[str, tuple[str, ...]] = {"qip_shared": ("cdk.py", "testing")}


def _ignore(
    package_root: Path, build_only: tuple[str, ...]
) -> Callable[[str, list[str]], set[str]]:
    """`copytree`'s ignore: what never ships, and the package's own build-only parts."""

    def ignore(directory: str, names: list[str]) -> set[str]:
        skipped = {n for n in names if any(fnmatch.fnmatch(n, p) for p in NEVER_SHIPPED)}
        if Path(directory).resolve() == package_root:
            skipped |= {n for n in names if n in build_only}
        return skipped

    return ignore


def bundle_service(service: str, out_root: Path) -> Path:
    """Build `out_root/<service>/` (`qip_<service>` + `qip_shared`, compiled) and return it."""
    target = out_root / service
    if target.exists():
        shutil.rmtree(target)  # stale files from an earlier bundle must not ship
    target.mkdir(parents=True)
    for module in (module_name(service), "qip_shared"):
        package_root = source_dir(module)
        ignore = _ignore(package_root, BUILD_ONLY.get(module, ()))
        shutil.copytree(package_root, target / module, ignore=ignore)
    compile_tree(target, TASK_ROOT)
    return target
