"""The local system needs no CDK: `qip process` neither installs nor imports it."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[4]
CDK_DISTRIBUTIONS = {"aws-cdk-lib", "jsii", "cdk-nag", "constructs"}
CDK_MODULES = ("aws_cdk", "jsii", "cdk_nag", "constructs", "qip_platform")


def _runtime_closure(lock: dict, root: str) -> set[str]:
    """Every distribution `root` installs by its dependencies (no extras, no dev groups)."""
    packages = {package["name"]: package for package in lock["package"]}
    seen: set[str] = set()
    pending = [root]
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        pending.extend(dep["name"] for dep in packages[name].get("dependencies", []))
    return seen


def test_the_run_command_installs_no_cdk() -> None:
    lock = tomllib.loads((REPO / "uv.lock").read_text())
    workspace_root = _runtime_closure(lock, "qip-workspace")
    assert "qip-local" in workspace_root  # `uv run qip` finds the command
    assert not workspace_root & CDK_DISTRIBUTIONS
    # Sanity: the walk does see the CDK where it is a dependency.
    assert "aws-cdk-lib" in _runtime_closure(lock, "qip-platform")


def test_qip_process_imports_no_cdk_module(tmp_path: Path) -> None:
    examples = REPO / "examples"
    script = (
        "import sys\n"
        "from qip_local.cli import app\n"
        "try:\n"
        f"    app(['process', {str(examples)!r}, '--json', '--retry-scale', '0.01'])\n"
        "except SystemExit as exit_:\n"
        "    code = exit_.code\n"
        f"loaded = sorted(m for m in sys.modules if m.split('.')[0] in {CDK_MODULES!r})\n"
        "print('LOADED', loaded, file=sys.stderr)\n"
        "sys.exit(code)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "LOADED []" in result.stderr, result.stderr[-2000:]
