"""Function bundles and layers: what ships, built reproducibly for the Lambda architecture."""

from __future__ import annotations

import hashlib
import py_compile
import shutil
import tomllib

import pytest

from qip_pipeline import names
from qip_platform import layers
from qip_platform.artifacts import asset_problems, module_names
from qip_platform.bundle import bundle_service
from qip_platform.versions import module_name


def _tree_digest(root):
    """Names, bytes and mtimes of every file and directory under `root`."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(str(path.stat().st_mtime_ns).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def test_function_bundles_hold_only_the_service_and_shared(tmp_path):
    for service in names.ALL_SERVICES:
        target = bundle_service(service, tmp_path)
        assert sorted(p.name for p in target.iterdir()) == sorted(
            [module_name(service), "qip_shared"]
        )
        assert (target / "qip_shared" / "config.py").is_file()
        assert not list(target.rglob("construct.py"))
        modules = module_names(target)
        assert "qip_shared.stage" in modules
        assert not [m for m in modules if m.startswith(("qip_shared.testing", "qip_shared.cdk"))]
        # cpython-313 unchecked-hash bytecode for every module; nothing imports CDK or test tools
        assert asset_problems(target) == []


def test_bundles_are_reproducible_wherever_they_are_built(tmp_path):
    first = bundle_service("trigger", tmp_path / "a")
    second = bundle_service("trigger", tmp_path / "elsewhere" / "b")
    assert list(first.rglob("*.cpython-313.pyc"))
    assert _tree_digest(first) == _tree_digest(second)


def test_the_asset_check_finds_build_code_and_wrong_bytecode(tmp_path):
    bundle = bundle_service("archive", tmp_path)
    (bundle / "qip_archive" / "helpers.py").write_text("import moto\n")
    stale = bundle / "qip_archive" / "stale.py"
    stale.write_text("X = 1\n")
    # Bytecode of this machine's Python under the runtime's tag: the header gives it away.
    pyc = stale.parent / "__pycache__" / "stale.cpython-313.pyc"
    py_compile.compile(str(stale), cfile=str(pyc))
    testing = bundle / "qip_shared" / "testing"
    testing.mkdir()
    (testing / "__init__.py").write_text("")
    problems = "\n".join(asset_problems(bundle))
    assert "qip_archive/helpers.py: no cpython-313 bytecode" in problems
    assert "qip_archive/helpers.py: imports moto" in problems
    assert "qip_archive/stale.py: bytecode of another Python" in problems
    assert "qip_shared.testing: build- or test-time only" in problems


def test_a_new_bundle_drops_stale_files(tmp_path):
    stale = bundle_service("resize", tmp_path) / "qip_resize" / "stale.py"
    stale.write_text("")
    bundle_service("resize", tmp_path)
    assert not stale.exists()


def test_layer_pins_come_from_the_lock_file():
    lock = tomllib.loads((layers.repo_root() / "uv.lock").read_text())
    locked = {p["name"]: p["version"] for p in lock["package"]}
    for layer, distributions in layers.LAYERS.items():
        pins = layers.requirements(layer)
        assert pins == [f"{name}=={locked[name]}" for name in distributions]
    assert "boto3" not in layers.LAYERS["deps"]  # the Lambda runtime provides it


def test_layer_key_changes_with_pins_and_architecture():
    pins = layers.requirements("pillow")
    key = layers.layer_key("pillow", pins, "arm64")
    assert key == layers.layer_key("pillow", list(pins), "arm64")
    assert key != layers.layer_key("pillow", pins, "x86_64")
    assert key != layers.layer_key("pillow", [*pins[:-1], "pillow==0.0.1"], "arm64")


@pytest.mark.skipif(shutil.which("uv") is None, reason="uv builds the layers")
def test_pillow_layer_builds_reproducibly_for_arm64(tmp_path):
    first = layers.build_layer("pillow", "arm64", tmp_path / "a")
    second = layers.build_layer("pillow", "arm64", tmp_path / "b")
    assert first.name == second.name
    assert _tree_digest(first) == _tree_digest(second)
    python = first / "python"
    assert list(python.glob("PIL/_imaging.cpython-313-aarch64-linux-gnu.so"))
    assert list(python.glob("_pillow_heif.cpython-313-aarch64-linux-gnu.so"))  # HEIF decoder
    assert not (python / "bin").exists()
    assert (python / "PIL" / "__pycache__" / "Image.cpython-313.pyc").is_file()
    assert asset_problems(first) == []
    # Reuse: a second call for the same pins returns the same directory without rebuilding.
    marker = python / "reused"
    marker.write_text("")
    assert layers.build_layer("pillow", "arm64", tmp_path / "a") == first
    assert marker.exists()


def test_unknown_architecture_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown architecture"):
        layers.build_layer("pillow", "sparc", tmp_path)
