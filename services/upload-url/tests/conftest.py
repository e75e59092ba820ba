"""Fixtures of the upload-url suites: API Gateway events, a fake signer, moto S3."""

from __future__ import annotations

import copy
import io
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from qip_shared.aws import presigning_s3_client
from qip_shared.config import QipSettings
from qip_upload_url import handler as upload_handler
from qip_upload_url.adapters import S3_CONFIG, Adapters, UploadSigner
from qip_upload_url.core import UploadPlan

for _name, _value in {
    "POWERTOOLS_METRICS_NAMESPACE": "QIP",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_DEV": "false",
    "AWS_DEFAULT_REGION": "us-east-1",
}.items():
    os.environ.setdefault(_name, _value)

EVENTS_DIR = Path(__file__).resolve().parents[1] / "events"
UPLOAD_BUCKET = "qip-test-uploads"
SMALL_LIMIT = 4096
ENDPOINT_OVERRIDES = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3")


@pytest.fixture
def load_event() -> Callable[[str], dict[str, Any]]:
    """A fresh copy of a sample event from `events/`."""
    cache: dict[str, dict[str, Any]] = {}

    def load(name: str) -> dict[str, Any]:
        if name not in cache:
            cache[name] = json.loads((EVENTS_DIR / name).read_text())
        return copy.deepcopy(cache[name])

    return load


@pytest.fixture
def api_event(load_event: Callable[[str], dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """Build a REST proxy event: `api_event(body=..., method=..., query=..., claims=...)`."""
    default = object()

    def build(
        *,
        method: str = "POST",
        body: Any = default,
        query: dict[str, str] | None = None,
        claims: Any = default,
        path: str = "/upload-url",
    ) -> dict[str, Any]:
        event = load_event("post_upload_url.json")
        event["httpMethod"] = event["requestContext"]["httpMethod"] = method
        event["path"] = event["resource"] = path
        if body is not default:
            event["body"] = body if body is None or isinstance(body, str) else json.dumps(body)
        if method == "GET" and body is default:
            event["body"] = None
        event["queryStringParameters"] = query
        event["multiValueQueryStringParameters"] = (
            {k: [v] for k, v in query.items()} if query else None
        )
        if claims is None:
            event["requestContext"].pop("authorizer", None)
        elif claims is not default:
            event["requestContext"]["authorizer"] = {"claims": claims}
        return event

    return build


class FakeSigner(UploadSigner):
    """Records the plans it signs; answers like generate_presigned_post (or raises `fail`)."""

    def __init__(self, fail: BaseException | None = None) -> None:
        super().__init__(s3=None, bucket=UPLOAD_BUCKET)
        self.fail = fail
        self.plans: list[UploadPlan] = []

    def presign(self, plan: UploadPlan, *, expires_in: int) -> dict[str, Any]:
        if self.fail is not None:
            raise self.fail
        self.plans.append(plan)
        return {
            "url": f"https://{self.bucket}.s3.us-east-1.amazonaws.com/",
            "fields": {**plan.fields, "key": plan.key, "policy": "e30=", "x-amz-signature": "0"},
        }


@pytest.fixture
def fake_signer() -> Iterator[FakeSigner]:
    """Inject a fake signer (no AWS) with a small byte limit and 120 s expiry."""
    signer = FakeSigner()
    settings = QipSettings(
        upload_bucket=UPLOAD_BUCKET, max_bytes=SMALL_LIMIT, upload_url_expires=120
    )
    upload_handler.set_dependencies(Adapters(settings=settings, signer=signer))
    yield signer
    upload_handler.set_dependencies(None)


@pytest.fixture
def call_api() -> Callable[[dict[str, Any]], tuple[int, dict[str, Any]]]:
    """Invoke the handler (context=None) and decode `(statusCode, json body)`."""

    def call(event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        response = upload_handler.handler(event, None)
        assert response["multiValueHeaders"]["Content-Type"] == ["application/json"]
        assert response["multiValueHeaders"]["Cache-Control"] == ["no-store"]
        return response["statusCode"], json.loads(response["body"])

    return call


@pytest.fixture(scope="module")
def moto_s3() -> Iterator[tuple[Any, Any]]:
    """One moto per module (boto3 clients cost ~0.2 s each): a test client, a handler client."""
    saved = {name: os.environ.pop(name, None) for name in ENDPOINT_OVERRIDES}
    with mock_aws():
        yield boto3.client("s3", region_name="us-east-1"), presigning_s3_client(S3_CONFIG)
    os.environ.update({name: value for name, value in saved.items() if value is not None})


@pytest.fixture
def aws(moto_s3: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A fresh upload bucket on moto; the handler signs with settings read from the env."""
    s3, handler_s3 = moto_s3
    monkeypatch.setenv("QIP_UPLOAD_BUCKET", UPLOAD_BUCKET)
    monkeypatch.setenv("QIP_MAX_BYTES", str(SMALL_LIMIT))
    monkeypatch.setenv("QIP_UPLOAD_URL_EXPIRES", "120")
    s3.create_bucket(Bucket=UPLOAD_BUCKET)
    settings = QipSettings.from_env()
    upload_handler.set_dependencies(
        Adapters(settings=settings, signer=UploadSigner(handler_s3, settings.upload_bucket))
    )
    yield s3
    upload_handler.set_dependencies(None)
    for bucket in s3.list_buckets()["Buckets"]:
        listed = s3.list_objects_v2(Bucket=bucket["Name"]).get("Contents", [])
        for item in listed:
            s3.delete_object(Bucket=bucket["Name"], Key=item["Key"])
        s3.delete_bucket(Bucket=bucket["Name"])


@pytest.fixture
def logs() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The handler's structured log lines so far (the logger's stream swapped for a buffer)."""
    stream_handler = upload_handler.logger.registered_handler
    buffer = io.StringIO()
    previous = stream_handler.setStream(buffer)
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines() if line]
    stream_handler.setStream(previous)
