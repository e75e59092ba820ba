"""Units stay small: no source module over 450 lines, no class over 300, no function over 80.

`python platform/stack/src/qip_platform/sizes.py` (run by `nox -s lint`). Source modules are the
`src/` trees of every workspace package; tests and benchmarks are not checked. `KNOWN` lists the
units over a limit today, each with its limit-breaking size, so the check fails on any new one
and on any listed one that grows; shrink one and remove its line. Standard library only.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterator
from pathlib import Path

MODULE_LINES = 450
CLASS_LINES = 300
FUNCTION_LINES = 80
SOURCE_GLOBS = ("shared/src/**/*.py", "services/*/src/**/*.py", "platform/*/src/**/*.py")
# Over a limit today (unit -> its size): debt with a ceiling; each line goes when its unit is split.
KNOWN: dict[str, int] = {}


def _spans(tree: ast.Module) -> Iterator[tuple[str, str, int]]:
    """(kind, qualified name, lines) of every class and function, nested ones included."""
    stack: list[tuple[ast.AST, str]] = [(tree, "")]
    while stack:
        node, prefix = stack.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{prefix}{child.name}"
                kind = "class" if isinstance(child, ast.ClassDef) else "function"
                end = child.end_lineno or child.lineno
                start = min([child.lineno, *(d.lineno for d in child.decorator_list)])
                yield kind, name, end - start + 1
                stack.append((child, f"{name}."))


def oversized(root: Path) -> list[tuple[str, str, int, int]]:
    """(unit, kind, lines, limit) of every unit over its limit."""
    found = []
    files = sorted({p for pattern in SOURCE_GLOBS for p in root.glob(pattern)})
    for path in files:
        relative = path.relative_to(root).as_posix()
        text = path.read_text()
        lines = len(text.splitlines())
        if lines > MODULE_LINES:
            found.append((relative, "module", lines, MODULE_LINES))
        for kind, name, size in _spans(ast.parse(text)):
            limit = CLASS_LINES if kind == "class" else FUNCTION_LINES
            if size > limit:
                found.append((f"{relative}::{name}", kind, size, limit))
    return found


def main(argv: list[str] | None = None) -> int:
    """Exit 1 listing new or grown oversized units (and listed ones that are gone or shrank)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=Path.cwd())
    args = parser.parse_args(argv)
    problems = []
    seen = set()
    for unit, kind, size, limit in oversized(args.root.resolve()):
        seen.add(unit)
        known = KNOWN.get(unit)
        if known is None or size > known:
            problems.append(f"{unit}: {kind} of {size} lines (limit {limit})")
    problems += [
        f"{unit}: now within its limit, remove it from KNOWN" for unit in set(KNOWN) - seen
    ]
    for problem in problems:
        print(f"sizes: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
