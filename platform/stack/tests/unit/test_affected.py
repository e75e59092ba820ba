"""`affected`: changed files -> changed packages, dependents included."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qip_platform.affected import (
    Package,
    affected_packages,
    changed_files,
    main,
    workspace_packages,
)

REPO = Path(__file__).resolve().parents[4]
SERVICES = (
    "validate",
    "metadata",
    "resize",
    "thumbnail",
    "archive",
    "trigger",
    "upload-url",
    "images-api",
    "sweeper",
)
GRAPH = {
    "shared": Package("shared", "shared"),
    **{s: Package(s, f"services/{s}", frozenset({"shared"})) for s in SERVICES},
    "pipeline": Package("pipeline", "platform/pipeline", frozenset({"shared"})),
    "local": Package("local", "platform/local", frozenset({"shared", "pipeline", *SERVICES})),
    "platform": Package("platform", "platform/stack", frozenset({"shared", "pipeline", *SERVICES})),
}


def test_a_service_change_affects_it_and_the_platform_only():
    changed = ["services/resize/src/qip_resize/core.py", "services/resize/tests/unit/test_x.py"]
    assert affected_packages(changed, GRAPH) == ["resize", "local", "platform"]


def test_a_shared_change_affects_everyone():
    assert affected_packages(["shared/src/qip_shared/keys.py"], GRAPH) == list(GRAPH)


def test_a_platform_change_affects_only_the_platform():
    assert affected_packages(["platform/stack/src/qip_platform/stack.py"], GRAPH) == ["platform"]


def test_a_definition_change_affects_both_its_users():
    changed = ["platform/pipeline/src/qip_pipeline/definition.py"]
    assert affected_packages(changed, GRAPH) == ["pipeline", "local", "platform"]


def test_docs_and_examples_affect_nothing():
    assert affected_packages(["docs/deploy.md", "README.md", "examples/a.jpg", ""], GRAPH) == []


@pytest.mark.parametrize(
    "path", ["uv.lock", "pyproject.toml", "noxfile.py", "conftest.py", ".github/workflows/ci.yml"]
)
def test_workspace_wide_files_affect_everything(path):
    assert affected_packages([path], GRAPH) == list(GRAPH)


def test_a_directory_prefix_is_not_a_package_match():
    graph = {**GRAPH, "upload": Package("upload", "services/upload", frozenset())}
    assert affected_packages(["services/upload-url/x.py"], graph) == [
        "upload-url",
        "local",
        "platform",
    ]


# Issue 5 (affected includes dependents): the result is closed under "depends on" and contains
# exactly the owners of the changed files plus their transitive dependents.
@given(st.lists(st.sampled_from([*(p.directory + "/x.py" for p in GRAPH.values()), "docs/a.md"])))
def test_result_is_the_dependents_closure_of_the_owners(paths):
    result = set(affected_packages(paths, GRAPH))
    owners = {
        p.name for p in GRAPH.values() for path in paths if path.startswith(p.directory + "/")
    }
    assert owners <= result
    for package in GRAPH.values():
        if package.depends_on & result:
            assert package.name in result
    if "shared" in owners:
        assert result == set(GRAPH)
    assert bool(result) == bool(owners)


def test_the_workspace_graph_is_read_from_the_pyprojects():
    packages = workspace_packages(REPO)
    assert set(packages) == set(GRAPH)
    order = list(packages)
    assert order[0] == "shared"
    assert order[-1] == "platform"
    for service in SERVICES:
        assert packages[service].directory == f"services/{service}"
        assert packages[service].depends_on == {"shared"}
    assert packages["platform"].depends_on >= {"pipeline", *SERVICES}
    assert packages["local"].depends_on >= {"pipeline", *SERVICES}


@pytest.fixture
def repo(tmp_path):
    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    git("config", "user.email", "t@example.com")
    git("config", "user.name", "t")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.uv.workspace]\nmembers = ["shared", "services/*"]\n'
    )
    for directory, name, deps in (
        ("shared", "qip-shared", []),
        ("services/resize", "qip-resize", ["qip-shared[imaging]", "pillow>=11"]),
        ("services/archive", "qip-archive", ["qip-shared"]),
    ):
        (tmp_path / directory).mkdir(parents=True)
        (tmp_path / directory / "pyproject.toml").write_text(
            f'[project]\nname = "{name}"\ndependencies = {deps!r}\n'.replace("'", '"')
        )
    git("add", ".")
    git("commit", "-q", "-m", "base")
    git("tag", "base")
    (tmp_path / "services/resize/core.py").write_text("x = 1\n")
    git("add", ".")
    git("commit", "-q", "-m", "resize")
    return tmp_path


def test_git_wrapper_and_command_line(repo, capsys):
    assert changed_files("base", repo) == ["services/resize/core.py"]
    assert main(["base", "--root", str(repo)]) == 0
    assert capsys.readouterr().out.split() == ["resize"]
    assert main(["HEAD", "--root", str(repo), "--json"]) == 0
    assert capsys.readouterr().out.strip() == "[]"
    assert main(["--all", "--root", str(repo)]) == 0
    assert capsys.readouterr().out.split() == ["shared", "archive", "resize"]
