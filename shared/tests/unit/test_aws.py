"""qip_shared.aws: botocore failures map onto the shared classes; the base adapters on moto."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)
from moto import mock_aws

from qip_shared.aws import (
    RETRYABLE_CODES,
    S3_ENDPOINT_OVERRIDES,
    StageAdapters,
    StaleWriteError,
    client,
    from_aws_error,
    is_conditional_check_failed,
    is_retryable,
    presigning_s3_client,
    version_args,
)
from qip_shared.enums import EventDetailType, ImageStatus, NotificationType, StageName, StageStatus
from qip_shared.errors import PermanentError, RetryableError
from qip_shared.events import Notification, ProcessingEvent, ProcessingEventDetail
from qip_shared.record import StageInfo
from qip_shared.requests import stage_update_request
from qip_shared.testing.moto import MotoAccount

NOW = "2026-11-26T07:00:00.000Z"


def client_error(code: str, status: int = 400) -> ClientError:
    """A ClientError as botocore raises it."""
    return ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "Operation",
    )


# --- error classification ------------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "SlowDown",
        "ServiceUnavailable",
        "InternalError",
    ],
)
def test_throttling_and_server_faults_are_retryable(code: str) -> None:
    assert code in RETRYABLE_CODES
    error = from_aws_error(client_error(code), "s3 get_object")
    assert type(error) is RetryableError  # the exact shared class: its name is the contract
    assert error.code == code
    assert is_retryable(client_error(code))


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_any_5xx_is_retryable(status: int) -> None:
    error = client_error("SomethingNew", status)
    assert is_retryable(error)
    assert type(from_aws_error(error, "op")) is RetryableError


@pytest.mark.parametrize(
    "code",
    [
        "AccessDenied",
        "NoSuchKey",
        "NoSuchBucket",
        "ResourceNotFoundException",
        "ValidationException",
    ],
)
def test_client_faults_are_permanent(code: str) -> None:
    error = from_aws_error(client_error(code, 403), "s3 get_object")
    assert type(error) is PermanentError
    assert error.code == code
    assert "s3 get_object" in error.message
    assert code in error.message
    assert not is_retryable(client_error(code, 403))


@pytest.mark.parametrize(
    "error",
    [
        EndpointConnectionError(endpoint_url="https://s3"),
        ConnectTimeoutError(endpoint_url="https://s3"),
        ReadTimeoutError(endpoint_url="https://s3"),
    ],
)
def test_transport_failures_are_retryable(error: Exception) -> None:
    mapped = from_aws_error(error, "op")
    assert type(mapped) is RetryableError
    assert mapped.code == "CONNECTION"


def test_missing_credentials_and_other_failures_are_permanent() -> None:
    assert type(from_aws_error(NoCredentialsError(), "op")) is PermanentError
    assert type(from_aws_error(ValueError("odd"), "op")) is PermanentError


def test_conditional_check_failed_is_recognised() -> None:
    assert is_conditional_check_failed(client_error("ConditionalCheckFailedException"))
    assert not is_conditional_check_failed(client_error("ValidationException"))
    assert not is_conditional_check_failed(ValueError("ConditionalCheckFailedException"))


def test_clients_use_the_standard_retry_config() -> None:
    s3 = client("s3")
    # botocore counts the first call too: max_attempts retries = max_attempts + 1 calls.
    assert s3.meta.config.retries == {"mode": "standard", "total_max_attempts": 6}


def test_version_args_skip_the_null_version() -> None:
    assert version_args("v1") == {"VersionId": "v1"}
    assert version_args("null") == {}
    assert version_args(None) == {}


# --- the base adapters on moto -------------------------------------------------------------


@pytest.fixture(scope="module")
def account() -> Iterator[MotoAccount]:
    """One moto account for the module (keys are unique per test)."""
    with mock_aws():
        created = MotoAccount(event_bus="qip-events")
        created.adapters = StageAdapters.from_settings(created.settings())
        yield created


def stage_write(account: MotoAccount, key: str, status: StageStatus) -> dict[str, Any]:
    info = StageInfo(status=status, timestamp=NOW, started_at=NOW)
    return stage_update_request(account.table, key, StageName.RESIZE, info, updated_at=NOW)


def test_objects_round_trip(account: MotoAccount) -> None:
    adapters: StageAdapters = account.adapters
    adapters.put_object(account.bucket, "uploads/a.jpg", b"abc", "image/jpeg")
    assert adapters.get_object(account.bucket, "uploads/a.jpg") == b"abc"
    head = adapters.head_object(account.bucket, "uploads/a.jpg")
    assert head["ContentLength"] == 3
    assert head["ContentType"] == "image/jpeg"


def test_missing_object_is_permanent(account: MotoAccount) -> None:
    with pytest.raises(PermanentError) as caught:
        account.adapters.get_object(account.bucket, "uploads/none.jpg")
    assert type(caught.value) is PermanentError
    assert caught.value.code == "NoSuchKey"


def test_stage_write_is_conditional(account: MotoAccount) -> None:
    adapters: StageAdapters = account.adapters
    account.seed_record("uploads/b.jpg")
    written = adapters.update_record(stage_write(account, "uploads/b.jpg", StageStatus.IN_PROGRESS))
    assert written.stages.get(StageName.RESIZE) is not None
    # A record that is no longer PROCESSING refuses stage writes: a typed, handled result.
    account.seed_record("uploads/c.jpg", ImageStatus.FAILED)
    with pytest.raises(StaleWriteError):
        adapters.update_record(stage_write(account, "uploads/c.jpg", StageStatus.IN_PROGRESS))
    assert adapters.get_record("uploads/c.jpg").stages.get(StageName.RESIZE) is None  # type: ignore[union-attr]
    assert adapters.get_record("uploads/none.jpg") is None


def test_publish_reaches_the_bus_and_the_topic(account: MotoAccount) -> None:
    account.notifications()
    account.bus_events()
    event = ProcessingEvent(
        detail_type=EventDetailType.STAGE_COMPLETED,
        detail=ProcessingEventDetail(
            image_key="uploads/d.jpg", bucket=account.bucket, timestamp=NOW, status="COMPLETED"
        ),
    )
    notification = Notification(
        event_type=NotificationType.STAGE_COMPLETED, image_key="uploads/d.jpg", timestamp=NOW
    )
    account.adapters.publish(event, notification)
    [received] = account.bus_events()
    assert received["detail-type"] == "StageCompleted"
    assert received["detail"]["imageKey"] == "uploads/d.jpg"
    [message] = account.notifications()
    assert message["eventType"] == "STAGE_COMPLETED"


def test_refused_event_entry_is_an_error(account: MotoAccount, monkeypatch: Any) -> None:
    def refuse(**kwargs: Any) -> dict[str, Any]:
        return {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure"}]}

    adapters: StageAdapters = account.adapters
    monkeypatch.setattr(adapters.events, "put_events", refuse)
    event = ProcessingEvent(
        detail_type=EventDetailType.STAGE_COMPLETED,
        detail=ProcessingEventDetail(
            image_key="uploads/e.jpg", bucket=account.bucket, timestamp=NOW, status="COMPLETED"
        ),
    )
    with pytest.raises(RetryableError) as caught:
        adapters.put_event(event)
    assert caught.value.code == "InternalFailure"


def test_adapters_build_lazily_from_the_environment(monkeypatch: Any) -> None:
    monkeypatch.setenv("QIP_TABLE_NAME", "from-env")
    monkeypatch.setenv("QIP_TOPIC_ARN", "arn:aws:sns:us-east-1:000000000000:t")
    built = StageAdapters.from_env()
    assert built.settings.table_name == "from-env"
    assert built.s3.meta.service_model.service_name == "s3"


def test_presigning_client_signs_for_the_buckets_region(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*S3_ENDPOINT_OVERRIDES, "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    s3 = presigning_s3_client(Config(signature_version="s3v4"))
    assert s3.meta.endpoint_url == "https://s3.eu-west-1.amazonaws.com"
    assert s3.meta.region_name == "eu-west-1"


def test_presigning_client_keeps_an_explicit_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5999")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    s3 = presigning_s3_client(Config(signature_version="s3v4"))
    assert s3.meta.endpoint_url == "http://127.0.0.1:5999"
