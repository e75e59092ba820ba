"""Deployment size: each function's package and the layers, unzipped and zipped, vs Lambda limits.

Uses the platform's own builders (`qip_platform.bundle.bundle_service`,
`qip_platform.layers.build_layer`), so what is measured is what `cdk deploy` uploads.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

# https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
LIMIT_ZIPPED_UPLOAD = 50 * 1024 * 1024
LIMIT_UNZIPPED_TOTAL = 250 * 1024 * 1024  # function + all its layers


def tree_size(root: Path) -> int:
    """Bytes of all regular files under `root`."""
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def zipped_size(root: Path) -> int:
    """Bytes of `root` zipped with deflate (what CDK uploads for an asset directory)."""
    with tempfile.TemporaryDirectory(prefix="qip-bench-zip-") as tmp:
        target = Path(tmp) / "asset.zip"
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(root.rglob("*")):
                if path.is_file():
                    archive.write(path, path.relative_to(root))
        return target.stat().st_size


def measure_sizes(
    services: tuple[str, ...], layer_cache: Path, architecture: str
) -> dict[str, Any]:
    """Sizes of every function package, both layers, and each function's total."""
    from qip_platform.bundle import bundle_service  # noqa: PLC0415
    from qip_platform.layers import LayerBuildError, build_layer  # noqa: PLC0415
    from qip_platform.versions import needs_pillow  # noqa: PLC0415

    layers: dict[str, dict[str, int]] = {}
    layer_error = None
    for layer in ("deps", "pillow"):
        try:
            directory = build_layer(layer, architecture, layer_cache)
        except LayerBuildError as err:  # no network and no cache: say so, measure the rest
            layer_error = str(err).splitlines()[0]
            continue
        layers[layer] = {"unzipped": tree_size(directory), "zipped": zipped_size(directory)}
    functions: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="qip-bench-bundle-") as tmp:
        for service in services:
            directory = bundle_service(service, Path(tmp))
            uses = ["deps", *(["pillow"] if needs_pillow(service) else [])]
            own = tree_size(directory)
            functions[service] = {
                "unzipped": own,
                "zipped": zipped_size(directory),
                "layers": uses,
                "total_unzipped": own + sum(layers.get(n, {}).get("unzipped", 0) for n in uses),
            }
    return {
        "architecture": architecture,
        "layers": layers,
        "functions": functions,
        "layer_error": layer_error,
        "limits": {"zipped_upload": LIMIT_ZIPPED_UPLOAD, "unzipped_total": LIMIT_UNZIPPED_TOTAL},
        "layer_cache": os.fspath(layer_cache),
    }
