"""Checks on built assets: cpython-313 bytecode for every module, and no test or CDK code shipped.

    python -m qip_platform.artifacts platform/stack/cdk.out    # every Python asset of a synth

A function bundle holds packages at its root (`/var/task`); a layer holds them under `python/`
(`/opt/python`). Both must carry, for each `.py`, an unchecked-hash pyc of the runtime's Python.
A bundle must also hold no module that is build- or test-time only, and import nothing of it.
"""

from __future__ import annotations

import argparse
import ast
import subprocess
import sys
from functools import cache
from pathlib import Path

from qip_platform.bytecode import lambda_python
from qip_platform.versions import LAMBDA_PYTHON

# Top-level packages a function never imports: the CDK, test and mocking tools.
BUILD_TIME_PACKAGES = frozenset(
    {"aws_cdk", "constructs", "jsii", "cdk_nag", "pytest", "_pytest", "moto", "hypothesis"}
)
# Modules that are build- or test-time only, by dotted name.
BUILD_TIME_MODULES = ("qip_shared.cdk", "qip_shared.testing")
# pyc header flags (PEP 552): bit 0 hash-based, bit 1 check_source. Unchecked hash = 0b01.
UNCHECKED_HASH_FLAGS = 0b01
PYC_TAG = "cpython-" + LAMBDA_PYTHON.replace(".", "")


@cache
def magic_number() -> bytes:
    """The pyc magic number of the runtime's Python (asked of that interpreter)."""
    script = "import importlib.util as u; print(u.MAGIC_NUMBER.hex())"
    done = subprocess.run(  # noqa: S603
        [str(lambda_python()), "-I", "-c", script],
        capture_output=True,
        text=True,
        check=True,
    )
    return bytes.fromhex(done.stdout.strip())


def package_root(asset: Path) -> Path:
    """Where the importable code of an asset starts: `python/` for a layer, else the asset."""
    layer = asset / "python"
    return layer if layer.is_dir() else asset


def module_names(root: Path) -> list[str]:
    """Dotted names of every `.py` module under `root` (sorted)."""
    names = []
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names.append(".".join(parts))
    return sorted(n for n in names if n)


def bytecode_problems(root: Path) -> list[str]:
    """Each `.py` under `root` without an unchecked-hash pyc of the runtime's Python."""
    magic = magic_number()
    problems = []
    for source in sorted(root.rglob("*.py")):
        pyc = source.parent / "__pycache__" / f"{source.stem}.{PYC_TAG}.pyc"
        relative = source.relative_to(root)
        if not pyc.is_file():
            problems.append(f"{relative}: no {PYC_TAG} bytecode")
            continue
        header = pyc.read_bytes()[:8]
        if header[:4] != magic:
            problems.append(f"{relative}: bytecode of another Python (magic {header[:4].hex()})")
        elif int.from_bytes(header[4:8], "little") != UNCHECKED_HASH_FLAGS:
            problems.append(f"{relative}: bytecode is not unchecked-hash")
    return problems


def _imported_packages(source: Path) -> set[str]:
    tree = ast.parse(source.read_bytes(), filename=str(source))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found


def build_time_problems(root: Path) -> list[str]:
    """Build- or test-time modules under `root`, and modules importing build-time packages."""
    problems = []
    for name in module_names(root):
        last = name.rsplit(".", 1)[-1]
        if last == "construct" or last.startswith("test_") or last == "conftest":
            problems.append(f"{name}: a construct or test module")
        elif any(name == m or name.startswith(m + ".") for m in BUILD_TIME_MODULES):
            problems.append(f"{name}: build- or test-time only")
    for source in sorted(root.rglob("*.py")):
        imported = sorted(_imported_packages(source) & BUILD_TIME_PACKAGES)
        if imported:
            problems.append(f"{source.relative_to(root)}: imports {', '.join(imported)}")
    return problems


def asset_problems(asset: Path) -> list[str]:
    """Everything wrong with one bundle or layer directory (empty: it may ship)."""
    root = package_root(asset)
    problems = bytecode_problems(root)
    if root == asset:  # a function bundle: only what the function runs
        problems += build_time_problems(root)
    return problems


def python_assets(assembly: Path) -> list[Path]:
    """The asset directories of a cloud assembly that hold Python code."""
    return sorted(d for d in assembly.glob("asset.*") if d.is_dir() and next(d.rglob("*.py"), None))


def main(argv: list[str] | None = None) -> int:
    """Command line: check every Python asset of a cloud assembly; exit 1 on any problem."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("assembly", type=Path, help="the cdk.out directory")
    args = parser.parse_args(argv)
    assets = python_assets(args.assembly)
    if not assets:
        print(f"error: no Python assets under {args.assembly}", file=sys.stderr)
        return 1
    failed = 0
    for asset in assets:
        kind = "layer" if package_root(asset) != asset else "bundle"
        problems = asset_problems(asset)
        modules = len(module_names(package_root(asset)))
        print(f"{'FAIL' if problems else 'ok'}  {kind:6} {asset.name} ({modules} modules)")
        for problem in problems[:20]:
            print(f"      {problem}")
        failed += bool(problems)
    print(f"{len(assets) - failed}/{len(assets)} assets hold {PYC_TAG} bytecode and no build code")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
