"""End to end on the in-process system with the real handlers: presigned POST -> S3 ->
EventBridge -> SQS -> trigger -> Step Functions -> stages -> DynamoDB / S3 / SNS."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from qip_local import LocalClient, LocalConfig, LocalRuntime
from qip_shared.enums import ImageStatus, NotificationType, RejectionReason, StageName
from qip_shared.errors import PermanentError
from qip_shared.keys import execution_name
from qip_trigger import handler as trigger_handler


def encode(size: tuple[int, int], fmt: str, mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, (200, 30, 60) if mode == "RGB" else (200, 30, 60, 128)).save(buffer, fmt)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def runtime() -> Iterator[LocalRuntime]:
    with LocalRuntime(LocalConfig(retry_scale=0.01, visibility_timeout=2)) as started:
        yield started


@pytest.fixture(scope="module")
def client(runtime: LocalRuntime) -> LocalClient:
    return runtime.local_client()  # type: ignore[no-any-return]


def test_two_images_and_a_non_image_through_the_real_flow(
    runtime: LocalRuntime, client: LocalClient, tmp_path: Path
) -> None:
    client.notifications()
    jpeg = client.upload_bytes(encode((1600, 900), "JPEG"), file_name="wide.jpg")
    png = client.upload_bytes(encode((300, 400), "PNG", "RGBA"), file_name="tall.png")
    text = client.upload_bytes(b"just some text, no pixels\n" * 4, file_name="notes.png")
    records = client.wait_for([jpeg, png, text], timeout=120)

    statuses = {key: record.status if record else None for key, record in records.items()}
    assert statuses == {
        jpeg: ImageStatus.COMPLETED,
        png: ImageStatus.COMPLETED,
        text: ImageStatus.REJECTED,
    }
    rejected = records[text]
    assert rejected is not None
    assert rejected.rejection_reason is RejectionReason.UNSUPPORTED_FORMAT

    for key, expected in ((jpeg, (1024, 576)), (png, (300, 400))):
        record = records[key]
        assert record is not None
        assert record.archived_location
        # The execution was named from the object version, as the trigger must.
        assert record.execution_name == execution_name(key, record.version_id or record.etag)
        outputs = client.download_outputs(record, tmp_path / key.rsplit("/", 1)[-1])
        assert outputs is not None
        with Image.open(outputs["resized"]) as resized:
            assert resized.size == expected
            assert resized.format == "JPEG"
        with Image.open(outputs["thumbnail"]) as thumbnail:
            assert thumbnail.size == (200, 200)
        for stage in StageName:
            info = record.stages.get(stage)
            assert info is not None, stage
            assert info.status.value == "COMPLETED"

    notified = client.notifications()
    completed = {
        n["imageKey"] for n in notified if n["eventType"] == NotificationType.PROCESSING_COMPLETED
    }
    assert completed == {jpeg, png}
    started = {
        n["imageKey"] for n in notified if n["eventType"] == NotificationType.PROCESSING_STARTED
    }
    assert {jpeg, png} <= started
    # Nothing was dead-lettered and no execution is left running.
    assert client.dlq_messages() == []
    executions = runtime.client("stepfunctions").list_executions(
        stateMachineArn=client.resources.state_machine_arn
    )["executions"]
    assert sorted(e["status"] for e in executions) == ["SUCCEEDED", "SUCCEEDED"]


def test_process_collects_outcomes_and_outputs(client: LocalClient, tmp_path: Path) -> None:
    good = tmp_path / "in" / "photo.jpg"
    good.parent.mkdir()
    good.write_bytes(encode((640, 480), "JPEG"))
    refused = tmp_path / "in" / "drawing.svg"
    refused.write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    outcomes = client.process([str(good), str(refused)], tmp_path / "out", timeout=120)
    by_file = {Path(o.file).name: o for o in outcomes}
    assert by_file["photo.jpg"].status == "COMPLETED"
    assert set(by_file["photo.jpg"].durations) == {
        "validation",
        "metadata",
        "resize",
        "thumbnail",
        "archive",
    }
    outputs = by_file["photo.jpg"].outputs
    assert outputs is not None
    assert Path(outputs["resized"]).is_file()
    assert (tmp_path / "out" / "photo.jpg" / "record.json").is_file()
    # upload-url refuses an SVG outright: REJECTED, with no key and no record.
    assert by_file["drawing.svg"].status == "REJECTED"
    assert by_file["drawing.svg"].reason == "UNSUPPORTED_FORMAT"
    assert by_file["drawing.svg"].image_key is None


def test_delete_removes_objects_and_record(client: LocalClient) -> None:
    key = client.upload_bytes(encode((100, 80), "PNG"), file_name="gone.png")
    record = client.wait_for([key], timeout=60)[key]
    assert record is not None
    assert record.status is ImageStatus.COMPLETED
    removed = client.delete_image(key)
    assert any(item.endswith(key) for item in removed)
    assert any("/processed/" in item for item in removed)
    assert any(item.startswith(f"s3://{client.resources.archive_bucket}/") for item in removed)
    assert client.record(key) is None
    s3 = client.client("s3")
    for bucket in (client.resources.upload_bucket, client.resources.archive_bucket):
        listed = s3.list_object_versions(Bucket=bucket)
        names = [v["Key"] for v in listed.get("Versions", []) + listed.get("DeleteMarkers", [])]
        image_id = key.rsplit("/", 1)[-1].split(".")[0]
        assert not [n for n in names if image_id in n]


def test_records_reads_many_keys_in_batches(client: LocalClient) -> None:
    key = client.upload_bytes(encode((64, 48), "PNG"), file_name="small.png")
    settled = client.wait_for([key], timeout=60)[key]
    assert settled is not None
    # More keys than one BatchGetItem takes (100), most of them unknown.
    missing = [f"uploads/none/{i}.png" for i in range(150)]
    found = client.records([*missing[:75], key, *missing[75:]])
    assert len(found) == 151
    assert found[key] == client.record(key)
    assert all(found[k] is None for k in missing)


def test_a_first_stage_failing_at_once_leaves_the_execution_arn(
    runtime: LocalRuntime, client: LocalClient
) -> None:
    # Review finding: validate fails before it writes anything and HandleError ends the record
    # FAILED before the trigger writes the ARN (forced here: the trigger's StartExecution answer
    # is held until the record is terminal); the record must still name its execution.
    data = encode((48, 32), "PNG")
    ticket = client.request_upload(content_type="image/png", size=len(data))

    def broken(function: str, event: Any, attempt: int) -> None:
        state = event.get("state") if isinstance(event, dict) else {}
        if function.endswith("validate") and state.get("imageKey") == ticket.image_key:
            raise PermanentError("validate is broken for this image")

    def hold_until_terminal(params: dict[str, Any], **_: Any) -> None:
        if ticket.image_key not in params.get("input", ""):
            return
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            record = client.record(ticket.image_key)
            if record is not None and record.status is not ImageStatus.PROCESSING:
                return
            time.sleep(0.02)

    trigger_sfn = trigger_handler.dependencies().stepfunctions.meta.events
    trigger_sfn.register("after-call.sfn.StartExecution", hold_until_terminal)
    remove = runtime.add_fault_hook(broken)
    try:
        client.post_file(ticket, data, "doomed.png")
        record = client.wait_for([ticket.image_key], timeout=60)[ticket.image_key]
    finally:
        remove()
        trigger_sfn.unregister("after-call.sfn.StartExecution", hold_until_terminal)
    assert record is not None
    assert record.status is ImageStatus.FAILED
    assert record.stages.validation is None  # the stage never ran: only HandleError wrote
    executions = runtime.client("stepfunctions").list_executions(
        stateMachineArn=client.resources.state_machine_arn, maxResults=1000
    )["executions"]
    (execution,) = [e for e in executions if e["name"] == record.execution_name]
    assert record.execution_arn == execution["executionArn"]
