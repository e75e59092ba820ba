"""The size check: modules, classes and functions over their limits, against a ceiling list."""

from __future__ import annotations

from pathlib import Path

from qip_platform import sizes


def _write(root: Path, lines: int) -> None:
    module = root / "shared" / "src" / "qip_shared" / "big.py"
    module.parent.mkdir(parents=True, exist_ok=True)
    body = "\n".join(f"    x{i} = {i}" for i in range(lines))
    module.write_text(f"def long():\n{body}\n\n\ndef short():\n    return 1\n")


def test_a_function_over_the_limit_is_found_and_fails(tmp_path: Path) -> None:
    _write(tmp_path, 85)
    found = [(unit, kind, size) for unit, kind, size, _ in sizes.oversized(tmp_path)]
    assert found == [("shared/src/qip_shared/big.py::long", "function", 86)]
    assert sizes.main(["--root", str(tmp_path)]) == 1


def test_a_listed_unit_may_not_grow_and_a_fixed_one_must_leave_the_list(
    tmp_path: Path, monkeypatch
) -> None:
    unit = "shared/src/qip_shared/big.py::long"
    _write(tmp_path, 85)
    monkeypatch.setattr(sizes, "KNOWN", {unit: 86})
    assert sizes.main(["--root", str(tmp_path)]) == 0
    _write(tmp_path, 90)
    assert sizes.main(["--root", str(tmp_path)]) == 1
    _write(tmp_path, 10)
    assert sizes.main(["--root", str(tmp_path)]) == 1
