"""botocore failures map onto the shared error classes the state machine matches by name."""

from __future__ import annotations

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from qip_shared.errors import PermanentError, RetryableError
from qip_validate.errors import RETRYABLE_CODES, is_retryable, map_aws_error


def client_error(code: str, status: int = 400) -> ClientError:
    """A ClientError as botocore raises it."""
    return ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "Operation",
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
def test_transient_codes_are_retryable(code: str) -> None:
    assert code in RETRYABLE_CODES
    mapped = map_aws_error(client_error(code), "op")
    assert type(mapped) is RetryableError  # the exact shared class: its name is the contract


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retryable(status: int) -> None:
    error = client_error("SomethingNew", status)
    assert is_retryable(error)
    assert type(map_aws_error(error, "op")) is RetryableError


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
def test_other_client_errors_are_permanent(code: str) -> None:
    mapped = map_aws_error(client_error(code, 403), "s3 get_object")
    assert type(mapped) is PermanentError
    assert "s3 get_object" in mapped.message
    assert code in mapped.message


@pytest.mark.parametrize(
    "error",
    [
        EndpointConnectionError(endpoint_url="https://s3"),
        ConnectTimeoutError(endpoint_url="https://s3"),
        ReadTimeoutError(endpoint_url="https://s3"),
    ],
)
def test_transport_timeouts_are_retryable(error: Exception) -> None:
    assert type(map_aws_error(error, "op")) is RetryableError


def test_missing_credentials_are_permanent() -> None:
    assert type(map_aws_error(NoCredentialsError(), "op")) is PermanentError
