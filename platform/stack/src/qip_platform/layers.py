"""Lambda layers built offline-reproducibly for the Lambda architecture, with their bytecode.

Two layers: `pillow` (Pillow and pillow-heif, for the stages that decode images) and `deps`
(pydantic + pydantic-core, aws-lambda-powertools, aws-xray-sdk). Versions are the pins of the
workspace's `uv.lock`, so a layer holds exactly what the tests ran against; wheels are
manylinux_2_28 binaries for CPython 3.13 (`versions.LAMBDA_PYTHON`) on the chosen architecture
(`--only-binary :all:`: nothing is built here), then compiled to unchecked-hash pycs by a 3.13
interpreter (`bytecode.py`). boto3/botocore are not packaged: the Lambda Python runtime provides
them. `build_runtime_sdk` installs the same pins the same way into a directory of its own,
standing in for the runtime's copy when the artifacts are tested here (never deployed).

A built layer lives in `<cache>/<name>-<arch>-<key>/python/`, where `key` hashes the pins, the
platform, the Python version and the bytecode: a changed pin builds a new directory, an unchanged
one is reused without touching the network (the first build fills uv's wheel cache; later builds
of the same pins run with `--offline`).

    python -m qip_platform.layers --architecture arm64      # build (or reuse) both, print paths
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

from qip_platform.bytecode import LAYER_ROOT, compile_tree
from qip_platform.versions import LAMBDA_PYTHON, source_dir

BYTECODE = "unchecked-hash"
PLATFORMS = {"arm64": "aarch64-manylinux_2_28", "x86_64": "x86_64-manylinux_2_28"}
LAYERS: dict[str, tuple[str, ...]] = {
    "pillow": ("pillow", "pillow-heif"),
    "deps": (
        "pydantic",
        "pydantic-core",
        "annotated-types",
        "typing-extensions",
        "typing-inspection",
        "aws-lambda-powertools",
        "jmespath",
        "aws-xray-sdk",
        "wrapt",
    ),
}
# What the Lambda Python runtime provides (`/var/runtime`): installed only to test the artifacts.
RUNTIME_SDK: tuple[str, ...] = (
    "boto3",
    "botocore",
    "s3transfer",
    "jmespath",
    "python-dateutil",
    "six",
    "urllib3",
)
RUNTIME_SDK_NAME = "runtime-sdk"


class LayerBuildError(RuntimeError):
    """A layer could not be built (no uv, no wheel for the platform, no index and no cache)."""


@dataclass(frozen=True)
class LayerDirs:
    """Asset directories (each holding `python/`) of the two layers."""

    pillow: Path
    deps: Path


def repo_root() -> Path:
    """The workspace root (holds `uv.lock`), found from the installed platform package."""
    return source_dir("qip_platform").parents[3]


def default_cache_dir() -> Path:
    """`$QIP_LAYER_CACHE`, else `platform/stack/build/layers` (git-ignored)."""
    configured = os.environ.get("QIP_LAYER_CACHE")
    return (
        Path(configured) if configured else repo_root() / "platform" / "stack" / "build" / "layers"
    )


def locked_versions(lock_file: Path, names: tuple[str, ...]) -> dict[str, str]:
    """The version `uv.lock` pins for each distribution name."""
    lock = tomllib.loads(lock_file.read_text())
    found = {p["name"]: p["version"] for p in lock.get("package", []) if p["name"] in names}
    missing = sorted(set(names) - set(found))
    if missing:
        raise LayerBuildError(f"{lock_file} pins no version of: {', '.join(missing)}")
    return {name: found[name] for name in names}


def requirements(layer: str, lock_file: Path | None = None) -> list[str]:
    """`name==version` lines of a layer (or of `RUNTIME_SDK_NAME`), pinned by the lock file."""
    names = RUNTIME_SDK if layer == RUNTIME_SDK_NAME else LAYERS[layer]
    pins = locked_versions(lock_file or repo_root() / "uv.lock", names)
    return [f"{name}=={version}" for name, version in pins.items()]


def layer_key(layer: str, pins: list[str], architecture: str) -> str:
    """A short hash naming one exact build (pins, platform, Python, bytecode)."""
    spec = {
        "layer": layer,
        "pins": pins,
        "platform": PLATFORMS[architecture],
        "python": LAMBDA_PYTHON,
        "bytecode": BYTECODE,
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def _uv_install(pins: list[str], target: Path, architecture: str, *, offline: bool) -> None:
    uv = shutil.which("uv")
    if uv is None:
        raise LayerBuildError("uv is not on PATH (python3 -m pip install uv)")
    command = [
        uv, "pip", "install", "--quiet", "--no-deps", "--only-binary", ":all:",
        "--target", str(target), "--python-platform", PLATFORMS[architecture],
        "--python-version", LAMBDA_PYTHON, "--link-mode", "copy", *pins,
    ]  # fmt: skip
    if offline:
        command.append("--offline")
    # Bytecode is compiled afterwards by the runtime's Python, not by uv with this machine's.
    env = {k: v for k, v in os.environ.items() if k != "UV_COMPILE_BYTECODE"}
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise LayerBuildError(f"uv pip install failed for {' '.join(pins)}:\n{result.stderr}")


def build_runtime_sdk(architecture: str = "x86_64", cache_dir: Path | None = None) -> Path:
    """boto3 and its dependencies as the Lambda runtime provides them (for tests, not deployed)."""
    return build_layer(RUNTIME_SDK_NAME, architecture, cache_dir)


def build_layer(layer: str, architecture: str = "arm64", cache_dir: Path | None = None) -> Path:
    """Build (or reuse) one layer and return its asset directory (holding `python/`)."""
    if architecture not in PLATFORMS:
        raise ValueError(
            f"unknown architecture {architecture!r}; choose from {', '.join(PLATFORMS)}"
        )
    pins = requirements(layer)
    cache = cache_dir or default_cache_dir()
    final = cache / f"{layer}-{architecture}-{layer_key(layer, pins, architecture)}"
    if (final / "python").is_dir():
        return final
    cache.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{layer}-", dir=cache))
    try:
        try:
            _uv_install(pins, staging / "python", architecture, offline=True)
        except LayerBuildError:
            _uv_install(pins, staging / "python", architecture, offline=False)
        # Console scripts embed this machine's interpreter path: useless there, not reproducible.
        shutil.rmtree(staging / "python" / "bin", ignore_errors=True)
        compile_tree(staging / "python", LAYER_ROOT)
        staging.rename(final)  # atomic: a half-built layer is never picked up
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final


def ensure_layers(architecture: str = "arm64", cache_dir: Path | None = None) -> LayerDirs:
    """Both layers for an architecture, built on first use and reused afterwards."""
    return LayerDirs(
        pillow=build_layer("pillow", architecture, cache_dir),
        deps=build_layer("deps", architecture, cache_dir),
    )


def main(argv: list[str] | None = None) -> int:
    """Command line: build the layers and print their directories."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--architecture", choices=sorted(PLATFORMS), default="arm64")
    parser.add_argument("--cache-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    dirs = ensure_layers(args.architecture, args.cache_dir)
    print(f"pillow {dirs.pillow}\ndeps {dirs.deps}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
