"""Handler wiring with a fake signer: routes, auth, status codes and error bodies."""

from __future__ import annotations

import base64
import json
import re

import pytest
from botocore.exceptions import NoCredentialsError

from qip_upload_url import handler as upload_handler
from qip_upload_url.errors import BucketUnavailableError

KEY_PATTERN = re.compile(
    r"uploads/\d{4}/\d{2}/\d{2}/[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\.png"
)
VALID = {"contentType": "image/png", "size": 1000, "fileName": "holiday.png"}


def test_post_answers_a_presigned_post(api_event, call_api, fake_signer) -> None:
    status, body = call_api(api_event(body=VALID))
    assert status == 200
    assert set(body) == {
        "url",
        "fields",
        "key",
        "imageKey",
        "expiresIn",
        "maxBytes",
        "contentType",
    }
    assert KEY_PATTERN.fullmatch(body["key"])
    assert body["imageKey"] == body["key"] == body["fields"]["key"]
    assert body["expiresIn"] == 120
    assert body["maxBytes"] == 4096
    assert body["contentType"] == "image/png"
    assert body["fields"]["x-amz-meta-original-name"] == "holiday.png"
    (plan,) = fake_signer.plans
    assert plan.key == body["key"]


def test_the_sample_events_work(load_event, call_api, fake_signer) -> None:
    status, body = call_api(load_event("get_upload_url.json"))
    assert (status, body["contentType"]) == (200, "image/jpeg")
    assert body["key"].endswith(".jpg")
    # The sample POST declares 12345 bytes, over the fixture's 4096-byte limit.
    status, body = call_api(load_event("post_upload_url.json"))
    assert (status, body["error"]["code"]) == (413, "TOO_LARGE")


def test_get_reads_the_query_string(api_event, call_api, fake_signer) -> None:
    query = {"contentType": "image/webp", "size": "10", "fileName": "a/b/c.webp"}
    status, body = call_api(api_event(method="GET", query=query))
    assert status == 200
    assert body["key"].endswith(".webp")
    assert body["fields"]["x-amz-meta-original-name"] == "c.webp"


def test_base64_encoded_body_is_decoded(api_event, call_api, fake_signer) -> None:
    event = api_event(body=base64.b64encode(json.dumps(VALID).encode()).decode())
    event["isBase64Encoded"] = True
    assert call_api(event)[0] == 200


def test_every_request_gets_a_new_key(api_event, call_api, fake_signer) -> None:
    keys = {call_api(api_event(body=VALID))[1]["key"] for _ in range(5)}
    assert len(keys) == 5


def test_client_supplied_key_is_ignored(api_event, call_api, fake_signer) -> None:
    body = {**VALID, "key": "processed/evil.png", "fileName": "../../processed/evil.png"}
    status, answer = call_api(api_event(body=body))
    assert status == 200
    assert KEY_PATTERN.fullmatch(answer["key"])
    assert answer["fields"]["x-amz-meta-original-name"] == "evil.png"


@pytest.mark.parametrize("claims", [None, {}, {"email": "a@b"}, {"sub": ""}])
def test_missing_identity_is_401(api_event, call_api, fake_signer, claims) -> None:
    status, body = call_api(api_event(body=VALID, claims=claims))
    assert status == 401
    assert body["error"]["code"] == "UNAUTHORIZED"
    assert fake_signer.plans == []


def test_identity_is_checked_before_the_body(api_event, call_api, fake_signer) -> None:
    assert call_api(api_event(body="{not json", claims=None))[0] == 401


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ("{not json", 400, "BAD_REQUEST"),
        (None, 400, "BAD_REQUEST"),
        ("[]", 400, "BAD_REQUEST"),
        ({"size": 10}, 400, "BAD_REQUEST"),
        ({"contentType": "image/png"}, 400, "BAD_REQUEST"),
        ({"contentType": "image/png", "size": "big"}, 400, "BAD_REQUEST"),
        ({"contentType": "image/svg+xml", "size": 10}, 415, "UNSUPPORTED_CONTENT_TYPE"),
        ({"contentType": "image/png", "size": 4097}, 413, "TOO_LARGE"),
    ],
)
def test_bad_requests_get_a_clear_4xx(api_event, call_api, fake_signer, body, status, code):
    answer_status, answer = call_api(api_event(body=body))
    assert answer_status == status
    assert answer["error"]["code"] == code
    assert answer["error"]["message"]
    assert fake_signer.plans == []


def test_get_without_parameters_is_400(api_event, call_api, fake_signer) -> None:
    status, body = call_api(api_event(method="GET", query=None))
    assert (status, body["error"]["code"]) == (400, "BAD_REQUEST")


@pytest.mark.parametrize(("method", "path"), [("PUT", "/upload-url"), ("POST", "/other")])
def test_other_routes_are_404_json(api_event, call_api, fake_signer, method, path) -> None:
    status, body = call_api(api_event(method=method, path=path, body=VALID))
    assert (status, body["error"]["code"]) == (404, "NOT_FOUND")


def test_unavailable_bucket_is_503_with_a_stable_code(api_event, call_api, fake_signer) -> None:
    fake_signer.fail = BucketUnavailableError("the upload bucket is not available")
    status, body = call_api(api_event(body=VALID))
    assert status == 503
    assert body == {
        "error": {
            "code": "UPLOAD_BUCKET_UNAVAILABLE",
            "message": "the upload bucket is not available",
        }
    }


def test_unexpected_errors_are_500_without_internals(api_event, call_api, fake_signer, logs):
    fake_signer.fail = NoCredentialsError()
    status, body = call_api(api_event(body=VALID))
    assert status == 500
    assert body["error"]["code"] == "INTERNAL_ERROR"
    assert "Traceback" not in json.dumps(body)
    assert "credentials" not in json.dumps(body).lower()
    # ...while the log has the full story, as structured JSON.
    crash = next(entry for entry in logs() if entry["message"] == "upload url crashed")
    assert crash["level"] == "ERROR"
    assert crash["errorType"] == "NoCredentialsError"
    assert "Traceback" in crash["exception"]


def test_logs_carry_the_callers_sub_and_the_key(api_event, call_api, fake_signer, logs, capsys):
    status, body = call_api(api_event(body=VALID, claims={"sub": "user-123"}))
    assert status == 200
    issued = next(entry for entry in logs() if entry["message"] == "upload url issued")
    assert issued["callerSub"] == "user-123"
    assert issued["imageKey"] == body["key"]
    assert issued["correlation_id"] == "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
    assert body["key"] not in issued["message"]
    # Metrics are printed as EMF on stdout.
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "_aws" in line]
    assert [entry["UploadUrlsIssued"] for entry in emitted] == [[1.0]]


def test_handler_accepts_a_real_context_object(api_event, fake_signer) -> None:
    class Context:
        function_name = "qip-upload-url"
        memory_limit_in_mb = 256
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:qip-upload-url"
        aws_request_id = "req-1"

    response = upload_handler.handler(api_event(body=VALID), Context())
    assert response["statusCode"] == 200


# Issue 15: the caller's Cognito subject is pinned in the POST policy as the image's owner.
def test_the_callers_subject_is_pinned_as_the_owner(api_event, call_api, fake_signer) -> None:
    event = api_event(body=VALID)
    sub = event["requestContext"]["authorizer"]["claims"]["sub"]
    status, body = call_api(event)
    assert status == 200
    assert body["fields"]["x-amz-meta-owner"] == sub
    (plan,) = fake_signer.plans
    assert {"x-amz-meta-owner": sub} in plan.conditions


# CORS: the API's browser origins (closed by default) are answered on every response, errors too.
APP_ORIGIN = "https://app.example.com"


def _headers(response: dict[str, object]) -> dict[str, str]:
    multi = response.get("multiValueHeaders") or {}
    assert isinstance(multi, dict)
    return {name: values[-1] for name, values in multi.items()}


@pytest.mark.parametrize(
    ("body", "status"), [(VALID, 200), ({"size": 10}, 400), ("{not json", 400)]
)
def test_an_allowed_origin_is_echoed_on_answers_and_errors(
    api_event, fake_signer, monkeypatch, body, status
) -> None:
    monkeypatch.setattr(upload_handler.api, "cors_origins", (APP_ORIGIN,))
    event = api_event(body=body)
    event["headers"]["Origin"] = APP_ORIGIN
    response = upload_handler.handler(event, None)
    assert response["statusCode"] == status
    headers = _headers(response)
    assert headers["Access-Control-Allow-Origin"] == APP_ORIGIN
    assert headers["Vary"] == "Origin"


def test_another_origin_gets_no_allow_origin(api_event, fake_signer, monkeypatch) -> None:
    monkeypatch.setattr(upload_handler.api, "cors_origins", (APP_ORIGIN,))
    fake_signer.fail = BucketUnavailableError("the upload bucket is not available")
    for body in (VALID, {"size": 10}):
        event = api_event(body=body)
        event["headers"]["Origin"] = "https://evil.example.net"
        headers = _headers(upload_handler.handler(event, None))
        assert "Access-Control-Allow-Origin" not in headers
        assert headers["Vary"] == "Origin"


@pytest.mark.parametrize("body", [VALID, {"size": 10}])
def test_closed_cors_sends_no_cors_headers(api_event, fake_signer, body) -> None:
    assert upload_handler.api.cors_origins == ()
    event = api_event(body=body)
    event["headers"]["Origin"] = APP_ORIGIN
    headers = _headers(upload_handler.handler(event, None))
    assert not [name for name in headers if name.startswith("Access-Control-")]
    assert "Vary" not in headers


def test_an_unknown_route_carries_the_cors_headers(api_event, fake_signer, monkeypatch) -> None:
    monkeypatch.setattr(upload_handler.api, "cors_origins", (APP_ORIGIN,))
    event = api_event(method="PUT", body=VALID)
    event["headers"]["Origin"] = APP_ORIGIN
    response = upload_handler.handler(event, None)
    assert response["statusCode"] == 404
    assert _headers(response)["Access-Control-Allow-Origin"] == APP_ORIGIN
