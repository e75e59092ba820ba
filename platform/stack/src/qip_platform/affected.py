"""Which packages a change affects, dependents included (`nox -s affected -- <git-ref>`).

A file inside a package's directory changes that package; a change to a package changes every
package that depends on it, transitively (`shared` -> every service -> `platform`, which depends
on all services). Workspace-wide files (lock file, root pyproject, noxfile, root conftest, CI)
change everything; anything else (docs, examples) changes nothing.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

GLOBAL_FILES = ("uv.lock", "pyproject.toml", "noxfile.py", "conftest.py")
GLOBAL_DIRS = (".github/", ".ci/")


@dataclass(frozen=True)
class Package:
    """A workspace member: its session name, its directory and the members it depends on."""

    name: str
    directory: str
    depends_on: frozenset[str] = frozenset()


def _owner(path: str, packages: Mapping[str, Package]) -> str | None:
    best: str | None = None
    for package in packages.values():
        prefix = package.directory.rstrip("/") + "/"
        if path.startswith(prefix) and (
            best is None or len(prefix) > len(packages[best].directory) + 1
        ):
            best = package.name
    return best


def affected_packages(changed: Iterable[str], packages: Mapping[str, Package]) -> list[str]:
    """The packages changed by these repository-relative paths, plus all their dependents."""
    hit: set[str] = set()
    for raw in changed:
        path = PurePosixPath(raw.strip()).as_posix()
        if not raw.strip():
            continue
        if path in GLOBAL_FILES or path.startswith(GLOBAL_DIRS):
            return list(packages)
        owner = _owner(path, packages)
        if owner is not None:
            hit.add(owner)
    return _with_dependents(hit, packages)


def _with_dependents(hit: set[str], packages: Mapping[str, Package]) -> list[str]:
    """`hit` and every package that depends on one of them, transitively, in workspace order."""
    dependents: dict[str, set[str]] = {name: set() for name in packages}
    for package in packages.values():
        for dependency in package.depends_on:
            if dependency in dependents:
                dependents[dependency].add(package.name)
    pending = list(hit)
    while pending:
        for dependent in dependents[pending.pop()]:
            if dependent not in hit:
                hit.add(dependent)
                pending.append(dependent)
    return [name for name in packages if name in hit]  # workspace order: shared first


def _session_name(distribution: str) -> str:
    return distribution.removeprefix("qip-")


def workspace_packages(root: Path) -> dict[str, Package]:
    """The workspace members of `root/pyproject.toml` with their in-workspace dependencies."""
    workspace = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["uv"]["workspace"]
    found: dict[str, tuple[str, list[str]]] = {}
    for pattern in workspace["members"]:
        for directory in sorted(root.glob(pattern)):
            manifest = directory / "pyproject.toml"
            if not manifest.is_file():
                continue
            project = tomllib.loads(manifest.read_text())["project"]
            requirements = [
                re.split(r"[\s\[<>=!~;]", r.strip(), maxsplit=1)[0].lower().replace("_", "-")
                for r in project.get("dependencies", [])
            ]
            found[project["name"]] = (directory.relative_to(root).as_posix(), requirements)
    packages = {
        _session_name(dist): Package(
            name=_session_name(dist),
            directory=directory,
            depends_on=frozenset(_session_name(r) for r in requirements if r in found),
        )
        for dist, (directory, requirements) in found.items()
    }
    # Dependencies first, so the output reads shared, services, platform.
    return dict(sorted(packages.items(), key=lambda item: (_depth(item[0], packages), item[0])))


def _depth(name: str, packages: Mapping[str, Package]) -> int:
    package = packages[name]
    return 1 + max((_depth(d, packages) for d in package.depends_on), default=-1)


def changed_files(ref: str, root: Path) -> list[str]:
    """Paths changed between `ref` (merge base) and the working tree's HEAD, renames as both."""
    result = subprocess.run(  # noqa: S603
        ["git", "diff", "--name-only", "--no-renames", f"{ref}...HEAD"],  # noqa: S607
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    return [line for line in result.stdout.splitlines() if line.strip()]


def main(argv: list[str] | None = None) -> int:
    """Print the affected packages, one a line (or `--json`)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("ref", nargs="?", default="origin/main", help="git ref to compare with")
    parser.add_argument("--root", type=Path, default=Path.cwd())
    parser.add_argument("--json", action="store_true", help="print a JSON list")
    parser.add_argument("--all", action="store_true", help="every package (no usable base ref)")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    packages = workspace_packages(root)
    names = (
        list(packages) if args.all else affected_packages(changed_files(args.ref, root), packages)
    )
    print(json.dumps(names) if args.json else "\n".join(names))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
