"""`qip ... --outputs FILE` against a "deployed stack": the outputs file `cdk deploy --outputs-file`
writes, pointing at the embedded AWS (AWS_ENDPOINT_URL), used by the CLI as a user runs it."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from qip_local import LocalConfig, LocalRuntime
from qip_local.dlq import message_ids_from_text
from qip_local.examples import EXPECTED
from qip_pipeline import names
from qip_shared.enums import ImageStatus
from qip_shared.errors import PermanentError

REPO = Path(__file__).resolve().parents[4]
EXAMPLES = REPO / "examples"


def _qip(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "qip"
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "qip_local.cli"]
    return subprocess.run(
        [*command, *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=240,
        env=dict(os.environ),  # the runtime set AWS_ENDPOINT_URL and the test credentials
        check=False,
    )


@pytest.fixture(scope="module")
def runtime() -> Iterator[LocalRuntime]:
    config = LocalConfig(retry_scale=0.001, visibility_timeout=2)
    with LocalRuntime(config, server=True) as started:
        yield started


@pytest.fixture(scope="module")
def outputs_file(runtime: LocalRuntime, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shape `cdk deploy --outputs-file` writes: stack name -> its CfnOutputs."""
    resources = runtime.resources
    assert resources is not None
    outputs = {
        "QipStaging": {
            names.OUTPUT_UPLOAD_API_URL: "https://abc.execute-api.us-east-1.amazonaws.com/v1/upload-url",
            names.OUTPUT_UPLOAD_BUCKET: resources.upload_bucket,
            names.OUTPUT_ARCHIVE_BUCKET: resources.archive_bucket,
            names.OUTPUT_TABLE: resources.table,
            names.OUTPUT_TOPIC: resources.topic_arn,
            names.OUTPUT_STATE_MACHINE: resources.state_machine_arn,
            names.OUTPUT_QUEUE_URL: resources.queue_url,
            names.OUTPUT_DLQ_URL: resources.dlq_url,
            names.OUTPUT_STAGES: ",".join(s.value for s in resources.stages),
            "DashboardName": "QipStaging-dashboard",
        }
    }
    path = tmp_path_factory.mktemp("deploy") / "staging-outputs.json"
    path.write_text(json.dumps(outputs, indent=2))
    return path


def test_process_examples_against_the_outputs_file(outputs_file: Path, tmp_path: Path) -> None:
    # The workflow's staging smoke, word for word but for the file's place.
    result = _qip("process", str(EXAMPLES), "--outputs", str(outputs_file), "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    everything = json.loads(result.stdout)
    outcomes = [o for o in everything if Path(o["file"]).name in EXPECTED]
    assert sorted(Path(o["file"]).name for o in outcomes) == sorted(EXPECTED)
    # Anything else under examples/ (recipe files) is no image: refused, as upload-url would.
    assert {o["status"] for o in everything if o not in outcomes} <= {"REJECTED"}
    for outcome in outcomes:
        status, reason = EXPECTED[Path(outcome["file"]).name]
        assert (outcome["status"], outcome["reason"]) == (status, reason), outcome
        assert outcome["imageKey"].startswith("uploads/")
        if status == "COMPLETED":
            assert (tmp_path / outcome["outputs"]["thumbnail"]).is_file()


def _doomed_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 200, 90)).save(buffer, "JPEG")
    return buffer.getvalue()


def _fail_one_image(runtime: LocalRuntime) -> Any:
    """An image whose resize fails for good (FAILED, dead-lettered by the failure path)."""
    client = runtime.local_client()
    data = _doomed_jpeg()
    ticket = client.request_upload(content_type="image/jpeg", size=len(data))

    def broken(function: str, event: Any, attempt: int) -> None:
        # A stage task's input is `{"state": ..., "execution": ...}`.
        state = event.get("state") if isinstance(event, dict) else None
        ours = isinstance(state, dict) and state.get("imageKey") == ticket.image_key
        if function.endswith("resize") and ours:
            raise PermanentError("resize is broken for this image")

    remove = runtime.add_fault_hook(broken)
    try:
        client.post_file(ticket, data, "doomed.jpg")
        record = client.wait_for([ticket.image_key], timeout=60)[ticket.image_key]
    finally:
        remove()
    assert record is not None
    assert record.status is ImageStatus.FAILED
    return record


def test_dlq_list_piped_into_redrive_moves_only_the_listed_ids(
    runtime: LocalRuntime, outputs_file: Path, tmp_path: Path
) -> None:
    first = _fail_one_image(runtime)
    second = _fail_one_image(runtime)
    listed = _qip("dlq", "list", "--outputs", str(outputs_file), cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    # Piped, `dlq list` prints one `messageId imageKey receives` line per message.
    lines = [line.split("\t") for line in listed.stdout.splitlines()]
    by_key = {key: message_id for message_id, key, _receives in lines}
    assert {first.image_key, second.image_key} <= set(by_key)
    chosen = next(line for line in listed.stdout.splitlines() if first.image_key in line)

    moved = _qip("dlq", "redrive", "--outputs", str(outputs_file), cwd=tmp_path, stdin=chosen)
    assert moved.returncode == 0, moved.stderr
    assert moved.stdout.startswith("moved 1 message(s)")
    client = runtime.local_client()
    again = client.wait_for_change(first, timeout=60)
    assert again is not None
    assert again.status is ImageStatus.COMPLETED
    left = _qip("dlq", "list", "--outputs", str(outputs_file), "--json", cwd=tmp_path)
    keys = [row["imageKey"] for row in json.loads(left.stdout)]
    assert second.image_key in keys
    assert first.image_key not in keys

    # `qip reprocess` with the same file: the other image, without touching the queue.
    redone = _qip("reprocess", second.image_key, "--outputs", str(outputs_file), cwd=tmp_path)
    assert redone.returncode == 0, redone.stderr
    assert redone.stdout.strip().endswith(f"{second.image_key}: COMPLETED")
    refused = _qip("reprocess", second.image_key, "--outputs", str(outputs_file), cwd=tmp_path)
    assert refused.returncode == 2
    assert "only a FAILED image is reprocessed" in refused.stderr
    # Its dead letter is still queued; redriven now, it finds its marker gone: nothing runs.
    status = client.record(second.image_key)
    everything = _qip("dlq", "redrive", "--outputs", str(outputs_file), cwd=tmp_path, stdin="")
    assert everything.returncode == 2  # piped but empty: nothing to do, said so
    assert "no message ids on stdin" in everything.stderr
    assert client.record(second.image_key) == status


def test_message_ids_are_read_from_list_lines_or_json() -> None:
    a, b = "0f3a1c9e-1d2b-4c5d-8e9f-0123456789ab", "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d"
    key = "uploads/2026/11/26/11111111-2222-4333-8444-555555555555.jpg"
    assert message_ids_from_text(f"{a}\t{key}\t3\n{b}\t{key}\t3\n") == [a, b]
    assert message_ids_from_text(json.dumps([{"messageId": b}, {"messageId": a}])) == [b, a]
    assert message_ids_from_text("nothing here\n") == []


def test_a_bad_outputs_file_is_one_clear_line(tmp_path: Path) -> None:
    missing = _qip("dlq", "list", "--outputs", str(tmp_path / "nope.json"), cwd=tmp_path)
    assert missing.returncode == 2
    assert "no outputs file" in missing.stderr
    (tmp_path / "other.json").write_text(json.dumps({"Other": {"Url": "x"}}))
    other = _qip("dlq", "list", "--outputs", str(tmp_path / "other.json"), cwd=tmp_path)
    assert other.returncode == 2
    assert "holds 0 QIP stacks" in other.stderr
