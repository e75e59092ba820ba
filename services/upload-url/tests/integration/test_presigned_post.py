"""The handler on moto S3: a real presigned POST, its policy, and the bucket-unavailable path.

moto's S3 does not enforce POST policies, so the policy is decoded and checked condition by
condition here; S3 enforces it in AWS.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import requests
from botocore.exceptions import ParamValidationError

from qip_upload_url import core
from qip_upload_url import handler as upload_handler

PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
REQUEST = {"contentType": "image/png", "size": len(PNG_BYTES), "fileName": "Été ../holiday.png"}


def decoded_policy(fields: dict[str, str]) -> dict:
    return json.loads(base64.b64decode(fields["policy"]))


def conditions_by_name(policy: dict) -> dict[str, object]:
    """`{"key": value, ...}` for exact-match conditions, `{"content-length-range": [lo, hi]}`."""
    named: dict[str, object] = {}
    for condition in policy["conditions"]:
        if isinstance(condition, dict):
            ((name, value),) = condition.items()
            named[name] = value
        elif condition[0] == "eq":
            named[condition[1].lstrip("$")] = condition[2]
        else:
            named[condition[0]] = condition[1:]
    return named


def test_presigned_post_is_accepted_and_the_object_lands_under_the_key(
    aws, api_event, call_api
) -> None:
    status, body = call_api(api_event(body=REQUEST))
    assert status == 200

    upload = requests.post(
        body["url"], data=body["fields"], files={"file": ("x.png", PNG_BYTES)}, timeout=10
    )
    assert upload.status_code in (200, 201, 204), upload.text

    head = aws.head_object(Bucket="qip-test-uploads", Key=body["key"])
    assert head["ContentType"] == "image/png"
    assert head["ContentLength"] == len(PNG_BYTES)
    encoded = head["Metadata"]["original-name"]
    assert encoded.isascii()
    assert core.decode_original_name(encoded) == "holiday.png"
    got = aws.get_object(Bucket="qip-test-uploads", Key=body["key"])["Body"].read()
    assert got == PNG_BYTES
    # Nothing else was written: the only object is the server-made key.
    listed = aws.list_objects_v2(Bucket="qip-test-uploads")["Contents"]
    assert [item["Key"] for item in listed] == [body["key"]]


def test_url_names_the_bucket_and_its_region(aws, api_event, call_api) -> None:
    body = call_api(api_event(body=REQUEST))[1]
    assert body["url"] == "https://qip-test-uploads.s3.us-east-1.amazonaws.com/"


def test_policy_pins_every_condition(aws, api_event, call_api) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    body = call_api(api_event(body=REQUEST))[1]
    after = datetime.now(UTC)
    fields = body["fields"]
    policy = decoded_policy(fields)
    named = conditions_by_name(policy)

    # The key: exact match on the server-made key (no starts-with, no ${filename}).
    assert named["key"] == body["key"] == fields["key"]
    assert not any(
        isinstance(c, list) and c[0] == "starts-with" and c[1] == "$key"
        for c in policy["conditions"]
    )
    # The content type: exact.
    assert named["Content-Type"] == "image/png" == fields["Content-Type"]
    # The size: 1 byte up to QIP_MAX_BYTES.
    assert named["content-length-range"] == [1, 4096]
    # The metadata: the sanitised, encoded original name, exact.
    assert named["x-amz-meta-original-name"] == fields["x-amz-meta-original-name"]
    assert core.decode_original_name(fields["x-amz-meta-original-name"]) == "holiday.png"
    # The bucket, and SigV4 signing material.
    assert named["bucket"] == "qip-test-uploads"
    assert named["x-amz-algorithm"] == fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    assert named["x-amz-credential"] == fields["x-amz-credential"]
    assert "x-amz-signature" in fields
    # The expiry: QIP_UPLOAD_URL_EXPIRES (120 s) from now.
    expiration = datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00"))
    assert before + timedelta(seconds=119) <= expiration <= after + timedelta(seconds=121)
    assert body["expiresIn"] == 120
    # Every form field the client must send is covered by a condition.
    unsigned = {"policy", "x-amz-signature"}
    assert set(fields) - unsigned <= set(named)


def test_get_request_also_signs_a_working_upload(aws, api_event, call_api) -> None:
    query = {"contentType": "image/gif", "size": "6"}
    status, body = call_api(api_event(method="GET", query=query))
    assert status == 200
    assert "x-amz-meta-original-name" not in body["fields"]
    upload = requests.post(body["url"], data=body["fields"], files={"file": b"GIF89a"}, timeout=10)
    assert upload.status_code in (200, 201, 204)
    assert aws.head_object(Bucket="qip-test-uploads", Key=body["key"])["ContentType"] == "image/gif"


def test_missing_bucket_is_503_with_a_stable_code(aws, api_event, call_api) -> None:
    aws.delete_bucket(Bucket="qip-test-uploads")
    status, body = call_api(api_event(body=REQUEST))
    assert status == 503
    assert body["error"]["code"] == "UPLOAD_BUCKET_UNAVAILABLE"
    assert "Traceback" not in json.dumps(body)


def test_bucket_is_checked_once_per_container(aws, api_event, call_api) -> None:
    calls: list[str] = []
    signer = upload_handler.dependencies().signer

    def count(**kwargs):
        calls.append("head")

    signer._s3.meta.events.register("before-call.s3.HeadBucket", count)
    try:
        for _ in range(3):
            assert call_api(api_event(body=REQUEST))[0] == 200
    finally:
        signer._s3.meta.events.unregister("before-call.s3.HeadBucket", count)
    assert calls == ["head"]


def test_a_bucket_that_comes_back_is_used_again(aws, api_event, call_api) -> None:
    aws.delete_bucket(Bucket="qip-test-uploads")
    assert call_api(api_event(body=REQUEST))[0] == 503
    aws.create_bucket(Bucket="qip-test-uploads")
    assert call_api(api_event(body=REQUEST))[0] == 200


def test_adapters_are_built_from_the_environment(aws, api_event, call_api, monkeypatch) -> None:
    upload_handler.set_dependencies(None)
    status, body = call_api(api_event(body=REQUEST))
    assert status == 200
    adapters = upload_handler.dependencies()
    assert adapters.signer.bucket == "qip-test-uploads"
    assert adapters.settings.max_bytes == 4096
    assert body["url"] == "https://qip-test-uploads.s3.us-east-1.amazonaws.com/"


def test_unconfigured_bucket_is_503(aws, api_event, call_api, monkeypatch) -> None:
    monkeypatch.setenv("QIP_UPLOAD_BUCKET", "")
    upload_handler.set_dependencies(None)
    status, body = call_api(api_event(body=REQUEST))
    assert (status, body["error"]["code"]) == (503, "UPLOAD_BUCKET_UNAVAILABLE")


def test_signing_failure_rechecks_the_bucket_and_answers_503(
    aws, api_event, call_api, monkeypatch
) -> None:
    signer = upload_handler.dependencies().signer
    assert call_api(api_event(body=REQUEST))[0] == 200
    aws.delete_bucket(Bucket="qip-test-uploads")

    def broken_sign(**kwargs):
        raise ParamValidationError(report="signing failed")

    monkeypatch.setattr(signer._s3, "generate_presigned_post", broken_sign)
    status, body = call_api(api_event(body=REQUEST))
    assert (status, body["error"]["code"]) == (503, "UPLOAD_BUCKET_UNAVAILABLE")
    # The failure reset the once-per-container check: the next request looks at the bucket.
    assert signer._bucket_checked is False


def test_bad_requests_never_reach_s3(aws, api_event, call_api) -> None:
    status, body = call_api(api_event(body={"contentType": "image/png", "size": 4097}))
    assert (status, body["error"]["code"]) == (413, "TOO_LARGE")
    assert aws.list_objects_v2(Bucket="qip-test-uploads").get("KeyCount") == 0


def test_a_heic_upload_is_signed_with_its_own_type_and_extension(aws, api_event, call_api) -> None:
    request = {"contentType": "image/heic", "size": 2048, "fileName": "IMG_0042.HEIC"}
    status, body = call_api(api_event(body=request))
    assert status == 200
    assert body["key"].endswith(".heic")
    assert body["contentType"] == "image/heic"
    named = conditions_by_name(decoded_policy(body["fields"]))
    assert named["Content-Type"] == "image/heic" == body["fields"]["Content-Type"]
    assert named["content-length-range"] == [1, 4096]
