"""The dashboard's view of a running system: AWS calls only, through a `LocalClient`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from qip_images_api.query import ImageQuery
from qip_local.client import LocalClient, UploadRefusedError, api_gateway_event
from qip_local.dashboard.views import (
    Filters,
    Progress,
    has_thumbnail,
    progress_from_history,
    progress_from_record,
)
from qip_pipeline.definition import build_definition
from qip_shared.enums import StageName
from qip_shared.keys import thumbnail_key
from qip_shared.record import ImageRecord

# How many records the list shows (newest first), and how many it reads to find them.
LIST_LIMIT = 100
SCAN_LIMIT = 1000
# The query parameters GET /images reads.
IMAGES_API_PARAMS = ("status", "since", "until", "limit", "nextToken")


@dataclass(frozen=True)
class ImageList:
    """The newest records matching the filters, and how many matched in all (up to the cap)."""

    records: tuple[ImageRecord, ...]
    matched: int
    capped: bool


@dataclass(frozen=True)
class UploadAnswer:
    """An API function's HTTP answer (upload-url, images-api), passed to the browser as is."""

    status: int
    body: dict[str, Any]


class DashboardBackend:
    """Reads records (GSI queries), thumbnails and execution histories; asks for upload URLs."""

    def __init__(self, client: LocalClient) -> None:
        self.client = client
        self.resources = client.resources
        # Made here, once: creating boto3 clients from one session is not thread-safe.
        for service in ("dynamodb", "s3", "stepfunctions", "lambda"):
            client.client(service)

    @property
    def endpoint_url(self) -> str | None:
        """The embedded AWS endpoint the browser POSTs uploads to (None when in-process)."""
        return self.client.endpoint_url

    @cached_property
    def stages(self) -> tuple[StageName, ...]:
        """The stage selection the running state machine was built for."""
        return tuple(self.resources.stages)

    @cached_property
    def definition(self) -> dict[str, Any]:
        """The ASL of the running state machine (placeholders left in; only names are used)."""
        return build_definition(self.stages)

    @cached_property
    def _query(self) -> ImageQuery:
        return ImageQuery(self.client.client("dynamodb"), self.resources.table)

    def images(self, filters: Filters) -> ImageList:
        """Records by status and upload date through the GSI, newest first."""
        if filters.status is not None:
            pages = self._query.pages_by_status(
                filters.status, filters.since, filters.until, page_size=LIST_LIMIT
            )
        else:
            pages = self._query.pages_in_range(filters.since, filters.until, page_size=LIST_LIMIT)
        found: list[ImageRecord] = []
        for page in pages:
            found.extend(page.records)
            if len(found) >= SCAN_LIMIT:
                break
        # The index is ascending by upload time; a dashboard wants the newest on top.
        newest = sorted(found, key=lambda r: (r.upload_timestamp, r.image_key), reverse=True)
        return ImageList(tuple(newest[:LIST_LIMIT]), len(found), len(found) >= SCAN_LIMIT)

    def record(self, image_key: str) -> ImageRecord | None:
        """One record (consistent read), or None."""
        return self._query.get(image_key)

    def thumbnail(self, image_key: str) -> bytes | None:
        """The thumbnail of an image from the upload bucket, once the thumbnail stage wrote it."""
        record = self.record(image_key)
        if record is None or not has_thumbnail(record):
            return None
        s3 = self.client.client("s3")
        try:
            body: bytes = s3.get_object(
                Bucket=self.resources.upload_bucket,
                Key=record.thumbnail_key or thumbnail_key(record.image_key),
            )["Body"].read()
        except s3.exceptions.NoSuchKey:
            return None
        return body

    def variant(self, image_key: str, name: str, fmt: str) -> tuple[bytes, str] | None:
        """One rendered variant the record lists (bytes, content type); never another key."""
        record = self.record(image_key)
        listed = [
            v
            for v in (record.variants if record else None) or []
            if (v.name, v.format) == (name, fmt)
        ]
        if not listed:
            return None
        s3 = self.client.client("s3")
        try:
            body: bytes = s3.get_object(Bucket=self.resources.upload_bucket, Key=listed[0].key)[
                "Body"
            ].read()
        except s3.exceptions.NoSuchKey:
            return None
        return body, listed[0].format.content_type

    def progress(self, record: ImageRecord) -> Progress:
        """Where the image's execution is: from its history, else from the record's stages."""
        if record.execution_arn:
            events = self.history(record.execution_arn)
            if events:
                return progress_from_history(events, self.definition)
        return progress_from_record(record, self.definition)

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        """Every event of an execution's history (empty when it does not exist)."""
        states = self.client.client("stepfunctions")
        events: list[dict[str, Any]] = []
        try:
            for page in states.get_paginator("get_execution_history").paginate(
                executionArn=execution_arn
            ):
                events.extend(page.get("events", []))
        except states.exceptions.ExecutionDoesNotExist:
            return []
        return events

    def images_api(self, path: str, query: Mapping[str, str]) -> UploadAnswer:
        """Call the images API as API Gateway would (the local user's identity)."""
        allowed = {k: v for k, v in query.items() if k in IMAGES_API_PARAMS}
        status, body = self.client.images_api(path, allowed)
        return UploadAnswer(status, body)

    def request_upload(self, body: Mapping[str, Any]) -> UploadAnswer:
        """Call upload-url as API Gateway would (Cognito claims of the local user)."""
        allowed = {k: body[k] for k in ("contentType", "size", "fileName") if k in body}
        response = self.client.client("lambda").invoke(
            FunctionName=self.resources.function_name("upload-url"),
            Payload=json.dumps(api_gateway_event(allowed)).encode("utf-8"),
        )
        payload = json.loads(response["Payload"].read() or b"null")
        if response.get("FunctionError") or not isinstance(payload, dict):
            message = payload.get("errorMessage") if isinstance(payload, dict) else payload
            error = UploadRefusedError(502, "FUNCTION_ERROR", str(message))
            return UploadAnswer(502, {"error": {"code": error.code, "message": error.message}})
        status = int(payload.get("statusCode", 502))
        try:
            answer = json.loads(payload.get("body") or "{}")
        except ValueError:
            answer = {"error": {"code": "BAD_GATEWAY", "message": "upload-url answered non-JSON"}}
            status = 502
        return UploadAnswer(status, answer if isinstance(answer, dict) else {})
