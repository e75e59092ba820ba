"""The version-bump check on a small workspace in a temporary git repository."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from qip_platform.affected import workspace_packages
from qip_platform.bumps import main, missing_bumps

ROOT_PYPROJECT = '[tool.uv.workspace]\nmembers = ["shared", "services/*"]\n'


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=root, check=True, capture_output=True, text=True
    ).stdout.strip()


def _package(root: Path, directory: str, name: str, version: str, deps: list[str]) -> None:
    folder = root / directory
    (folder / "src" / name.replace("-", "_")).mkdir(parents=True, exist_ok=True)
    (folder / "src" / name.replace("-", "_") / "__init__.py").write_text('"""code"""\n')
    listed = ", ".join(f'"{d}"' for d in deps)
    (folder / "pyproject.toml").write_text(
        f'[project]\nname = "{name}"\nversion = "{version}"\ndependencies = [{listed}]\n'
    )


def _set_version(root: Path, directory: str, version: str, changelog: str | None) -> None:
    manifest = root / directory / "pyproject.toml"
    text = manifest.read_text()
    start = text.index('version = "')
    end = text.index('"', start + len('version = "'))
    manifest.write_text(f'{text[:start]}version = "{version}{text[end:]}')
    if changelog is not None:
        (root / directory / "CHANGELOG.md").write_text(changelog)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """shared 0.1.0 <- resize 0.1.0, and upload-url 0.1.0 (no dependency), committed as base."""
    (tmp_path / "pyproject.toml").write_text(ROOT_PYPROJECT)
    _package(tmp_path, "shared", "qip-shared", "0.1.0", [])
    _package(tmp_path, "services/resize", "qip-resize", "0.1.0", ["qip-shared"])
    _package(tmp_path, "services/upload-url", "qip-upload-url", "0.1.0", [])
    _git(tmp_path, "init", "-q", "-b", "main")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "base")
    return tmp_path


def _missing(repo: Path) -> dict[str, str]:
    found = missing_bumps(repo, "main", workspace_packages(repo))
    return {entry.package: entry.problem for entry in found}


def test_nothing_changed_needs_nothing(repo: Path) -> None:
    assert _missing(repo) == {}


def test_a_dependency_change_needs_its_dependents_bumped(repo: Path) -> None:
    (repo / "shared" / "src" / "qip_shared" / "__init__.py").write_text('"""changed"""\n')
    assert set(_missing(repo)) == {"shared", "resize"}
    _set_version(repo, "shared", "0.1.1", "- 0.1.1: changed\n- 0.1.0: first\n")
    assert set(_missing(repo)) == {"resize"}
    _set_version(repo, "services/resize", "0.1.1", "- 0.1.1: shared 0.1.1\n")
    assert _missing(repo) == {}


def test_a_bump_needs_its_changelog_line(repo: Path) -> None:
    (repo / "services" / "upload-url" / "src" / "qip_upload_url" / "new.py").write_text("x = 1\n")
    _set_version(repo, "services/upload-url", "0.2.0", "- 0.1.0: first\n")
    assert "CHANGELOG" in _missing(repo)["upload-url"]
    _set_version(repo, "services/upload-url", "0.2.0", "- 0.2.0: new module\n")
    assert _missing(repo) == {}


def test_tests_and_docs_need_no_bump_and_a_lower_version_is_no_bump(repo: Path) -> None:
    (repo / "services" / "resize" / "tests").mkdir()
    (repo / "services" / "resize" / "tests" / "test_x.py").write_text("")
    (repo / "services" / "resize" / "README.md").write_text("docs\n")
    assert _missing(repo) == {}
    (repo / "services" / "resize" / "src" / "qip_resize" / "__init__.py").write_text("y = 2\n")
    _set_version(repo, "services/resize", "0.0.9", "- 0.0.9: down\n")
    assert _missing(repo) == {"resize": "code changed, version not bumped"}


def test_main_fails_listing_packages_and_skips_without_a_base(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "shared" / "src" / "qip_shared" / "__init__.py").write_text('"""changed"""\n')
    assert main(["main", "--root", str(repo)]) == 1
    assert "shared 0.1.0 -> 0.1.0: code changed" in capsys.readouterr().err
    assert main(["--root", str(repo)]) == 0  # no origin/main in this repository
    assert "skipped" in capsys.readouterr().out
    assert main(["no-such-ref", "--root", str(repo)]) == 2
