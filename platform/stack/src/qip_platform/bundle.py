"""Function assets: each carries only its own package and `qip_shared`, copied from source.

Third-party code comes from the layers (see `layers.py`); boto3 from the Lambda runtime.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from qip_platform.versions import module_name, source_dir

# Never shipped: bytecode of the build machine, type markers, and the CDK construct itself
# (it imports aws_cdk, which the function does not have).
_EXCLUDE = shutil.ignore_patterns("__pycache__", "*.pyc", "construct.py", ".mypy_cache")


def bundle_service(service: str, out_root: Path) -> Path:
    """Copy `qip_<service>` and `qip_shared` into `out_root/<service>/` and return that dir."""
    target = out_root / service
    if target.exists():
        shutil.rmtree(target)  # stale files from an earlier bundle must not ship
    target.mkdir(parents=True)
    for module in (module_name(service), "qip_shared"):
        shutil.copytree(source_dir(module), target / module, ignore=_EXCLUDE)
    return target
