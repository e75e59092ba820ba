"""Unit tests of qip_thumbnail.errors: AWS failures map to retryable or permanent."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from qip_shared.errors import PermanentError, RetryableError
from qip_thumbnail.errors import from_aws_error, is_retryable


def client_error(code: str, status: int = 400) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": "boom"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        "GetObject",
    )


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
    error = from_aws_error(client_error(code), "s3 get_object")
    assert type(error) is RetryableError
    assert error.code == code
    assert is_retryable(client_error(code))


def test_any_5xx_is_retryable() -> None:
    assert type(from_aws_error(client_error("Whatever", 502), "x")) is RetryableError


@pytest.mark.parametrize(
    "code", ["AccessDenied", "NoSuchKey", "NoSuchBucket", "ValidationException"]
)
def test_client_faults_are_permanent(code: str) -> None:
    error = from_aws_error(client_error(code, 403), "s3 get_object")
    # The exact shared class: the state machine's no-retry rule matches on its name.
    assert type(error) is PermanentError
    assert error.code == code
    assert "s3 get_object" in error.message


def test_connection_problems_are_retryable() -> None:
    assert type(from_aws_error(EndpointConnectionError(endpoint_url="http://x"), "x")) is (
        RetryableError
    )
    assert type(from_aws_error(ReadTimeoutError(endpoint_url="http://x"), "x")) is RetryableError
