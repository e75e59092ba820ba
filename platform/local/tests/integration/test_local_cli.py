"""The `qip` command as a user runs it: subprocesses, exit codes, the --json contract."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from qip_local import cli
from qip_local.client import Outcome
from qip_local.examples import EXPECTED

REPO = Path(__file__).resolve().parents[4]
EXAMPLES = REPO / "examples"
JSON_KEYS = {"file", "imageKey", "status", "reason", "error", "durations", "outputs", "render"}
RENDER_KEYS = {
    "thumbhash",
    "dominantColor",
    "focalPoint",
    "perceptualHash",
    "contentSha256",
    "duplicateOf",
}


def qip_command() -> list[str]:
    script = Path(sys.executable).parent / "qip"
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-m", "qip_local.cli"]


def run_qip(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*qip_command(), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_examples_are_small_and_what_the_cli_test_expects() -> None:
    files = sorted(p.name for p in EXAMPLES.iterdir() if p.is_file())
    assert files == sorted(EXPECTED)
    for name in files:
        assert (EXAMPLES / name).stat().st_size < 100_000
    with Image.open(EXAMPLES / "landscape-rotated.jpg") as rotated:
        assert rotated.size[0] > rotated.size[1]
        assert rotated.getexif().get(0x0112) == 6


def test_process_examples_json(tmp_path: Path) -> None:
    result = run_qip("process", str(EXAMPLES), "--json", "--retry-scale", "0.01", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    outcomes = json.loads(result.stdout)  # stdout holds the JSON array and nothing else
    assert isinstance(outcomes, list)
    assert [Path(o["file"]).name for o in outcomes] == sorted(EXPECTED)
    for outcome in outcomes:
        assert set(outcome) == JSON_KEYS
        assert outcome["file"].startswith(str(EXAMPLES))
        status, reason = EXPECTED[Path(outcome["file"]).name]
        assert (outcome["status"], outcome["reason"]) == (status, reason), outcome
        if status == "COMPLETED":
            assert outcome["imageKey"].startswith("uploads/")
            assert outcome["error"] is None
            assert set(outcome["durations"]) == {
                "validation",
                "metadata",
                "resize",
                "thumbnail",
                "archive",
            }
            assert all(seconds >= 0 for seconds in outcome["durations"].values())
            render = outcome["render"]
            assert set(render) == RENDER_KEYS
            assert all(render[k] is not None for k in RENDER_KEYS - {"duplicateOf"}), render
            assert 0 <= render["focalPoint"]["x"] <= 1
            assert 0 <= render["focalPoint"]["y"] <= 1
            data = Path(outcome["file"]).read_bytes()
            assert render["contentSha256"] == hashlib.sha256(data).hexdigest()
            resized = Path(outcome["outputs"]["resized"])
            thumbnail = Path(outcome["outputs"]["thumbnail"])
            # Outputs land in ./qip-out/ of the working directory.
            assert (tmp_path / "qip-out") in resized.resolve().parents or not resized.is_absolute()
            with Image.open(tmp_path / resized if not resized.is_absolute() else resized) as image:
                assert image.format == "JPEG"
                assert image.width <= 1024
                assert image.height <= 768
            with Image.open(
                tmp_path / thumbnail if not thumbnail.is_absolute() else thumbnail
            ) as image:
                assert image.size == (200, 200)
        else:
            assert outcome["outputs"] is None
    with Image.open(tmp_path / "qip-out" / "landscape-rotated.jpg" / "resized.jpg") as upright:
        # Stored 1600x1200 with EXIF orientation 6: displayed (and resized) as a portrait.
        assert upright.size == (576, 768)
    record = json.loads((tmp_path / "qip-out" / "not-an-image.png" / "record.json").read_text())
    assert record["status"] == "REJECTED"


def test_process_human_output_and_exit_code(tmp_path: Path) -> None:
    result = run_qip(
        "process", str(EXAMPLES / "spinner.gif"), str(EXAMPLES / "not-an-image.png"), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Summary" in result.stdout
    assert "not-an-image.png: REJECTED UNSUPPORTED_FORMAT" in result.stdout
    assert "1/2 completed" in result.stdout
    assert (tmp_path / "qip-out" / "spinner.gif" / "thumbnail.jpg").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("process", "no/such/place"), "no such file or folder: no/such/place"),
        (("process", "EXAMPLES", "--stages", "resize"), "validation is required"),
        (("status", "uploads/x.png"), "no running `qip serve` found"),
        (("dlq", "list"), "no running `qip serve` found"),
    ],
)
def test_errors_are_one_clear_line(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    argv = [str(EXAMPLES) if a == "EXAMPLES" else a for a in args]
    result = run_qip(*argv, cwd=tmp_path, env={"QIP_STATE_FILE": str(tmp_path / "none.json")})
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert message in lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["process"],
        ["serve"],
        ["status"],
        ["query"],
        ["delete"],
        ["synth"],
        ["dlq", "list"],
        ["dlq", "redrive"],
        ["recipe", "show"],
        ["recipe", "set"],
        ["backfill"],
    ],
)
def test_every_command_has_help_with_examples(tmp_path: Path, command: list[str]) -> None:
    result = run_qip(*command, "--help", cwd=tmp_path, env={"COLUMNS": "120"})
    assert result.returncode == 0
    assert "Examples" in result.stdout
    assert "qip " in result.stdout


def test_serve_then_status_query_dlq_and_delete(tmp_path: Path) -> None:
    env = {**os.environ, "QIP_STATE_FILE": str(tmp_path / "serve.json")}
    server = subprocess.Popen(
        [*qip_command(), "serve", "--log-file", str(tmp_path / "serve.log")],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "serve.json").is_file():
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            assert time.monotonic() < deadline
            time.sleep(0.2)
        state = json.loads((tmp_path / "serve.json").read_text())
        assert state["endpoint"].startswith("http://127.0.0.1:")

        done = run_qip(
            "process",
            str(EXAMPLES / "logo-alpha.png"),
            "--json",
            "--endpoint",
            state["endpoint"],
            cwd=tmp_path,
            env=env,
        )
        assert done.returncode == 0, done.stderr
        key = json.loads(done.stdout)[0]["imageKey"]

        status = run_qip("status", key, "--json", cwd=tmp_path, env=env)
        assert status.returncode == 0, status.stderr
        shown = json.loads(status.stdout)
        assert shown["status"] == "COMPLETED"
        assert shown["executionStatus"] == "SUCCEEDED"

        found = run_qip(
            "query",
            "--status",
            "COMPLETED",
            "--since",
            "2020-01-01",
            "--json",
            cwd=tmp_path,
            env=env,
        )
        assert found.returncode == 0, found.stderr
        assert [r["imageKey"] for r in json.loads(found.stdout)] == [key]

        dead = run_qip("dlq", "list", "--json", cwd=tmp_path, env=env)
        assert dead.returncode == 0, dead.stderr
        assert json.loads(dead.stdout) == []

        removed = run_qip("delete", key, cwd=tmp_path, env=env)
        assert removed.returncode == 0, removed.stderr
        assert f"dynamodb://qip-images/{key}" in removed.stdout
        gone = run_qip("status", key, cwd=tmp_path, env=env)
        assert gone.returncode == 2
        assert "no record for" in gone.stderr
    finally:
        server.send_signal(signal.SIGINT)
        out, _ = server.communicate(timeout=30)
    assert server.returncode == 0
    assert "QIP is running" in out
    assert "aws s3 ls s3://qip-uploads" in out
    assert not (tmp_path / "serve.json").exists()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serve_stops_on_two_quick_signals(tmp_path: Path, signum: signal.Signals) -> None:
    # Issue 15: a second signal arriving while the first is handled must not hang serve.
    env = {**os.environ, "QIP_STATE_FILE": str(tmp_path / "serve.json")}
    server = subprocess.Popen(
        [*qip_command(), "serve", "--log-file", str(tmp_path / "serve.log")],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "serve.json").is_file():
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            assert time.monotonic() < deadline
            time.sleep(0.2)
        server.send_signal(signum)
        server.send_signal(signum)
        stopped = time.monotonic()
        server.wait(timeout=15)
        # The shutdown is capped (`StopRequest.SHUTDOWN_GRACE`), whatever the machine's load.
        assert time.monotonic() - stopped < 15
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert server.returncode is not None
    assert not (tmp_path / "serve.json").exists()


def test_exit_code_is_one_when_an_image_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fake_run(files: list[str], *args: object) -> tuple[list[Outcome], list[object]]:
        return [
            Outcome(files[0], "uploads/a.png", "COMPLETED"),
            Outcome(files[1], None, "REJECTED", "UNSUPPORTED_FORMAT"),
            Outcome(files[2], "uploads/c.png", "FAILED", error="PermanentError: broken"),
        ], []

    monkeypatch.setattr(cli.process, "_run_process", fake_run)
    names = [str(EXAMPLES / n) for n in ("spinner.gif", "not-an-image.png", "photo.webp")]
    failed = CliRunner().invoke(cli.app, ["process", *names, "--json", "--out", str(tmp_path)])
    assert failed.exit_code == 1
    assert [o["status"] for o in json.loads(failed.stdout)] == ["COMPLETED", "REJECTED", "FAILED"]

    def fake_ok(files: list[str], *args: object) -> tuple[list[Outcome], list[object]]:
        return [Outcome(files[0], None, "REJECTED", "UNSUPPORTED_FORMAT")], []

    monkeypatch.setattr(cli.process, "_run_process", fake_ok)
    rejected = CliRunner().invoke(cli.app, ["process", names[1], "--out", str(tmp_path)])
    assert rejected.exit_code == 0
