"""`qip` starts the embedded AWS's process before its imports: used by `qip process`, else stopped.

Each test marks the processes it starts with an environment variable (inherited by the embedded
AWS's process, its workers' template and the workers) and looks for them in /proc afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from qip_local import cli, launcher
from qip_local.runtime import LocalConfig, LocalRuntime

REPO = Path(__file__).resolve().parents[4]
PHOTO = REPO / "examples" / "photo.webp"
MARKER = "QIP_LAUNCHER_TEST_MARKER"


@pytest.fixture
def marker(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A value of MARKER in this test's environment (and its processes'); none left after."""
    value = uuid.uuid4().hex
    monkeypatch.setenv(MARKER, value)
    yield value
    launcher.stop_unused()
    for pid in _marked(value):  # a failed test's leftovers, not the next test's problem
        os.kill(pid, 9)


def _marked(value: str) -> set[int]:
    """Live processes whose environment holds MARKER=value."""
    needle = f"{MARKER}={value}".encode()
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            environment = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if state != "Z" and needle in environment:
            found.add(int(entry.name))
    return found


def _wait_for_template(value: str) -> set[int]:
    """The prestarted process and the template it forked, once both exist."""
    deadline = time.monotonic() + 60
    while len(found := _marked(value)) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    return found


def _qip(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "qip"
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "qip_local.cli"]
    return subprocess.run(
        [*command, *args], cwd=cwd, capture_output=True, text=True, timeout=240, check=False
    )


@pytest.mark.parametrize(
    ("args", "starts"),
    [
        (["process", "examples/"], True),
        (["process", "a.jpg", "--json", "--out", "/tmp/x"], True),
        (["process", "examples/", "--endpoint", "http://127.0.0.1:4566"], False),
        (["process", "examples/", "--endpoint=http://127.0.0.1:4566"], False),
        (["process", "examples/", "--outputs", "outputs.json"], False),
        (["process", "--help"], False),
        (["serve"], False),
        (["status", "uploads/x.png"], False),
        ([], False),
    ],
)
def test_only_a_local_process_starts_the_embedded_aws_early(args: list[str], starts: bool) -> None:
    assert launcher.starts_embedded_aws(args) is starts


def test_the_prestarted_process_runs_the_command(
    marker: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ["process", str(PHOTO), "--json", "--out", str(tmp_path / "out")]
    launcher.prestart(args)
    prestarted = _wait_for_template(marker)
    assert len(prestarted) == 2  # the embedded AWS's process and its workers' template

    def no_second_process(*_: Any, **__: Any) -> Any:
        raise AssertionError("the command started an embedded AWS of its own")

    monkeypatch.setattr("qip_local.runtime.spawn", no_second_process)
    result = CliRunner().invoke(cli.app, args)
    assert result.exit_code == 0, result.output
    outcomes = json.loads(result.stdout)
    assert [outcome["status"] for outcome in outcomes] == ["COMPLETED"]
    assert launcher.take_prestarted() is None  # taken by the command
    log = (tmp_path / "out" / "qip.log").read_text()
    # The handlers ran in workers forked from the prestarted template: their logs are here.
    assert '"service":"qip-upload-url"' in log
    assert '"service":"qip-resize"' in log
    assert _marked(marker) == set()


def test_an_unused_prestarted_process_is_stopped_with_its_template(marker: str) -> None:
    launcher.prestart(["process", "examples/"])
    assert len(_wait_for_template(marker)) == 2
    launcher.stop_unused()
    assert _marked(marker) == set()
    assert launcher.take_prestarted() is None


def test_a_process_stopped_before_its_template_exists_leaves_nothing(marker: str) -> None:
    launcher.prestart(["process", "examples/"])
    launcher.stop_unused()  # at once: it may not have forked, or even installed its handlers
    assert _marked(marker) == set()


def test_the_runtime_stops_a_prestarted_process_it_cannot_use(marker: str) -> None:
    launcher.prestart(["process", "examples/"])
    prestarted = launcher.take_prestarted()
    assert prestarted is not None
    with pytest.raises(ValueError, match="separate_process"):
        LocalRuntime(LocalConfig(), prestarted=prestarted)
    assert prestarted.process.returncode is not None
    assert _marked(marker) == set()


@pytest.mark.parametrize(
    "args",
    [
        ("process", "no/such/place"),  # the command's own usage error
        ("process", "--no-such-option", "x.jpg"),  # the parser's
        ("process", "--help"),
        ("recipe", "show"),  # another command
    ],
)
def test_qip_leaves_no_process_when_it_runs_no_pipeline(
    marker: str, tmp_path: Path, args: tuple[str, ...]
) -> None:
    result = _qip(*args, cwd=tmp_path)
    assert "Traceback" not in result.stderr
    assert _marked(marker) == set()


def test_qip_process_writes_the_embedded_aws_output_to_its_log(marker: str, tmp_path: Path) -> None:
    result = _qip("process", str(PHOTO), "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert [outcome["status"] for outcome in json.loads(result.stdout)] == ["COMPLETED"]
    log = (tmp_path / "qip-out" / "qip.log").read_text()
    assert '"service":"qip-upload-url"' in log
    assert '"service":"qip-archive"' in log
    assert '"service"' not in result.stdout + result.stderr  # none of it on the terminal
    assert _marked(marker) == set()
