"""Function bundles and layers: what ships, built reproducibly for the Lambda architecture."""

from __future__ import annotations

import hashlib
import shutil
import tomllib

import pytest

from qip_pipeline import names
from qip_platform import layers
from qip_platform.bundle import bundle_service
from qip_platform.versions import module_name


def _tree_digest(root):
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def test_function_bundles_hold_only_the_service_and_shared(tmp_path):
    for service in names.ALL_SERVICES:
        target = bundle_service(service, tmp_path)
        assert sorted(p.name for p in target.iterdir()) == sorted(
            [module_name(service), "qip_shared"]
        )
        assert (target / "qip_shared" / "config.py").is_file()
        assert not list(target.rglob("__pycache__"))
        assert not list(target.rglob("construct.py"))


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
    assert list(python.glob("PIL/_imaging.cpython-314-aarch64-linux-gnu.so"))
    assert list(python.glob("_pillow_heif.cpython-314-aarch64-linux-gnu.so"))  # HEIF decoder
    assert not (python / "bin").exists()
    assert not list(python.rglob("*.pyc"))
    # Reuse: a second call for the same pins returns the same directory without rebuilding.
    marker = python / "reused"
    marker.write_text("")
    assert layers.build_layer("pillow", "arm64", tmp_path / "a") == first
    assert marker.exists()


def test_unknown_architecture_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown architecture"):
        layers.build_layer("pillow", "sparc", tmp_path)
