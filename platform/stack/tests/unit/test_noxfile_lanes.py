"""`nox -s all`'s lanes: every suite runs once, failures keep their suite and exit code."""

from __future__ import annotations

import importlib.util
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

pytest.importorskip("nox")  # in the workspace's dev group: `nox -s all` has it

NOXFILE = Path(__file__).resolve().parents[4] / "noxfile.py"


@pytest.fixture(scope="module")
def noxfile() -> Iterator[ModuleType]:
    spec = importlib.util.spec_from_file_location("qip_noxfile", NOXFILE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while being made
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


class FakeSession:
    """What the lanes use of a nox session: its environment, bin, venv and log."""

    def __init__(self, venv: Path) -> None:
        self.env: dict[str, str | None] = {"QIP_LANE_TEST": "set", "QIP_LANE_DROPPED": None}
        self.bin = str(Path(sys.executable).parent)
        self.virtualenv = SimpleNamespace(location=str(venv))
        self.lines: list[str] = []
        self.lock = threading.Lock()

    def log(self, message: str) -> None:
        with self.lock:
            self.lines.append(message)


def _python(code: str) -> tuple[str, ...]:
    return (sys.executable, "-c", code)


def test_each_suite_runs_once_and_failures_keep_their_exit_codes(
    noxfile: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QIP_LANE_DROPPED", "from outside")
    marks = tmp_path / "marks"
    marks.mkdir()
    suites = [
        noxfile.Suite(f"ok{i}", (_python(f"open({str(marks / str(i))!r}, 'x').close()"),))
        for i in range(5)
    ]
    suites += [
        noxfile.Suite("missing", (("qip-no-such-command",),)),
        noxfile.Suite(
            "stops",
            (_python("print('first')"), _python("raise SystemExit(3)"), _python("print('never')")),
        ),
        noxfile.Suite(
            "env",
            (
                _python(
                    "import os; assert os.environ['QIP_LANE_TEST'] == 'set'; "
                    "assert 'QIP_LANE_DROPPED' not in os.environ; print(os.environ['VIRTUAL_ENV'])"
                ),
            ),
        ),
    ]
    session = FakeSession(tmp_path)
    outcomes = noxfile._run_in_lanes(session, suites, 3)
    by_name = {o.suite.name: o for o in outcomes}
    assert sorted(by_name) == sorted(s.name for s in suites)  # each once, none lost
    assert len(outcomes) == len(suites)
    assert sorted(p.name for p in marks.iterdir()) == ["0", "1", "2", "3", "4"]
    assert by_name["missing"].returncode == 127
    assert "qip-no-such-command" in by_name["missing"].output
    assert by_name["stops"].returncode == 3
    assert "first" in by_name["stops"].output
    assert "never" not in by_name["stops"].output
    assert by_name["env"].returncode == 0, by_name["env"].output
    assert str(tmp_path) in by_name["env"].output
    # Each suite's output is printed whole between its two marker lines.
    assert session.lines.count("==> stops") == 1
    assert "<== stops FAILED (exit 3) in 0 s" in session.lines


def test_the_longest_measured_suite_starts_first_and_lint_is_two_suites(noxfile: Any) -> None:
    names = [suite.name for suite in noxfile._all_suites([])]
    assert names[0] == "system"
    assert {"lint", "mypy", "versions", "local", "reliability", "artifacts"} <= set(names)
    seconds = [noxfile.SUITE_SECONDS.get(name, 0.0) for name in names]
    assert seconds == sorted(seconds, reverse=True)
    passed_on = next(s for s in noxfile._all_suites(["-x"]) if s.name == "pipeline")
    assert passed_on.commands == (("pytest", "platform/pipeline/tests", "-x"),)


def test_the_table_totals_pytest_counts(noxfile: Any, capsys: pytest.CaptureFixture[str]) -> None:
    suite = noxfile.Suite("a", ())
    outcomes = [
        noxfile.Outcome(suite, 0, 1.0, 1.0, "== 3 passed, 2 warnings in 1.20s ==\n"),
        noxfile.Outcome(suite, 1, 1.0, 1.0, "1 failed, 4 passed, 1 skipped, 2 errors in 0.5s\n"),
        noxfile.Outcome(suite, 1, 1.0, 1.0, "sizes: too long\n"),
    ]
    noxfile._print_outcomes(FakeSession(Path()), outcomes)
    assert capsys.readouterr().out.splitlines()[-1] == "tests: 7 passed, 3 failed, 1 skipped"
