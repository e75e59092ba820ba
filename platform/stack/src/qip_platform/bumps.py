"""Versions mean something: a package whose code changed since a base ref must bump its version.

`nox -s versions [-- <base-ref>]`. A package's code is its `src/` and its `pyproject.toml`; a
change there, or in the code of a workspace package it depends on (transitively: `shared` ->
every service -> `platform`), requires a higher version than at the base and a line for the new
version in the package's `CHANGELOG.md` (`- <version>: what changed`). The default base is the
merge-base with `origin/main`; without one the check is skipped with a message. Standard library
only, like `affected.py`, so CI runs it before installing anything.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

try:
    from qip_platform.affected import Package, affected_packages, workspace_packages
except ImportError:  # run as a script (CI, before installing): its directory is on sys.path
    from affected import Package, affected_packages, workspace_packages  # type: ignore[no-redef]

DEFAULT_BASE = "origin/main"
CODE_PARTS = ("src/", "pyproject.toml")


@dataclass(frozen=True)
class Missing:
    """A package that needed a bump (or a changelog line) and does not have it."""

    package: str
    base_version: str | None
    version: str
    problem: str

    def __str__(self) -> str:
        was = self.base_version or "new"
        return f"{self.package} {was} -> {self.version}: {self.problem}"


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        ["git", *args],  # noqa: S607
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )


def merge_base(root: Path, ref: str) -> str | None:
    """The merge-base of `ref` and HEAD, or None when `ref` does not exist here."""
    answer = _git(root, "merge-base", ref, "HEAD")
    return answer.stdout.strip() or None if answer.returncode == 0 else None


def code_changes(root: Path, base: str, packages: Mapping[str, Package]) -> list[str]:
    """Changed paths (base...working tree) that are some package's code."""
    answer = _git(root, "diff", "--name-only", "--no-renames", base)
    if answer.returncode != 0:
        raise RuntimeError(f"git diff {base} failed: {answer.stderr.strip()}")
    changed = [line.strip() for line in answer.stdout.splitlines() if line.strip()]
    code_prefixes = [
        f"{package.directory.rstrip('/')}/{part}"
        for package in packages.values()
        for part in CODE_PARTS
    ]
    return [path for path in changed if path.startswith(tuple(code_prefixes))]


def version_at(root: Path, ref: str | None, directory: str) -> str | None:
    """The `[project] version` of `directory/pyproject.toml` at `ref` (None: working tree)."""
    if ref is None:
        text = (root / directory / "pyproject.toml").read_text()
    else:
        answer = _git(root, "show", f"{ref}:{directory}/pyproject.toml")
        if answer.returncode != 0:
            return None  # the package is new since the base
        text = answer.stdout
    return str(tomllib.loads(text)["project"]["version"])


def _release(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version.split("+", maxsplit=1)[0]))


def has_changelog_line(root: Path, directory: str, version: str) -> bool:
    """Whether `directory/CHANGELOG.md` has a `- <version>: ...` line."""
    path = root / directory / "CHANGELOG.md"
    if not path.is_file():
        return False
    pattern = re.compile(rf"^- {re.escape(version)}: \S")
    return any(pattern.match(line) for line in path.read_text().splitlines())


def missing_bumps(root: Path, base: str, packages: Mapping[str, Package]) -> list[Missing]:
    """Every package whose (or whose dependencies') code changed without a bump and a line."""
    missing = []
    for name in affected_packages(code_changes(root, base, packages), packages):
        directory = packages[name].directory
        before, now = version_at(root, base, directory), version_at(root, None, directory)
        assert now is not None
        if before is not None and _release(now) <= _release(before):
            missing.append(Missing(name, before, now, "code changed, version not bumped"))
        elif before != now and not has_changelog_line(root, directory, now):
            missing.append(Missing(name, before, now, f"no '- {now}: ...' line in CHANGELOG.md"))
    return missing


def main(argv: Iterable[str] | None = None) -> int:
    """Exit 1 listing the packages that need a bump; 0 when none does (or no base exists)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("base", nargs="?", default=None, help=f"default: {DEFAULT_BASE}")
    parser.add_argument("--root", type=Path, default=Path.cwd())
    args = parser.parse_args(list(argv) if argv is not None else None)
    root = args.root.resolve()
    ref = args.base or DEFAULT_BASE
    base = merge_base(root, ref)
    if base is None:
        if args.base:
            print(f"versions: base {ref!r} not found", file=sys.stderr)
            return 2
        print(f"versions: skipped, no {DEFAULT_BASE} here (pass a base ref to check)")
        return 0
    missing = missing_bumps(root, base, workspace_packages(root))
    for entry in missing:
        print(f"versions: {entry}", file=sys.stderr)
    if not missing:
        print(f"versions: every package changed since {ref} ({base[:12]}) is bumped")
    return 1 if missing else 0


if __name__ == "__main__":
    raise SystemExit(main())
