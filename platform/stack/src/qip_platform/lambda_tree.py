"""A function's real artifacts unpacked as Lambda lays them out (for the artifact tests and bench).

Its bundle (`bundle.bundle_service`) and its layers (`layers.build_layer`) are zipped as CDK
uploads them and unzipped into `<root>/var/task` and `<root>/opt` (layers merged in the function's
order, a later one winning a clash); boto3 pinned by `uv.lock` stands in for the runtime's own in
`<root>/var/runtime`. `import_path` is the `sys.path` Lambda's Python bootstrap gives a handler.
"""

from __future__ import annotations

import os
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

from qip_platform import layers
from qip_platform.bundle import bundle_service
from qip_platform.versions import LAMBDA_PYTHON, needs_pillow

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def zip_tree(root: Path, archive: Path) -> Path:
    """Zip a directory as CDK zips an asset: sorted entries, fixed dates, deflated."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                info = zipfile.ZipInfo(path.relative_to(root).as_posix(), ZIP_EPOCH)
                info.external_attr = (path.stat().st_mode & 0o777) << 16
                out.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED)
    return archive


def tree_size(root: Path) -> int:
    """Bytes of the regular files under `root`."""
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def _link_or_copy(source: str, target: str) -> None:
    # The runtime's boto3 never changes under a test: a hard link saves copying 37 MB.
    try:
        os.link(source, target)
    except OSError:  # another filesystem
        shutil.copy2(source, target)


@dataclass(frozen=True)
class LambdaTree:
    """One function's unpacked artifacts: `var/task`, `opt` (its layers), `var/runtime`."""

    service: str
    root: Path
    layers: tuple[str, ...]
    bundle_zip_bytes: int

    @property
    def task(self) -> Path:
        """`/var/task`: the function's bundle."""
        return self.root / "var" / "task"

    @property
    def opt(self) -> Path:
        """`/opt`: the function's layers, merged."""
        return self.root / "opt"

    @property
    def runtime(self) -> Path:
        """`/var/runtime`: the runtime's boto3."""
        return self.root / "var" / "runtime"

    def task_path(self) -> list[str]:
        """Lambda's import path before the standard library: the code, then the layers."""
        site = self.opt / "python" / "lib" / f"python{LAMBDA_PYTHON}" / "site-packages"
        return [str(self.task), str(site), str(self.opt / "python")]

    def bundle_bytes(self) -> int:
        """The bundle, unzipped."""
        return tree_size(self.task)

    def unzipped_bytes(self) -> int:
        """Bundle + layers, unzipped (what Lambda's 250 MB limit counts)."""
        return tree_size(self.task) + tree_size(self.opt)


def unpack_functions(
    services: tuple[str, ...], work: Path, architecture: str = "x86_64"
) -> dict[str, LambdaTree]:
    """Build (layers: or reuse), zip and unpack every service's artifacts under `work`."""
    zips = work / "zips"
    zips.mkdir(parents=True, exist_ok=True)
    layer_zips = {
        name: zip_tree(layers.build_layer(name, architecture), zips / f"{name}.zip")
        for name in ("deps", "pillow")
    }
    sdk = layers.build_runtime_sdk(architecture) / "python"
    trees: dict[str, LambdaTree] = {}
    for service in services:
        bundle = zip_tree(bundle_service(service, work / "bundles"), zips / f"{service}.zip")
        uses = ("deps", "pillow") if needs_pillow(service) else ("deps",)
        tree = LambdaTree(service, work / "lambda" / service, uses, bundle.stat().st_size)
        if tree.root.exists():
            shutil.rmtree(tree.root)
        with zipfile.ZipFile(bundle) as archive:
            archive.extractall(tree.task)
        for layer in uses:
            with zipfile.ZipFile(layer_zips[layer]) as archive:
                archive.extractall(tree.opt)
        shutil.copytree(sdk, tree.runtime, copy_function=_link_or_copy)
        trees[service] = tree
    return trees
