"""API Gateway REST (Lambda proxy) events for the API functions' tests (`qip_shared.api`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

API_HOST = "abc123.execute-api.us-east-1.amazonaws.com"


def rest_event(
    path: str,
    *,
    method: str = "GET",
    resource: str | None = None,
    path_parameters: Mapping[str, str] | None = None,
    sub: str | None = "user-1",
    query: Mapping[str, str] | None = None,
    origin: str | None = None,
    request_id: str = "r",
) -> dict[str, Any]:
    """A proxy event for `method path` by the Cognito user `sub` (None: no claims), no body."""
    resource = resource or path
    headers = {"Host": API_HOST}
    if origin is not None:
        headers["origin"] = origin
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {},
        "queryStringParameters": dict(query) if query else query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": dict(path_parameters) if path_parameters else None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/v1{path}",
            "stage": "v1",
            "requestId": request_id,
            "accountId": "123456789012",
            "apiId": "abc123",
            "identity": {"sourceIp": "203.0.113.7"},
            "authorizer": {"claims": {"sub": sub}} if sub else {},
        },
        "body": None,
        "isBase64Encoded": False,
    }
