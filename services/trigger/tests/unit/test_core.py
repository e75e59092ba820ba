"""Unit tests of trigger's pure core."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from qip_shared.enums import ImageFormat, ImageStatus, RejectionReason, StageStatus
from qip_shared.keys import execution_arn, execution_name
from qip_shared.record import ImageRecord, StageInfo, Stages
from qip_shared.signatures import SNIFF_BYTES
from qip_trigger.core import (
    Action,
    MalformedEventError,
    Rejection,
    candidate_keys,
    claim_request,
    decode_original_name,
    decode_owner,
    fail_request,
    is_same_object,
    is_superseded,
    is_upload_key,
    new_record,
    next_action,
    parse_event,
    parse_sqs_body,
    pipeline_input,
    record_execution_request,
    redrive_claim_request,
    redrive_execution_name,
    reject_request,
    release_request,
    reprocess_claim_request,
    screen,
    sniff_format,
    takeover_request,
)

KEY = "uploads/2026/11/26/0b8f2f0e-4a43-4d1c-9a52-6f0e4f7c2d11.jpg"
NOW = datetime(2026, 11, 26, 6, 40, 5, tzinfo=UTC)
LEASE = timedelta(seconds=60)
MB = 1024 * 1024


def test_parses_the_aws_sample(load_event: Callable[[str], dict[str, Any]]) -> None:
    body = load_event("sqs_object_created.json")["Records"][0]["body"]
    upload = parse_sqs_body(body)
    assert upload.bucket == "qip-uploads"
    assert upload.raw_key == KEY
    assert upload.size == 245760
    assert upload.etag == "9b2cf535f27731c974343645a3985328"
    assert upload.real_version == "IYV3p45BhZA4KqFnnf8pNh8TAY0yfE7f"
    assert upload.object_version == "IYV3p45BhZA4KqFnnf8pNh8TAY0yfE7f"
    assert upload.event_time == "2026-11-26T06:40:00.000Z"


def test_eventbridge_sample_is_the_sqs_body(load_event: Callable[[str], dict[str, Any]]) -> None:
    bare = parse_event(load_event("eventbridge_object_created.json"))
    wrapped = parse_sqs_body(load_event("sqs_object_created.json")["Records"][0]["body"])
    assert bare == wrapped


def test_parses_the_moto_sample(load_event: Callable[[str], dict[str, Any]]) -> None:
    body = load_event("sqs_object_created_moto.json")["Records"][0]["body"]
    upload = parse_sqs_body(body)
    assert upload.etag == "9b2cf535f27731c974343645a3985328"  # from `eTag`
    assert upload.real_version is None  # "null": unversioned
    assert upload.object_version == upload.etag
    # moto sends epoch seconds; the record keeps the one timestamp format.
    assert upload.event_time == "2026-11-26T06:40:00.123Z"


def test_quoted_etag_is_unquoted(make_object_created: Callable[..., dict[str, Any]]) -> None:
    assert parse_event(make_object_created(KEY, size=1, etag='"abc"')).etag == "abc"


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[1, 2]",
        json.dumps({"source": "aws.s3", "detail-type": "Object Created"}),
        json.dumps({"source": "aws.ec2", "detail": {}}),
        json.dumps({"detail-type": "Object Deleted", "detail": {}}),
        json.dumps({"detail": {"bucket": {"name": "b"}, "object": {"size": 1}}}),
        json.dumps({"detail": {"bucket": {"name": "b"}, "object": {"key": "k", "size": -1}}}),
        json.dumps(
            {"time": "yesterday", "detail": {"bucket": {"name": "b"}, "object": {"key": "k"}}}
        ),
    ],
)
def test_malformed_events_are_refused(body: str) -> None:
    with pytest.raises(MalformedEventError):
        parse_sqs_body(body)


def test_candidate_keys_literal_first_then_decoded() -> None:
    assert candidate_keys(KEY) == (KEY,)
    assert candidate_keys("uploads/red+flower.jpg") == (
        "uploads/red+flower.jpg",
        "uploads/red flower.jpg",
    )
    assert candidate_keys("uploads/a%2Bb.jpg") == ("uploads/a%2Bb.jpg", "uploads/a+b.jpg")


@pytest.mark.parametrize(
    ("key", "expected"),
    [(KEY, True), ("uploads/", False), ("processed/x/resized.jpg", False), ("upload/x.jpg", False)],
)
def test_is_upload_key(key: str, expected: bool) -> None:
    assert is_upload_key(key) is expected


@pytest.mark.parametrize(
    ("head", "fmt"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", ImageFormat.JPEG),
        (b"\x89PNG\r\n\x1a\n\x00\x00", ImageFormat.PNG),
        (b"GIF87a\x01\x00", ImageFormat.GIF),
        (b"GIF89a\x01\x00", ImageFormat.GIF),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", ImageFormat.WEBP),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", ImageFormat.HEIC),
        (b"\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00mif1heix", ImageFormat.HEIC),
        (b"\x00\x00\x00\x14ftypmif1\x00\x00\x00\x00miaf", ImageFormat.HEIF),
        (b"\x00\x00\x00\x14ftypmsf1\x00\x00\x00\x00iso8", ImageFormat.HEIF),
        (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf", ImageFormat.AVIF),
        (b"\x00\x00\x00\x18ftypavis\x00\x00\x00\x00avismsf1", ImageFormat.AVIF),
        (b"\x00\x00\x00\x18ftypisom\x00\x00\x00\x00isomiso2", None),  # an MP4 video
        (b"\x00\x00\x00\x18ftypqt  \x00\x00\x00\x00qt  ", None),
        (b"\x00\x00\x00\x18ftyphe", None),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", None),
        (b"%PDF-1.7", None),
        (b"<svg xmlns=", None),
        (b"II*\x00", None),  # TIFF is not accepted
        (b"", None),
        (b"\xff\xd8", None),
    ],
)
def test_sniff_format(head: bytes, fmt: ImageFormat | None) -> None:
    assert sniff_format(head) == fmt


def test_screen_verdicts() -> None:
    jpeg = b"\xff\xd8\xff\xe0"
    assert screen(100, "image/jpeg", jpeg, 10 * MB) is None
    # The declared type may differ among accepted types: validate decides on the real bytes.
    assert screen(100, "image/png", jpeg, 10 * MB) is None
    too_large = screen(10 * MB + 1, "image/jpeg", jpeg, 10 * MB)
    assert too_large is not None
    assert too_large.reason is RejectionReason.TOO_LARGE
    assert screen(10 * MB, "image/jpeg", jpeg, 10 * MB) is None
    for content_type in ("application/pdf", "", "image/svg+xml", "text/html"):
        verdict = screen(100, content_type, jpeg, 10 * MB)
        assert verdict is not None
        assert verdict.reason is RejectionReason.UNSUPPORTED_FORMAT
    bad_magic = screen(100, "image/jpeg", b"%PDF", 10 * MB)
    assert bad_magic is not None
    assert bad_magic.reason is RejectionReason.UNSUPPORTED_FORMAT
    empty = screen(0, "image/jpeg", b"", 10 * MB)
    assert empty is not None
    assert empty.reason is RejectionReason.UNSUPPORTED_FORMAT


def test_heif_and_avif_uploads_pass_the_screen(corpus_dir: Path) -> None:
    for name, content_type in [
        ("zPug_3.heic", "image/heic"),
        ("RGBA_10__128x128.heif", "image/heif"),
        ("concert.avif", "image/avif"),
        ("corrupted.heic", "image/heic"),  # a HEIC signature: validate judges the rest
    ]:
        head = (corpus_dir / name).read_bytes()[:SNIFF_BYTES]
        assert screen(len(head), content_type, head, 10 * MB) is None, name
    video = b"\x00\x00\x00\x18ftypisom\x00\x00\x00\x00isomiso2"
    verdict = screen(100, "image/heic", video, 10 * MB)
    assert verdict is not None
    assert verdict.reason is RejectionReason.UNSUPPORTED_FORMAT
    assert "HEIC/HEIF or AVIF" in verdict.message


def test_size_is_checked_before_anything_else() -> None:
    verdict = screen(11 * MB, "application/pdf", b"%PDF", 10 * MB)
    assert verdict is not None
    assert verdict.reason is RejectionReason.TOO_LARGE


def test_content_type_parameters_are_tolerated() -> None:
    assert screen(5, "image/JPEG; charset=binary", b"\xff\xd8\xff\xe0", 10) is None


def test_decode_original_name() -> None:
    assert decode_original_name({"original-name": "caf%C3%A9 photo.jpg"}) == "café photo.jpg"
    assert decode_original_name({}) is None
    assert decode_original_name({"original-name": "   "}) is None


def _upload(make_object_created: Callable[..., dict[str, Any]], **kw: Any) -> Any:
    return parse_event(make_object_created(KEY, size=1234, **kw))


def test_new_record_is_uploaded_with_required_fields(
    make_object_created: Callable[..., dict[str, Any]],
) -> None:
    upload = _upload(make_object_created)
    record = new_record(
        upload, image_key=KEY, size=1234, content_type="image/jpeg", now=NOW, ttl_days=30
    )
    assert record.status is ImageStatus.UPLOADED
    assert record.upload_timestamp == "2026-11-26T06:40:00.000Z"  # the event's time
    assert record.size == 1234
    assert record.content_type == "image/jpeg"
    assert record.bucket == "qip-uploads"
    assert record.version_id is None
    assert record.etag == "9b2cf535f27731c974343645a3985328"
    assert record.execution_name == execution_name(KEY, record.etag)
    assert record.ttl == int(NOW.timestamp()) + 30 * 86400
    assert record.updated_at == "2026-11-26T06:40:05.000Z"


def test_new_record_without_event_time_uses_now(
    make_object_created: Callable[..., dict[str, Any]],
) -> None:
    upload = _upload(make_object_created, time=None)
    record = new_record(upload, image_key=KEY, size=1, content_type="image/png", now=NOW)
    assert record.upload_timestamp == "2026-11-26T06:40:05.000Z"
    assert record.ttl is None


def test_execution_name_uses_version_id_when_versioned(
    make_object_created: Callable[..., dict[str, Any]],
) -> None:
    upload = _upload(make_object_created, version_id="v1")
    record = new_record(upload, image_key=KEY, size=1, content_type="image/png", now=NOW)
    assert record.execution_name == execution_name(KEY, "v1")
    assert record.version_id == "v1"
    other = _upload(make_object_created, version_id="v2")
    assert is_same_object(record, upload, KEY)
    assert not is_same_object(record, other, KEY)


def test_pipeline_input_from_record(make_object_created: Callable[..., dict[str, Any]]) -> None:
    record = new_record(
        _upload(make_object_created), image_key=KEY, size=9, content_type="image/gif", now=NOW
    )
    assert pipeline_input(record).to_json_dict() == {
        "imageKey": KEY,
        "bucket": "qip-uploads",
        "uploadTimestamp": "2026-11-26T06:40:00.000Z",
        "contentType": "image/gif",
        "size": 9,
        "etag": "9b2cf535f27731c974343645a3985328",
    }


def _record(status: ImageStatus, **extra: Any) -> ImageRecord:
    return ImageRecord(
        image_key=KEY,
        upload_timestamp="2026-11-26T06:40:00.000Z",
        size=1,
        content_type="image/jpeg",
        status=status,
        **extra,
    )


@pytest.mark.parametrize(
    ("record", "action"),
    [
        (None, Action.CREATE),
        (_record(ImageStatus.UPLOADED), Action.SCREEN_AND_CLAIM),
        (_record(ImageStatus.REJECTED), Action.STOP_FINISHED),
        (_record(ImageStatus.COMPLETED), Action.STOP_FINISHED),
        # Issue 15 (changed by design): FAILED before the pipeline started is reprocessed.
        (_record(ImageStatus.FAILED), Action.REPROCESS),
        (_record(ImageStatus.FAILED, execution_arn="arn:x"), Action.STOP_FINISHED),
        (_record(ImageStatus.PROCESSING, execution_arn="arn:x"), Action.STOP_STARTED),
        (_record(ImageStatus.PROCESSING, claimed_at="2026-11-26T06:40:04.000Z"), Action.WAIT),
        (_record(ImageStatus.PROCESSING, claimed_at="2026-11-26T06:39:05.001Z"), Action.WAIT),
        (_record(ImageStatus.PROCESSING, claimed_at="2026-11-26T06:39:05.000Z"), Action.TAKE_OVER),
        (_record(ImageStatus.PROCESSING, claimed_at="2026-11-26T06:00:00.000Z"), Action.TAKE_OVER),
        (_record(ImageStatus.PROCESSING), Action.TAKE_OVER),
        (
            _record(
                ImageStatus.PROCESSING,
                claimed_at="2026-11-26T06:00:00.000Z",
                stages=Stages(
                    validation=StageInfo(
                        status=StageStatus.IN_PROGRESS, timestamp="2026-11-26T06:00:01.000Z"
                    )
                ),
            ),
            Action.STOP_STARTED,
        ),
    ],
)
def test_next_action_table(record: ImageRecord | None, action: Action) -> None:
    assert next_action(record, NOW, LEASE) is action


_RAN = Stages(
    validation=StageInfo(status=StageStatus.COMPLETED, timestamp="2026-11-26T06:00:01.000Z")
)


@pytest.mark.parametrize(
    ("record", "action"),
    [
        # The only FAILED the trigger writes itself: the pipeline never started.
        (
            _record(
                ImageStatus.FAILED,
                claimed_at="2026-11-26T06:00:00.000Z",
                error_type="PermanentError",
                error_message="pipeline could not be started: denied",
            ),
            Action.REPROCESS,
        ),
        (_record(ImageStatus.FAILED), Action.REPROCESS),
        # FAILED by the pipeline (or after it ran): stays FAILED.
        (_record(ImageStatus.FAILED, execution_arn="arn:x"), Action.STOP_FINISHED),
        (_record(ImageStatus.FAILED, stages=_RAN), Action.STOP_FINISHED),
        (_record(ImageStatus.COMPLETED), Action.STOP_FINISHED),
        (_record(ImageStatus.REJECTED), Action.STOP_FINISHED),
        (None, Action.CREATE),
        (_record(ImageStatus.UPLOADED), Action.SCREEN_AND_CLAIM),
        (_record(ImageStatus.PROCESSING, execution_arn="arn:x"), Action.STOP_STARTED),
        (_record(ImageStatus.PROCESSING, claimed_at="2026-11-26T06:40:04.000Z"), Action.WAIT),
        (_record(ImageStatus.PROCESSING), Action.TAKE_OVER),
    ],
)
def test_next_action_on_a_later_delivery(record: ImageRecord | None, action: Action) -> None:
    # Issue 15: no mark is needed (SQS's own redrive moves the message unchanged).
    assert next_action(record, NOW, LEASE) is action


_FAILED_RUN = _record(
    ImageStatus.FAILED, execution_arn="arn:x", stages=_RAN, dead_letter_id="arn:x"
)


@pytest.mark.parametrize(
    ("record", "marker", "action"),
    [
        (_FAILED_RUN, "arn:x", Action.REDRIVE),
        (_FAILED_RUN, "arn:other", Action.STOP_FINISHED),
        (_FAILED_RUN, None, Action.STOP_FINISHED),
        (_FAILED_RUN.model_copy(update={"dead_letter_id": None}), "arn:x", Action.STOP_FINISHED),
        (_record(ImageStatus.COMPLETED, dead_letter_id="arn:x"), "arn:x", Action.STOP_FINISHED),
        (_record(ImageStatus.PROCESSING, execution_arn="arn:y"), "arn:x", Action.STOP_STARTED),
    ],
)
def test_next_action_on_a_dead_letter(
    record: ImageRecord, marker: str | None, action: Action
) -> None:
    assert next_action(record, NOW, LEASE, dead_letter=marker) is action


def test_redrive_claim_request() -> None:
    stamp = "2026-11-26T06:40:05.000Z"
    request = redrive_claim_request("t", KEY, marker="arn:x", claimed_at=stamp, name="n-r1")
    _placeholders_consistent(request)
    names = request["ExpressionAttributeNames"]
    values = request["ExpressionAttributeValues"]
    _, _, remove_part = request["UpdateExpression"].partition(" REMOVE ")
    assert sorted(names[p.strip()] for p in remove_part.split(",")) == sorted(
        ["errorMessage", "errorType", "deadLetterId", "executionArn"]
    )
    assert {"M": {}} in values.values()
    assert {"S": "n-r1"} in values.values()
    assert "#rmarker = :rmarker" in request["ConditionExpression"]
    assert values[":rmarker"] == {"S": "arn:x"}
    assert values[":rfailed"] == {"S": "FAILED"}


def test_redrive_execution_name_is_new_legal_and_deterministic() -> None:
    base = execution_name(KEY, "v1")
    name = redrive_execution_name(base, "arn:x")
    assert name != base
    assert name == redrive_execution_name(base, "arn:x")
    assert name != redrive_execution_name(base, "arn:y")
    assert len(redrive_execution_name("q" * 80, "arn:x")) <= 80


def test_reprocess_claim_request() -> None:
    stamp = "2026-11-26T06:40:05.000Z"
    request = reprocess_claim_request("t", KEY, claimed_at=stamp, name="n")
    _placeholders_consistent(request)
    names = request["ExpressionAttributeNames"]
    values = request["ExpressionAttributeValues"]
    update = request["UpdateExpression"]
    set_part, _, remove_part = update.partition(" REMOVE ")
    assert set_part.startswith("SET ")
    assert sorted(names[p.strip()] for p in remove_part.split(",")) == ["errorMessage", "errorType"]
    written = {names[p] for p in names if p in set_part}
    assert {"status", "updatedAt", "claimedAt", "executionName"} <= written
    assert {"S": "PROCESSING"} in values.values()
    assert {"S": stamp} in values.values()
    condition = request["ConditionExpression"]
    assert "attribute_not_exists(#rarn)" in condition
    assert names["#rarn"] == "executionArn"
    assert values[":rfailed"] == {"S": "FAILED"}
    assert "#rstatus = :rfailed" in condition


def test_execution_arn() -> None:
    machine = "arn:aws:states:us-east-1:123456789012:stateMachine:qip-pipeline"
    assert (
        execution_arn(machine, "qip-x-1")
        == "arn:aws:states:us-east-1:123456789012:execution:qip-pipeline:qip-x-1"
    )
    with pytest.raises(ValueError, match="state machine"):
        execution_arn("arn:aws:sqs:us-east-1:1:q", "n")


def test_recording_the_execution_never_depends_on_or_moves_the_status() -> None:
    # A first stage failing at once may end the record before this write: only the claim and
    # the attribute (absent, or this same ARN) decide, and only the ARN is written.
    stamp = "2026-11-26T06:40:05.000Z"
    request = record_execution_request("t", KEY, arn="arn:x", claimed_at=stamp)
    names = request["ExpressionAttributeNames"]
    assert set(names.values()) == {"claimedAt", "executionArn"}
    assert request["UpdateExpression"] == "SET #carn = :carn"
    assert "attribute_not_exists(#carn) OR #carn = :carn" in request["ConditionExpression"]
    assert request["ExpressionAttributeValues"] == {
        ":cmine": {"S": stamp},
        ":carn": {"S": "arn:x"},
    }


def _placeholders_consistent(request: dict[str, Any]) -> None:
    text = request["UpdateExpression"] + " " + request["ConditionExpression"]
    for name in request["ExpressionAttributeNames"]:
        assert name in text
    for value in request["ExpressionAttributeValues"]:
        assert value in text


def test_request_builders_are_well_formed() -> None:
    stamp = "2026-11-26T06:40:05.000Z"
    requests = [
        claim_request("t", KEY, claimed_at=stamp, name="n"),
        takeover_request("t", KEY, previous_claim=None, claimed_at=stamp),
        takeover_request("t", KEY, previous_claim="2026-11-26T06:00:00.000Z", claimed_at=stamp),
        release_request("t", KEY, claimed_at=stamp, updated_at=stamp),
        record_execution_request("t", KEY, arn="arn", claimed_at=stamp),
        reject_request("t", KEY, Rejection(RejectionReason.TOO_LARGE, "too big"), updated_at=stamp),
        fail_request("t", KEY, error_type="E", message="m", claimed_at=stamp, updated_at=stamp),
        reprocess_claim_request("t", KEY, claimed_at=stamp, name="n"),
        redrive_claim_request("t", KEY, marker="m", claimed_at=stamp, name="n"),
    ]
    for request in requests:
        assert request["Key"] == {"imageKey": {"S": KEY}}
        _placeholders_consistent(request)
    assert "REMOVE" in requests[3]["UpdateExpression"]
    assert ":only_uploaded" in requests[5]["ConditionExpression"]


def test_superseded_only_for_unversioned_objects_with_another_etag(
    make_object_created: Callable[..., dict[str, Any]],
) -> None:
    unversioned = _upload(make_object_created, etag="aaa")
    assert is_superseded(unversioned, '"bbb"')
    assert not is_superseded(unversioned, '"aaa"')
    assert not is_superseded(unversioned, None)
    versioned = _upload(make_object_created, etag="aaa", version_id="v1")
    assert not is_superseded(versioned, "bbb")  # the version id pins the object


# Issue 15: the owner comes from the object's metadata, only when it is a plausible subject.
@pytest.mark.parametrize(
    ("metadata", "owner"),
    [
        ({"owner": "7d8a2c5e-1111"}, "7d8a2c5e-1111"),
        ({"owner": " padded "}, "padded"),
        ({}, None),
        ({"owner": ""}, None),
        ({"owner": "x" * 129}, None),
        ({"owner": "bad\nline"}, None),
    ],
)
def test_decode_owner(metadata: dict[str, str], owner: str | None) -> None:
    assert decode_owner(metadata) == owner
