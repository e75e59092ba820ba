"""Trigger's handler against moto: a real bucket → EventBridge → SQS path, duplicate and
concurrent deliveries, rejections, start failures and the DLQ."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from qip_shared.enums import ImageStatus, RejectionReason
from qip_shared.keys import execution_name
from qip_shared.messages import DEAD_LETTER_ATTRIBUTE
from qip_shared.record import ImageRecord
from qip_shared.requests import status_update_request
from qip_shared.testing.moto import processing_durations, read_json_lines
from qip_shared.timeutil import format_timestamp
from qip_trigger import handler as trigger_handler

KEY = "uploads/2026/11/26/0b8f2f0e-4a43-4d1c-9a52-6f0e4f7c2d11.jpg"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(64)
TABLE = "qip-images"


def _deliver_from_queue(aws: Any, to_lambda_event: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    """Receive what S3 → EventBridge put on the processing queue and hand it to the handler."""
    messages = aws.receive()
    assert len(messages) == 1
    return trigger_handler.handler(to_lambda_event(messages), None)


def test_upload_to_started_pipeline(
    aws: Any, trigger: Callable[..., Any], to_lambda_event: Callable[..., dict[str, Any]]
) -> None:
    adapters = trigger()
    put = aws.upload(KEY, JPEG)

    response = _deliver_from_queue(aws, to_lambda_event)

    assert response == {"batchItemFailures": []}
    record = aws.record(KEY)
    assert record is not None
    assert record.status is ImageStatus.PROCESSING
    assert record.size == len(JPEG)
    assert record.content_type == "image/jpeg"
    assert record.bucket == "qip-uploads"
    assert record.etag == put["ETag"].strip('"')
    assert record.execution_name == execution_name(KEY, record.etag)
    assert record.claimed_at is not None
    (execution,) = aws.executions()
    assert execution["name"] == record.execution_name
    assert record.execution_arn == execution["executionArn"]
    assert adapters.start_counter.calls == 1
    started_input = json.loads(
        aws.sfn.describe_execution(executionArn=execution["executionArn"])["input"]
    )
    assert started_input == {
        "imageKey": KEY,
        "bucket": "qip-uploads",
        "uploadTimestamp": record.upload_timestamp,
        "contentType": "image/jpeg",
        "size": len(JPEG),
        "etag": record.etag,
        # Always present (null when unknown): the failure path's dead letter reads both.
        "versionId": None,
    }
    (notification,) = aws.notifications()
    assert notification["eventType"] == "PROCESSING_STARTED"
    assert notification["imageKey"] == KEY


def test_duplicate_delivery_starts_one_execution(
    aws: Any, trigger: Callable[..., Any], make_sqs_event: Callable[..., dict[str, Any]]
) -> None:
    adapters = trigger()
    aws.upload(KEY, JPEG)
    (message,) = aws.receive()
    event = make_sqs_event(message["Body"])

    first = trigger_handler.handler(event, None)
    record_after_first = aws.record(KEY)
    aws.notifications()
    second = trigger_handler.handler(event, None)

    assert first == second == {"batchItemFailures": []}
    assert adapters.start_counter.calls == 1
    assert len(aws.executions()) == 1
    assert aws.record(KEY) == record_after_first  # a second delivery changes nothing
    assert aws.notifications() == []


def test_concurrent_duplicate_deliveries_start_one_execution(
    aws: Any, trigger: Callable[..., Any], make_sqs_event: Callable[..., dict[str, Any]]
) -> None:
    adapters = trigger(serialize_dynamodb=True)
    aws.upload(KEY, JPEG)
    (message,) = aws.receive()
    event = make_sqs_event(message["Body"])
    barrier = threading.Barrier(2)
    done = [threading.Event(), threading.Event()]
    local = threading.local()
    results: list[Any] = [None, None]

    # The worst interleaving: whoever reaches StartExecution first is held there until the
    # other delivery has finished, so the other always finds a claim without an execution.
    def hold_first_start(**_: Any) -> None:
        done[1 - local.slot].wait(timeout=5)

    adapters.stepfunctions.meta.events.register("before-call.sfn.StartExecution", hold_first_start)

    def deliver(slot: int) -> None:
        local.slot = slot
        barrier.wait()
        try:
            results[slot] = trigger_handler.handler(event, None)
        except BatchProcessingError as exc:
            results[slot] = exc
        finally:
            done[slot].set()

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    assert adapters.start_counter.calls == 1
    assert results.count({"batchItemFailures": []}) == 1
    # The other was told to come back later (retryable: its message returns to the queue)...
    (waited,) = [r for r in results if isinstance(r, BatchProcessingError)]
    assert "ClaimInFlightError" in str(waited)
    # ...and its redelivery stops: still one execution.
    assert trigger_handler.handler(event, None) == {"batchItemFailures": []}
    assert adapters.start_counter.calls == 1
    assert len(aws.executions()) == 1
    record = aws.record(KEY)
    assert record is not None
    assert record.execution_arn == aws.executions()[0]["executionArn"]


@pytest.mark.parametrize(
    ("body", "content_type", "max_bytes", "reason"),
    [
        (b"%PDF-1.7\n" + bytes(100), "image/jpeg", 10 * 1024 * 1024, "UNSUPPORTED_FORMAT"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/png", 1024, "UNSUPPORTED_FORMAT"),
        (JPEG, "application/pdf", 10 * 1024 * 1024, "UNSUPPORTED_FORMAT"),
        (JPEG + bytes(200), "image/jpeg", 100, "TOO_LARGE"),
    ],
)
def test_non_images_are_rejected_without_execution(
    aws: Any,
    trigger: Callable[..., Any],
    to_lambda_event: Callable[..., dict[str, Any]],
    body: bytes,
    content_type: str,
    max_bytes: int,
    reason: str,
) -> None:
    adapters = trigger(max_bytes=max_bytes)
    aws.upload(KEY, body, content_type)

    response = _deliver_from_queue(aws, to_lambda_event)

    assert response == {"batchItemFailures": []}
    record = aws.record(KEY)
    assert record is not None
    assert record.status is ImageStatus.REJECTED
    assert record.rejection_reason is RejectionReason(reason)
    assert record.error_message
    assert record.claimed_at is None
    assert adapters.start_counter.calls == 0
    assert aws.executions() == []
    (notification,) = aws.notifications()
    assert notification["eventType"] == "PROCESSING_REJECTED"
    assert notification["reason"] == reason


def test_oversize_is_rejected_without_reading_the_object(
    aws: Any,
    trigger: Callable[..., Any],
    to_lambda_event: Callable[..., dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    adapters = trigger(max_bytes=10)
    gets: list[dict[str, Any]] = []
    adapters.s3.meta.events.register("before-call.s3.GetObject", lambda **kw: gets.append(kw))
    aws.upload(KEY, JPEG)
    capsys.readouterr()
    _deliver_from_queue(aws, to_lambda_event)
    record = aws.record(KEY)
    assert record is not None
    assert record.rejection_reason is RejectionReason.TOO_LARGE
    assert gets == []
    # The image ends here: timed once as REJECTED (the same metric validate's rejections feed).
    [(status, elapsed, dimensions)] = processing_durations(read_json_lines(capsys.readouterr().out))
    assert (status, dimensions) == ("REJECTED", ["service", "status"])
    assert elapsed >= 0


def test_magic_bytes_come_from_a_ranged_get(
    aws: Any, trigger: Callable[..., Any], to_lambda_event: Callable[..., dict[str, Any]]
) -> None:
    adapters = trigger()
    ranges: list[str] = []
    adapters.s3.meta.events.register(
        "before-call.s3.GetObject", lambda params, **_: ranges.append(params["headers"]["Range"])
    )
    aws.upload(KEY, JPEG + bytes(4096))
    _deliver_from_queue(aws, to_lambda_event)
    assert ranges == ["bytes=0-63"]


def test_keys_outside_uploads_are_ignored(
    aws: Any,
    trigger: Callable[..., Any],
    make_sqs_event: Callable[..., dict[str, Any]],
    make_object_created: Callable[..., dict[str, Any]],
) -> None:
    adapters = trigger()
    key = "processed/0b8f2f0e-4a43-4d1c-9a52-6f0e4f7c2d11/resized.jpg"
    aws.s3.put_object(Bucket="qip-uploads", Key=key, Body=JPEG)
    event = make_sqs_event(json.dumps(make_object_created(key, size=len(JPEG))))
    assert trigger_handler.handler(event, None) == {"batchItemFailures": []}
    assert aws.record(key) is None
    assert adapters.start_counter.calls == 0
    assert aws.receive() == []  # and the EventBridge rule never queued it


def test_vanished_object_is_acknowledged(
    aws: Any,
    trigger: Callable[..., Any],
    make_sqs_event: Callable[..., dict[str, Any]],
    make_object_created: Callable[..., dict[str, Any]],
) -> None:
    trigger()
    event = make_sqs_event(json.dumps(make_object_created(KEY, size=10)))
    assert trigger_handler.handler(event, None) == {"batchItemFailures": []}
    assert aws.record(KEY) is None


def test_url_encoded_key_finds_the_object(
    aws: Any,
    trigger: Callable[..., Any],
    make_sqs_event: Callable[..., dict[str, Any]],
    make_object_created: Callable[..., dict[str, Any]],
) -> None:
    adapters = trigger()
    key = "uploads/2026/11/26/red flower.jpg"
    put = aws.s3.put_object(Bucket="qip-uploads", Key=key, Body=JPEG, ContentType="image/jpeg")
    encoded = make_object_created(
        "uploads/2026/11/26/red+flower.jpg", size=len(JPEG), etag=put["ETag"].strip('"')
    )
    event = make_sqs_event(json.dumps(encoded))
    assert trigger_handler.handler(event, None) == {"batchItemFailures": []}
    record = aws.record(key)
    assert record is not None
    assert record.status is ImageStatus.PROCESSING
    assert adapters.start_counter.calls == 1


def test_original_name_and_ttl_are_recorded(
    aws: Any, trigger: Callable[..., Any], to_lambda_event: Callable[..., dict[str, Any]]
) -> None:
    trigger(record_ttl_days=7)
    aws.s3.put_object(
        Bucket="qip-uploads",
        Key=KEY,
        Body=JPEG,
        ContentType="image/jpeg",
        Metadata={"original-name": "caf%C3%A9.jpg", "owner": "7d8a2c5e-sub"},
    )
    _deliver_from_queue(aws, to_lambda_event)
    record = aws.record(KEY)
    assert record is not None
    assert record.original_name == "café.jpg"
    assert record.ttl is not None
    # Issue 15: the owner upload-url pinned in the POST policy is the record's owner.
    assert record.owner == "7d8a2c5e-sub"


def test_mixed_batch_reports_only_the_failed_item(
    aws: Any,
    trigger: Callable[..., Any],
    make_sqs_event: Callable[..., dict[str, Any]],
    make_object_created: Callable[..., dict[str, Any]],
) -> None:
    adapters = trigger()
    put = aws.s3.put_object(Bucket="qip-uploads", Key=KEY, Body=JPEG, ContentType="image/jpeg")
    good = make_object_created(KEY, size=len(JPEG), etag=put["ETag"].strip('"'))
    event = make_sqs_event("{not json", json.dumps(good))
    response = trigger_handler.handler(event, None)
    assert response == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
    assert adapters.start_counter.calls == 1


def test_poison_message_lands_in_the_dlq_after_three_receives(
    aws: Any, trigger: Callable[..., Any], to_lambda_event: Callable[..., dict[str, Any]]
) -> None:
    # Every record write fails (the table does not exist): the message can never succeed.
    adapters = trigger(table_name="no-such-table")
    aws.upload(KEY, JPEG)
    receives = 0
    failures: list[Any] = []
    while messages := aws.receive():
        receives += 1
        try:
            response = trigger_handler.handler(to_lambda_event(messages), None)
        except BatchProcessingError as exc:
            failed = [m["ReceiptHandle"] for m in messages]
            failures.append(exc)
        else:
            ids = {f["itemIdentifier"] for f in response["batchItemFailures"]}
            failed = [m["ReceiptHandle"] for m in messages if m["MessageId"] in ids]
            for m in messages:
                if m["MessageId"] not in ids:
                    aws.sqs.delete_message(QueueUrl=aws.queue_url, ReceiptHandle=m["ReceiptHandle"])
        # The failed message becomes visible again at once (instead of after 300 s).
        for handle in failed:
            aws.sqs.change_message_visibility(
                QueueUrl=aws.queue_url, ReceiptHandle=handle, VisibilityTimeout=0
            )
        assert receives <= 3

    assert receives == 3
    assert len(failures) == 3
    dead = aws.receive(aws.dlq_url)
    assert len(dead) == 1
    assert json.loads(dead[0]["Body"])["detail"]["object"]["key"] == KEY
    assert adapters.start_counter.calls == 0


def _in_flight_claim(aws: Any, upload_time: str, claimed_at: str) -> ImageRecord:
    """A record whose claim was taken but whose start never happened (a crashed delivery)."""
    put = aws.upload(KEY, JPEG)
    etag = put["ETag"].strip('"')
    record = ImageRecord(
        image_key=KEY,
        upload_timestamp=upload_time,
        size=len(JPEG),
        content_type="image/jpeg",
        status=ImageStatus.PROCESSING,
        bucket="qip-uploads",
        etag=etag,
        execution_name=execution_name(KEY, etag),
        claimed_at=claimed_at,
    )
    aws.dynamodb.put_item(TableName="qip-images", Item=record.to_item())
    return record


def test_recent_claim_makes_the_message_wait_then_a_stale_one_is_taken_over(
    aws: Any,
    trigger: Callable[..., Any],
    to_lambda_event: Callable[..., dict[str, Any]],
    now: datetime,
    clock_at: Callable[[datetime], Callable[[], datetime]],
) -> None:
    _in_flight_claim(aws, format_timestamp(now), format_timestamp(now - timedelta(seconds=5)))
    (message,) = aws.receive()
    event = to_lambda_event([message])

    adapters = trigger(clock=clock_at(now), lease_seconds=60)
    with pytest.raises(BatchProcessingError):
        trigger_handler.handler(event, None)  # retryable: the message returns to the queue
    assert adapters.start_counter.calls == 0

    later = trigger(clock=clock_at(now + timedelta(seconds=61)), lease_seconds=60)
    assert trigger_handler.handler(event, None) == {"batchItemFailures": []}
    assert later.start_counter.calls == 1
    record = aws.record(KEY)
    assert record is not None
    assert record.claimed_at == format_timestamp(now + timedelta(seconds=61))
    assert record.execution_arn == aws.executions()[0]["executionArn"]


def test_failed_start_releases_the_claim_for_the_next_delivery(
    aws: Any,
    trigger: Callable[..., Any],
    make_sqs_event: Callable[..., dict[str, Any]],
    to_lambda_event: Callable[..., dict[str, Any]],
) -> None:
    missing_machine = aws.state_machine_arn.replace("qip-pipeline", "gone")
    broken = trigger(state_machine_arn=missing_machine)
    aws.upload(KEY, JPEG)
    (message,) = aws.receive()
    with pytest.raises(BatchProcessingError):
        trigger_handler.handler(make_sqs_event(message["Body"], receive_count=1), None)
    assert broken.start_counter.calls == 1
    record = aws.record(KEY)
    assert record is not None
    assert record.status is ImageStatus.PROCESSING  # claimed, but not stranded:
    assert record.claimed_at is None  # the claim was released
    assert record.execution_arn is None

    fixed = trigger()
    response = trigger_handler.handler(make_sqs_event(message["Body"], receive_count=2), None)
    assert response == {"batchItemFailures": []}
    assert fixed.start_counter.calls == 1
    record = aws.record(KEY)
    assert record is not None
    assert record.execution_arn == aws.executions()[0]["executionArn"]


def test_failed_start_on_the_last_delivery_marks_the_image_failed(
    aws: Any,
    trigger: Callable[..., Any],
    make_sqs_event: Callable[..., dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    trigger(state_machine_arn=aws.state_machine_arn.replace("qip-pipeline", "gone"))
    aws.upload(KEY, JPEG)
    (message,) = aws.receive()
    capsys.readouterr()
    with pytest.raises(BatchProcessingError):
        trigger_handler.handler(make_sqs_event(message["Body"], receive_count=3), None)
    record = aws.record(KEY)
    assert record is not None
    assert record.status is ImageStatus.FAILED
    assert record.error_type
    assert "could not be started" in (record.error_message or "")
    (notification,) = aws.notifications()
    assert notification["eventType"] == "PROCESSING_FAILED"
    [(status, _, dimensions)] = processing_durations(read_json_lines(capsys.readouterr().out))
    assert (status, dimensions) == ("FAILED", ["service", "status"])


def test_execution_already_exists_counts_as_started(
    aws: Any, trigger: Callable[..., Any], to_lambda_event: Callable[..., dict[str, Any]]
) -> None:
    adapters = trigger()
    put = aws.upload(KEY, JPEG)
    name = execution_name(KEY, put["ETag"].strip('"'))
    existing = aws.sfn.start_execution(
        stateMachineArn=aws.state_machine_arn, name=name, input='{"other": true}'
    )["executionArn"]

    assert _deliver_from_queue(aws, to_lambda_event) == {"batchItemFailures": []}

    assert adapters.start_counter.calls == 1
    assert len(aws.executions()) == 1
    record = aws.record(KEY)
    assert record is not None
    assert record.execution_arn == existing


def test_versioned_upload_names_the_execution_by_version(
    aws: Any, trigger: Callable[..., Any], to_lambda_event: Callable[..., dict[str, Any]]
) -> None:
    aws.s3.put_bucket_versioning(
        Bucket="qip-uploads", VersioningConfiguration={"Status": "Enabled"}
    )
    trigger()
    put = aws.upload(KEY, JPEG)
    _deliver_from_queue(aws, to_lambda_event)
    record = aws.record(KEY)
    assert record is not None
    assert record.version_id == put["VersionId"]
    assert record.execution_name == execution_name(KEY, put["VersionId"])
    started = json.loads(aws.sfn.describe_execution(executionArn=record.execution_arn)["input"])
    assert started["versionId"] == put["VersionId"]


def test_sample_event_runs(
    aws: Any, trigger: Callable[..., Any], load_event: Callable[[str], dict[str, Any]]
) -> None:
    adapters = trigger()
    put = aws.s3.put_object(Bucket="qip-uploads", Key=KEY, Body=JPEG, ContentType="image/jpeg")
    aws.receive()  # drain the event the put itself produced
    event = load_event("sqs_object_created_moto.json")
    body = json.loads(event["Records"][0]["body"])
    body["detail"]["object"]["eTag"] = put["ETag"].strip('"')  # the sample's object is ours
    event["Records"][0]["body"] = json.dumps(body)
    assert trigger_handler.handler(event, None) == {"batchItemFailures": []}
    assert adapters.start_counter.calls == 1
    record = aws.record(KEY)
    assert record is not None
    assert record.upload_timestamp == "2026-11-26T06:40:00.123Z"


def test_event_of_an_overwritten_object_defers_to_the_newer_event(
    aws: Any, trigger: Callable[..., Any], to_lambda_event: Callable[..., dict[str, Any]]
) -> None:
    adapters = trigger()
    aws.upload(KEY, JPEG)
    (first,) = aws.receive()
    newer = aws.upload(KEY, JPEG + b"newer")
    (second,) = aws.receive()

    assert trigger_handler.handler(to_lambda_event([first]), None) == {"batchItemFailures": []}
    assert aws.record(KEY) is None
    assert trigger_handler.handler(to_lambda_event([second]), None) == {"batchItemFailures": []}
    record = aws.record(KEY)
    assert record is not None
    assert record.etag == newer["ETag"].strip('"')
    assert adapters.start_counter.calls == 1


# Issue 15: a dead letter of the pipeline's failure path carries a marker, as Lambda spells it.
def _dead_letter(event: dict[str, Any], marker: str, message_id: str = "m-0") -> dict[str, Any]:
    """`event` (one record) carrying the dead-letter marker `marker`."""
    (record,) = event["Records"]
    record["messageId"] = message_id
    record["messageAttributes"] = {
        DEAD_LETTER_ATTRIBUTE: {
            "stringValue": marker,
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "String",
        }
    }
    return event


def _with_id(event: dict[str, Any], message_id: str) -> dict[str, Any]:
    """`event` (one record) with its own message id."""
    event["Records"][0]["messageId"] = message_id
    return event


def _failed_by_the_trigger(
    aws: Any, trigger: Callable[..., Any], make_sqs_event: Callable[..., dict[str, Any]]
) -> str:
    """Upload, then fail every start until the last delivery marks the image FAILED."""
    trigger(state_machine_arn=aws.state_machine_arn.replace("qip-pipeline", "gone"))
    aws.upload(KEY, JPEG)
    (message,) = aws.receive()
    body: str = message["Body"]
    with pytest.raises(BatchProcessingError):
        trigger_handler.handler(make_sqs_event(body, receive_count=3), None)
    record = aws.record(KEY)
    assert record is not None
    assert record.status is ImageStatus.FAILED
    assert record.execution_arn is None
    aws.notifications()
    return body


# Issue 15 (behaviour changed by design): SQS's own redrive moves the message unchanged, so an
# image whose pipeline never started is reprocessed by any later delivery of its event.
def test_redriven_event_restarts_an_image_whose_start_failed(
    aws: Any, trigger: Callable[..., Any], make_sqs_event: Callable[..., dict[str, Any]]
) -> None:
    body = _failed_by_the_trigger(aws, trigger, make_sqs_event)
    failed = aws.record(KEY)
    fixed = trigger()

    assert trigger_handler.handler(make_sqs_event(body), None) == {"batchItemFailures": []}

    record = aws.record(KEY)
    assert record is not None
    assert record.status is ImageStatus.PROCESSING
    assert record.error_message is None
    assert record.error_type is None
    assert record.claimed_at is not None
    assert record.claimed_at != failed.claimed_at
    assert record.execution_name == failed.execution_name
    (execution,) = aws.executions()
    assert execution["name"] == record.execution_name
    assert record.execution_arn == execution["executionArn"]
    assert fixed.start_counter.calls == 1
    (notification,) = aws.notifications()
    assert notification["eventType"] == "PROCESSING_STARTED"


def _failed_by_the_pipeline(
    aws: Any, trigger: Callable[..., Any], make_sqs_event: Callable[..., dict[str, Any]]
) -> tuple[str, ImageRecord, Any]:
    """Upload and start; then fail the image as HandleError does (FAILED + its dead-letter id)."""
    adapters = trigger()
    aws.upload(KEY, JPEG)
    (message,) = aws.receive()
    trigger_handler.handler(make_sqs_event(message["Body"]), None)
    started = aws.record(KEY)
    assert started is not None
    assert started.execution_arn is not None
    aws.dynamodb.update_item(
        TableName="qip-images",
        Key={"imageKey": {"S": KEY}},
        UpdateExpression=(
            "SET #s = :failed, errorMessage = :m, errorType = :t, deadLetterId = :d, "
            "stages = :stages"
        ),
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={
            ":failed": {"S": "FAILED"},
            ":m": {"S": "resize crashed"},
            ":t": {"S": "RuntimeError"},
            ":d": {"S": started.execution_arn},
            ":stages": {
                "M": {
                    "validation": {
                        "M": {
                            "status": {"S": "COMPLETED"},
                            "timestamp": {"S": "2026-11-26T06:40:01.000Z"},
                        }
                    }
                }
            },
        },
    )
    failed = aws.record(KEY)
    assert failed is not None
    aws.notifications()
    return message["Body"], failed, adapters


def test_true_duplicate_leaves_an_image_the_pipeline_failed(
    aws: Any, trigger: Callable[..., Any], make_sqs_event: Callable[..., dict[str, Any]]
) -> None:
    body, failed, adapters = _failed_by_the_pipeline(aws, trigger, make_sqs_event)

    unmarked = trigger_handler.handler(make_sqs_event(body), None)
    foreign = trigger_handler.handler(_dead_letter(make_sqs_event(body), "arn:other"), None)

    assert unmarked == foreign == {"batchItemFailures": []}
    assert aws.record(KEY) == failed
    assert adapters.start_counter.calls == 1  # the first delivery's start only
    assert len(aws.executions()) == 1
    assert aws.notifications() == []


def test_dead_letter_reprocesses_an_image_the_pipeline_failed_once(
    aws: Any, trigger: Callable[..., Any], make_sqs_event: Callable[..., dict[str, Any]]
) -> None:
    body, failed, adapters = _failed_by_the_pipeline(aws, trigger, make_sqs_event)
    marker = failed.dead_letter_id
    assert marker is not None

    first = trigger_handler.handler(_dead_letter(make_sqs_event(body), marker, "m-a"), None)
    redriven = aws.record(KEY)
    second = trigger_handler.handler(_dead_letter(make_sqs_event(body), marker, "m-b"), None)

    assert first == second == {"batchItemFailures": []}
    assert redriven is not None
    assert redriven.status is ImageStatus.PROCESSING
    assert redriven.dead_letter_id is None
    assert redriven.error_message is None
    assert redriven.error_type is None
    assert redriven.stages.validation is None
    assert redriven.execution_name != failed.execution_name
    old, new = sorted(aws.executions(), key=lambda e: e["name"] != failed.execution_name)
    assert old["name"] == failed.execution_name
    assert new["name"] == redriven.execution_name
    assert redriven.execution_arn == new["executionArn"]
    assert adapters.start_counter.calls == 2  # the first start and the redriven one, no more
    assert aws.record(KEY) == redriven
    (notification,) = aws.notifications()
    assert notification["eventType"] == "PROCESSING_STARTED"


def test_duplicate_reprocess_deliveries_start_one_execution(
    aws: Any, trigger: Callable[..., Any], make_sqs_event: Callable[..., dict[str, Any]]
) -> None:
    body = _failed_by_the_trigger(aws, trigger, make_sqs_event)
    fixed = trigger()

    first = trigger_handler.handler(_with_id(make_sqs_event(body), "m-a"), None)
    after_first = aws.record(KEY)
    second = trigger_handler.handler(_with_id(make_sqs_event(body), "m-b"), None)

    assert first == second == {"batchItemFailures": []}
    assert fixed.start_counter.calls == 1
    assert len(aws.executions()) == 1
    assert aws.record(KEY) == after_first
    assert after_first is not None
    assert after_first.status is ImageStatus.PROCESSING


def test_concurrent_reprocess_deliveries_start_one_execution(
    aws: Any,
    trigger: Callable[..., Any],
    make_sqs_event: Callable[..., dict[str, Any]],
) -> None:
    body = _failed_by_the_trigger(aws, trigger, make_sqs_event)
    fixed = trigger(serialize_dynamodb=True)
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def deliver(i: int) -> None:
        barrier.wait()
        try:
            trigger_handler.handler(_with_id(make_sqs_event(body), f"m-{i}"), None)
        except BatchProcessingError:
            pass  # a loser may be told to wait (the claim is in flight)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert fixed.start_counter.calls == 1
    (execution,) = aws.executions()
    record = aws.record(KEY)
    assert record is not None
    assert record.status is ImageStatus.PROCESSING
    assert record.execution_arn == execution["executionArn"]


# Review finding: the first stage fails at once, so the pipeline's terminal write (HandleError's
# FAILED, or validate's REJECTED) lands between StartExecution and the trigger's ARN write.
@pytest.mark.parametrize("terminal", [ImageStatus.FAILED, ImageStatus.REJECTED])
@pytest.mark.parametrize("carries_arn", [False, True], ids=["without-arn", "with-arn"])
def test_a_first_stage_failing_at_once_leaves_the_execution_arn(
    aws: Any,
    trigger: Callable[..., Any],
    make_sqs_event: Callable[..., dict[str, Any]],
    terminal: ImageStatus,
    carries_arn: bool,
) -> None:
    adapters = trigger()
    aws.upload(KEY, JPEG)
    (message,) = aws.receive()
    ended_at = "2026-11-26T06:40:09.000Z"

    def end_before_the_arn_is_written(parsed: dict[str, Any], **_: Any) -> None:
        fields = {"errorType": "PermanentError", "errorMessage": "validate crashed at once"}
        if carries_arn:  # HandleError writes the ARN too; an older pipeline did not
            fields["executionArn"] = parsed["executionArn"]
        aws.dynamodb.update_item(
            **status_update_request(TABLE, KEY, terminal, updated_at=ended_at, fields=fields)
        )

    adapters.stepfunctions.meta.events.register(
        "after-call.sfn.StartExecution", end_before_the_arn_is_written
    )
    event = make_sqs_event(message["Body"])

    assert trigger_handler.handler(event, None) == {"batchItemFailures": []}
    record = aws.record(KEY)
    (execution,) = aws.executions()
    assert record is not None
    assert record.execution_arn == execution["executionArn"]
    assert record.status is terminal  # the ARN write does not move the status back
    assert record.updated_at == ended_at
    # A redelivery finds the execution recorded and starts no other.
    assert trigger_handler.handler(event, None) == {"batchItemFailures": []}
    assert adapters.start_counter.calls == 1
    assert len(aws.executions()) == 1
    assert aws.record(KEY) == record
