"""Uploading as a user would: upload-url behind a local API Gateway, then the presigned POST.

Also the API Gateway events this client plays (Cognito claims of the local user) and the images
API called the same way. A deployed stack's files go straight into its upload bucket instead.
"""

from __future__ import annotations

import json
import mimetypes
import urllib.parse
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from botocore.exceptions import BotoCoreError, ClientError

from qip_local.endpoint import ClientBase
from qip_shared.enums import CONTENT_TYPES
from qip_shared.errors import ApiError
from qip_upload_url import core as upload_core

OCTET_STREAM = "application/octet-stream"
LOCAL_USER_CLAIMS = {
    "sub": "00000000-0000-4000-8000-00000000c11e",
    "cognito:username": "local-user",
    "email": "local-user@example.com",
}
_ACCEPTED_TYPES = set(CONTENT_TYPES.values())


class UploadRefusedError(Exception):
    """upload-url answered an error instead of a presigned POST."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"upload-url refused ({status} {code}): {message}")
        self.status = status
        self.code = code
        self.message = message


class UploadFailedError(Exception):
    """The presigned POST itself was not accepted by S3."""


@dataclass(frozen=True)
class UploadTicket:
    """upload-url's answer: where to POST, with which form fields, and the key it chose."""

    url: str
    fields: dict[str, str]
    image_key: str


def declared_content_type(name: str) -> str:
    """The content type a client declares for a file name (an accepted image type or not)."""
    guessed, _ = mimetypes.guess_type(name)
    return guessed if guessed in _ACCEPTED_TYPES else OCTET_STREAM


def api_gateway_event(
    body: dict[str, Any] | None,
    claims: dict[str, str] | None = None,
    *,
    method: str = "POST",
    path: str = "/upload-url",
    resource: str | None = None,
    query: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An API Gateway REST proxy event (default POST /upload-url), authorised by Cognito."""
    request_id = str(uuid.uuid4())
    headers = {"content-type": "application/json", "host": "localhost"}
    resource = resource or path
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": dict(query) if query else None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/local{path}",
            "stage": "local",
            "requestId": request_id,
            "accountId": "123456789012",
            "apiId": "local",
            "protocol": "HTTP/1.1",
            "identity": {"sourceIp": "127.0.0.1", "userAgent": "qip-local"},
            "authorizer": {"claims": dict(claims or LOCAL_USER_CLAIMS)},
        },
        "body": json.dumps(body) if body is not None else None,
        "isBase64Encoded": False,
    }


def images_api_event(
    path: str, query: dict[str, str] | None = None, claims: dict[str, str] | None = None
) -> dict[str, Any]:
    """`GET /images` or `GET /images/{id}` as API Gateway passes it (greedy `{id+}`)."""
    one = path.startswith("/images/")
    event = api_gateway_event(
        None,
        claims,
        method="GET",
        path=path,
        resource="/images/{id+}" if one else "/images",
        query=query,
    )
    if one:
        event["pathParameters"] = {"id": path.removeprefix("/images/")}
    return event


class Uploads(ClientBase):
    """`LocalClient`'s uploads, and its calls of the images API."""

    def request_upload(
        self, *, content_type: str, size: int, file_name: str | None = None
    ) -> UploadTicket:
        """Ask upload-url (as API Gateway would call it) for a presigned POST."""
        body: dict[str, Any] = {"contentType": content_type, "size": size}
        if file_name:
            body["fileName"] = file_name
        response = self.client("lambda").invoke(
            FunctionName=self.resources.function_name("upload-url"),
            Payload=json.dumps(api_gateway_event(body)).encode("utf-8"),
        )
        payload = json.loads(response["Payload"].read() or b"null")
        if response.get("FunctionError") or not isinstance(payload, dict):
            message = payload.get("errorMessage") if isinstance(payload, dict) else payload
            raise UploadRefusedError(502, "FUNCTION_ERROR", str(message))
        status = int(payload.get("statusCode", 502))
        answer = json.loads(payload.get("body") or "{}")
        if status != 200:
            error = answer.get("error") or {}
            raise UploadRefusedError(
                status, str(error.get("code", "UNKNOWN")), str(error.get("message", ""))
            )
        return UploadTicket(
            url=self.reachable_url(answer["url"]),
            fields=dict(answer["fields"]),
            image_key=answer["imageKey"],
        )

    def reachable_url(self, url: str) -> str:
        """A presigned S3 URL on the local endpoint (AWS's S3 host names stand for it).

        Handlers that run inside the embedded AWS sign for S3's own host names; a browser, or
        this client, reaches that S3 at the endpoint, path-style.
        """
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        if self.endpoint_url is None or not host.endswith(".amazonaws.com"):
            return url
        if host.startswith("s3.") or host.startswith("s3-"):
            return self.endpoint_url + parts.path  # path-style already: /bucket/...
        bucket = host.split(".s3.", 1)[0].split(".s3-", 1)[0]
        return f"{self.endpoint_url}/{bucket}{parts.path.rstrip('/')}"

    def http(self) -> requests.Session:
        """The HTTP session of the presigned POSTs (one kept-alive connection per uploader)."""
        with self._clients_lock:
            session: requests.Session | None = getattr(self, "_http_session", None)
            if session is None:
                session = self._http_session = requests.Session()
            return session

    def post_file(self, ticket: UploadTicket, data: bytes, file_name: str) -> None:
        """POST the bytes to S3 with the ticket's form fields (the browser's part)."""
        content_type = ticket.fields.get("Content-Type", OCTET_STREAM)
        answer = self.http().post(
            ticket.url,
            data=ticket.fields,
            files={"file": (file_name, data, content_type)},
            timeout=60,
        )
        if answer.status_code >= 300:
            raise UploadFailedError(
                f"S3 refused the POST: {answer.status_code} {answer.text[:200]}"
            )

    def put_upload(self, data: bytes, *, file_name: str, content_type: str) -> str:
        """Put the bytes straight into the upload bucket under upload-url's key layout.

        upload-url's own rules decide the key, the stored content type and the original-name
        metadata, and refuse what it would refuse (UploadRefusedError).
        """
        params = {"contentType": content_type, "size": len(data), "fileName": file_name}
        try:
            request = upload_core.parse_upload_request(params, max_bytes=self.max_bytes)
        except ApiError as refused:
            raise UploadRefusedError(refused.status, refused.code, refused.message) from None
        plan = upload_core.plan_upload(
            request, now=datetime.now(UTC), image_uuid=uuid.uuid4(), max_bytes=self.max_bytes
        )
        metadata = {
            name.removeprefix("x-amz-meta-"): value
            for name, value in plan.fields.items()
            if name.startswith("x-amz-meta-")
        }
        try:
            self.client("s3").put_object(
                Bucket=self.resources.upload_bucket,
                Key=plan.key,
                Body=data,
                ContentType=plan.content_type,
                Metadata=metadata,
            )
        except (ClientError, BotoCoreError) as exc:
            raise UploadFailedError(f"S3 refused the upload: {exc}") from exc
        return plan.key

    def upload_bytes(self, data: bytes, *, file_name: str, content_type: str | None = None) -> str:
        """Upload through upload-url and the presigned POST; returns the server-chosen key."""
        declared = content_type or declared_content_type(file_name)
        if self.direct_upload:
            return self.put_upload(data, file_name=file_name, content_type=declared)
        ticket = self.request_upload(content_type=declared, size=len(data), file_name=file_name)
        self.post_file(ticket, data, file_name)
        return ticket.image_key

    def upload_file(self, path: Path | str, *, content_type: str | None = None) -> str:
        """Upload a file from disk; returns its image key."""
        path = Path(path)
        return self.upload_bytes(path.read_bytes(), file_name=path.name, content_type=content_type)

    def images_api(
        self,
        path: str,
        query: dict[str, str] | None = None,
        claims: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """Call the images API function as API Gateway would (default: the local user)."""
        response = self.client("lambda").invoke(
            FunctionName=self.resources.function_name("images-api"),
            Payload=json.dumps(images_api_event(path, query, claims)).encode("utf-8"),
        )
        payload = json.loads(response["Payload"].read() or b"null")
        if response.get("FunctionError") or not isinstance(payload, dict):
            message = payload.get("errorMessage") if isinstance(payload, dict) else payload
            return 502, {"error": {"code": "FUNCTION_ERROR", "message": str(message)}}
        try:
            body = json.loads(payload.get("body") or "{}")
        except ValueError:
            error = {"code": "BAD_GATEWAY", "message": "images-api answered non-JSON"}
            return 502, {"error": error}
        return int(payload.get("statusCode", 502)), body if isinstance(body, dict) else {}
