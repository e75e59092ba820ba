"""A client of a running local system: upload through the real path, watch, fetch, clean up.

It only talks AWS APIs (and HTTP for the presigned POST), so it works the same against the
in-process mock and against a `qip serve` server. The API Gateway in front of upload-url is
played by a `lambda.invoke` with an API Gateway-shaped event carrying Cognito claims.
"""

from __future__ import annotations

import json
import mimetypes
import re
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from botocore.exceptions import BotoCoreError, ClientError

from qip_local.provision import Resources
from qip_shared.config import DEFAULT_MAX_BYTES
from qip_shared.enums import CONTENT_TYPES, ImageStatus, RejectionReason, StageName
from qip_shared.keys import archive_prefix, processed_prefix, variant_file_name
from qip_shared.keys import resized_key as default_resized_key
from qip_shared.keys import thumbnail_key as default_thumbnail_key
from qip_shared.messages import dead_letter_attributes, upload_event_body
from qip_shared.record import TABLE_PARTITION_KEY, ImageRecord
from qip_upload_url import core as upload_core
from qip_upload_url.errors import UploadUrlError

OCTET_STREAM = "application/octet-stream"
LOCAL_USER_CLAIMS = {
    "sub": "00000000-0000-4000-8000-00000000c11e",
    "cognito:username": "local-user",
    "email": "local-user@example.com",
}
# upload-url refusals that say what the upload is, as the pipeline would have said it.
REFUSAL_REASONS = {
    "UNSUPPORTED_CONTENT_TYPE": RejectionReason.UNSUPPORTED_FORMAT,
    "TOO_LARGE": RejectionReason.TOO_LARGE,
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


class NotReprocessableError(Exception):
    """`qip reprocess` of an image the trigger would not start again."""


@dataclass(frozen=True)
class UploadTicket:
    """upload-url's answer: where to POST, with which form fields, and the key it chose."""

    url: str
    fields: dict[str, str]
    image_key: str


@dataclass
class Outcome:
    """How one input file ended."""

    file: str
    image_key: str | None
    status: str
    reason: str | None = None
    error: str | None = None
    durations: dict[str, float] = field(default_factory=dict)
    outputs: dict[str, Any] | None = None
    record: dict[str, Any] | None = None
    # The render-ready fields (issue 18), all six keys, null where unknown.
    render: dict[str, Any] | None = None
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """The `qip process --json` object (this exact shape is a public contract)."""
        return {
            "file": self.file,
            "imageKey": self.image_key,
            "status": self.status,
            "reason": self.reason,
            "error": self.error,
            "durations": dict(self.durations),
            "outputs": dict(self.outputs) if self.outputs is not None else None,
            "render": dict(self.render) if self.render is not None else None,
        }


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


def stage_durations(record: ImageRecord) -> dict[str, float]:
    """Seconds each stage took, from the record's stage info (stages that finished)."""
    durations: dict[str, float] = {}
    for stage in StageName:
        info = record.stages.get(stage)
        if info is not None and info.duration_ms is not None:
            durations[stage.value] = info.duration_ms / 1000
    return durations


def error_text(record: ImageRecord) -> str | None:
    """A one-line error from a FAILED record (the task's errorType and errorMessage)."""
    if record.error_message is None and record.error_type is None:
        return None
    message = record.error_message or ""
    try:
        cause = json.loads(message)
    except ValueError:
        cause = None
    if isinstance(cause, dict) and "errorMessage" in cause:
        message = str(cause["errorMessage"])
        error_type = str(cause.get("errorType") or record.error_type or "")
    else:
        error_type = record.error_type or ""
    return f"{error_type}: {message}" if error_type else message


def _label(path: str, taken: set[str]) -> str:
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(path).name).strip("-.") or "image"
    label, n = stem, 2
    while label in taken:
        label, n = f"{stem}-{n}", n + 1
    taken.add(label)
    return label


class LocalClient:
    """Upload, wait and inspect on a running local system (or a deployed stack).

    `direct_upload`: put files straight into the upload bucket (with the session's credentials,
    under the key upload-url would give) instead of asking the upload-url function: a deployed
    stack's upload-url sits behind Cognito.
    """

    def __init__(
        self,
        session: Any,
        resources: Resources,
        *,
        endpoint_url: str | None = None,
        direct_upload: bool = False,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self.session = session
        self.resources = resources
        self.endpoint_url = endpoint_url
        self.direct_upload = direct_upload
        self.max_bytes = max_bytes
        self._clients: dict[str, Any] = {}
        # Creating clients from one session is not thread-safe; using them is.
        self._clients_lock = threading.Lock()

    def client(self, service: str) -> Any:
        """A (cached) boto3 client of the local endpoint."""
        with self._clients_lock:
            if service not in self._clients:
                self._clients[service] = self.session.client(
                    service, endpoint_url=self.endpoint_url
                )
            return self._clients[service]

    # -- upload ------------------------------------------------------------------------------
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

    def post_file(self, ticket: UploadTicket, data: bytes, file_name: str) -> None:
        """POST the bytes to S3 with the ticket's form fields (the browser's part)."""
        content_type = ticket.fields.get("Content-Type", OCTET_STREAM)
        answer = requests.post(
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
        except UploadUrlError as refused:
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

    # -- observe -----------------------------------------------------------------------------
    def record_item(self, image_key: str) -> dict[str, Any] | None:
        """The raw DynamoDB item of an image, or None."""
        item = self.client("dynamodb").get_item(
            TableName=self.resources.table,
            Key={"imageKey": {"S": image_key}},
            ConsistentRead=True,
        )
        found: dict[str, Any] | None = item.get("Item")
        return found

    def record(self, image_key: str) -> ImageRecord | None:
        """The image's record, or None when there is none (yet)."""
        item = self.record_item(image_key)
        return ImageRecord.from_item(item) if item is not None else None

    def records(self, image_keys: Sequence[str]) -> dict[str, ImageRecord | None]:
        """Several records at once (BatchGetItem, 100 keys a call, consistent reads)."""
        found: dict[str, ImageRecord | None] = dict.fromkeys(image_keys)
        for item in self._batch_items(image_keys):
            record = ImageRecord.from_item(item)
            found[record.image_key] = record
        return found

    def statuses(self, image_keys: Sequence[str]) -> dict[str, str | None]:
        """Only the status of several records (a small projection: cheap to poll often)."""
        found: dict[str, str | None] = dict.fromkeys(image_keys)
        projection = {
            "ProjectionExpression": "#k, #s",
            "ExpressionAttributeNames": {"#k": TABLE_PARTITION_KEY, "#s": "status"},
        }
        for item in self._batch_items(image_keys, projection):
            status = item.get("status", {}).get("S")
            found[item[TABLE_PARTITION_KEY]["S"]] = status
        return found

    def _batch_items(
        self, image_keys: Sequence[str], options: dict[str, Any] | None = None
    ) -> Iterator[dict[str, Any]]:
        ddb = self.client("dynamodb")
        table = self.resources.table
        keys = list(dict.fromkeys(image_keys))
        for start in range(0, len(keys), 100):
            request: dict[str, Any] = {
                table: {
                    "Keys": [{TABLE_PARTITION_KEY: {"S": k}} for k in keys[start : start + 100]],
                    "ConsistentRead": True,
                    **(options or {}),
                }
            }
            while request:
                answer = ddb.batch_get_item(RequestItems=request)
                yield from answer.get("Responses", {}).get(table, [])
                request = answer.get("UnprocessedKeys") or {}

    def execution_status(self, record: ImageRecord) -> str | None:
        """Status of the record's execution (RUNNING, SUCCEEDED, ...), or None."""
        arn = record.execution_arn
        if not arn:
            return None
        try:
            status: str = self.client("stepfunctions").describe_execution(executionArn=arn)[
                "status"
            ]
        except ClientError:
            # Gone, or an Express execution (DescribeExecution knows only Standard ones).
            return None
        return status

    def is_settled(self, record: ImageRecord | None) -> bool:
        """Terminal record and, if it has an execution, that execution has finished too."""
        if record is None or not record.status.is_terminal:
            return False
        return self.execution_status(record) != "RUNNING"

    def wait_for(
        self,
        image_keys: Sequence[str],
        *,
        timeout: float = 120.0,
        interval: float = 0.05,
        on_update: Callable[[str, ImageRecord | None], None] | None = None,
    ) -> dict[str, ImageRecord | None]:
        """Poll the records until every image is settled or the timeout passes."""
        watch = RecordWatch(self, on_update=on_update)
        watch.add(image_keys)
        watch.close()
        return watch.run(timeout=timeout, interval=interval)

    def read_queue(self, queue_url: str, *, max_messages: int = 1000) -> list[dict[str, Any]]:
        """Drain a tap queue (notifications or events); returns the parsed bodies."""
        sqs = self.client("sqs")
        bodies: list[dict[str, Any]] = []
        while len(bodies) < max_messages:
            got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
            messages = got.get("Messages", [])
            if not messages:
                break
            for message in messages:
                bodies.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        return bodies

    def notifications(self) -> list[dict[str, Any]]:
        """SNS notifications published since the last call (from the local tap queue)."""
        return self.read_queue(self.resources.notifications_queue_url)

    def processing_events(self) -> list[dict[str, Any]]:
        """EventBridge ProcessingEvents put since the last call (from the local tap queue)."""
        return self.read_queue(self.resources.events_queue_url)

    # -- outputs -----------------------------------------------------------------------------
    def download_outputs(self, record: ImageRecord, directory: Path) -> dict[str, Any] | None:
        """Copy every variant of a COMPLETED record into `directory`.

        `resized` and `thumbnail` are the paths of the classic outputs (the first JPEG of each
        stage); `variants` lists every variant with its lineage and local path.
        """
        if record.status is not ImageStatus.COMPLETED:
            return None
        s3 = self.client("s3")
        outputs: dict[str, Any] = {}
        classic = {
            "resized": record.resized_key or default_resized_key(record.image_key),
            "thumbnail": record.thumbnail_key or default_thumbnail_key(record.image_key),
        }
        # A record from before recipes has no variants: its two JPEGs are the outputs.
        files = {v.key: variant_file_name(v.name, v.format) for v in record.variants or []} or {
            key: f"{name}.jpg" for name, key in classic.items()
        }
        paths: dict[str, str] = {}
        for key, file_name in files.items():
            try:
                body = s3.get_object(Bucket=self.resources.upload_bucket, Key=key)["Body"].read()
            except s3.exceptions.NoSuchKey:
                continue
            directory.mkdir(parents=True, exist_ok=True)
            target = directory / file_name
            target.write_bytes(body)
            paths[key] = str(target)
        for name, key in classic.items():
            if key in paths:
                outputs[name] = paths[key]
        if record.variants:
            outputs["variants"] = [
                {
                    "name": v.name,
                    "format": v.format.value,
                    "width": v.width,
                    "height": v.height,
                    "path": paths.get(v.key),
                    "bytes": v.bytes,
                    "recipeVersion": v.recipe_version,
                    "sourceSha256": v.source_sha256,
                }
                for v in record.variants
            ]
        return outputs or None

    # -- the whole job -----------------------------------------------------------------------
    def process(
        self,
        files: Sequence[str],
        out_dir: Path | None,
        *,
        timeout: float = 300.0,
        on_update: Callable[[int, ImageRecord | None], None] | None = None,
    ) -> list[Outcome]:
        """Upload every file while watching those uploaded; collect outcomes (and outputs)."""
        outcomes: list[Outcome] = []
        started: dict[str, float] = {}
        index_of: dict[str, int] = {}

        def update(key: str, record: ImageRecord | None) -> None:
            if on_update is not None:
                on_update(index_of[key], record)

        watch = RecordWatch(self, on_update=update)
        results: dict[str, dict[str, ImageRecord | None]] = {}
        watcher = threading.Thread(
            target=lambda: results.update(latest=watch.run(timeout=timeout)),
            name="qip-watch",
            daemon=True,
        )
        watcher.start()
        try:
            for i, name in enumerate(files):
                began = time.perf_counter()
                outcome = self._upload_one(name)
                outcomes.append(outcome)
                if outcome.image_key is not None:
                    index_of[outcome.image_key] = i
                    started[outcome.image_key] = began
                    watch.add([outcome.image_key])
        finally:
            watch.close()
            watcher.join()
        records = results.get("latest", {})
        labels: set[str] = set()
        for outcome in outcomes:
            if outcome.image_key is None:
                continue
            key = outcome.image_key
            record = records.get(key)
            outcome.seconds = watch.settled_at.get(key, time.perf_counter()) - started[key]
            if record is None:
                outcome.status = "UNKNOWN"
                outcome.error = "no record appeared before the timeout"
                continue
            self._fill_outcome(outcome, record, settled=key in watch.settled_at)
            if out_dir is not None:
                directory = out_dir / _label(outcome.file, labels)
                outcome.outputs = self.download_outputs(record, directory)
                directory.mkdir(parents=True, exist_ok=True)
                (directory / "record.json").write_text(
                    json.dumps(outcome.record, indent=2, sort_keys=True) + "\n"
                )
        return outcomes

    def _upload_one(self, name: str) -> Outcome:
        """Upload one file; the outcome has its key, or says why it never got one."""
        path = Path(name)
        data = path.read_bytes()
        try:
            key = self.upload_bytes(data, file_name=path.name)
        except UploadRefusedError as refused:
            reason = REFUSAL_REASONS.get(refused.code)
            if reason is None and len(data) == 0:
                reason = RejectionReason.UNSUPPORTED_FORMAT  # an empty file is no image
            status = ImageStatus.REJECTED if reason is not None else ImageStatus.FAILED
            return Outcome(
                name,
                None,
                status.value,
                reason.value if reason else None,
                f"refused at upload: {refused.message}",
            )
        except (UploadFailedError, requests.RequestException) as failed:
            return Outcome(name, None, ImageStatus.FAILED.value, error=str(failed))
        return Outcome(name, key, ImageStatus.UPLOADED.value)

    @staticmethod
    def _fill_outcome(outcome: Outcome, record: ImageRecord, *, settled: bool) -> None:
        outcome.status = record.status.value
        if not settled:
            outcome.error = f"still {record.status.value} when the wait timed out"
        outcome.reason = record.rejection_reason.value if record.rejection_reason else None
        if record.status is ImageStatus.FAILED:
            outcome.error = error_text(record)
        outcome.durations = stage_durations(record)
        outcome.record = record.to_json_dict()
        outcome.render = record.render.to_public_dict()

    # -- operations --------------------------------------------------------------------------
    def dlq_messages(self, *, limit: int = 1000) -> list[dict[str, Any]]:
        """Messages in the DLQ (left there: they are made visible again after reading)."""
        sqs = self.client("sqs")
        seen: dict[str, dict[str, Any]] = {}
        handles: list[str] = []
        while len(seen) < limit:
            got = sqs.receive_message(
                QueueUrl=self.resources.dlq_url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=30,
                AttributeNames=["All"],
            )
            messages = got.get("Messages", [])
            if not messages:
                break
            for message in messages:
                handles.append(message["ReceiptHandle"])
                seen.setdefault(message["MessageId"], message)
        for handle in handles:
            sqs.change_message_visibility(
                QueueUrl=self.resources.dlq_url, ReceiptHandle=handle, VisibilityTimeout=0
            )
        return list(seen.values())

    def dlq_redrive(self, message_ids: Collection[str] | None = None) -> int:
        """Move DLQ messages back to the processing queue unchanged (as SQS's own redrive does):
        those of `message_ids`, or every one when None; returns how many moved.

        A dead letter of the pipeline's failure path carries its marker (`qip_shared.messages`),
        so the trigger reprocesses its image once; a message the trigger itself dead-lettered
        revives an image whose pipeline never started.
        """
        sqs = self.client("sqs")
        wanted = None if message_ids is None else set(message_ids)
        skipped: list[str] = []
        moved = 0
        try:
            while wanted is None or wanted:
                got = sqs.receive_message(
                    QueueUrl=self.resources.dlq_url,
                    MaxNumberOfMessages=10,
                    VisibilityTimeout=30,
                    MessageAttributeNames=["All"],
                )
                messages = got.get("Messages", [])
                if not messages:
                    break
                for message in messages:
                    if wanted is not None and message["MessageId"] not in wanted:
                        skipped.append(message["ReceiptHandle"])
                        continue
                    attributes = message.get("MessageAttributes") or {}
                    sqs.send_message(
                        QueueUrl=self.resources.queue_url,
                        MessageBody=message["Body"],
                        **({"MessageAttributes": attributes} if attributes else {}),
                    )
                    sqs.delete_message(
                        QueueUrl=self.resources.dlq_url, ReceiptHandle=message["ReceiptHandle"]
                    )
                    moved += 1
                    if wanted is not None:
                        wanted.discard(message["MessageId"])
        finally:
            for handle in skipped:
                sqs.change_message_visibility(
                    QueueUrl=self.resources.dlq_url, ReceiptHandle=handle, VisibilityTimeout=0
                )
        return moved

    def reprocess(self, image_key: str) -> ImageRecord:
        """Ask the trigger to run a FAILED image again; returns the record as it was.

        Sends its upload event to the processing queue, with the dead-letter marker of its last
        failure when the pipeline failed it: what a redriven dead letter would bring.
        """
        record = self.record(image_key)
        if record is None:
            raise NotReprocessableError(f"no record for {image_key}")
        if record.status is not ImageStatus.FAILED:
            raise NotReprocessableError(
                f"{image_key} is {record.status.value}: only a FAILED image is reprocessed"
            )
        started = bool(record.execution_arn or record.stages.model_dump(exclude_none=True))
        if started and not record.dead_letter_id:
            raise NotReprocessableError(
                f"{image_key} failed in the pipeline without a dead-letter id "
                "(failed by an older version or timed out): upload it again"
            )
        body = upload_event_body(
            bucket=record.bucket or self.resources.upload_bucket,
            key=record.image_key,
            size=record.size,
            version_id=record.version_id,
            etag=record.etag,
            time=record.upload_timestamp,
        )
        extra = (
            {"MessageAttributes": dead_letter_attributes(record.dead_letter_id)}
            if record.dead_letter_id
            else {}
        )
        self.client("sqs").send_message(
            QueueUrl=self.resources.queue_url, MessageBody=json.dumps(body), **extra
        )
        return record

    def wait_for_change(
        self, before: ImageRecord, *, timeout: float = 120.0, interval: float = 0.1
    ) -> ImageRecord | None:
        """Wait until the record moves on from `before`, then until it settles again."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            current = self.record(before.image_key)
            if current != before:
                break
            time.sleep(interval)
        remaining = max(0.0, deadline - time.monotonic())
        return self.wait_for([before.image_key], timeout=remaining)[before.image_key]

    def _delete_versions(self, bucket: str, prefix: str, exact: bool) -> list[str]:
        s3 = self.client("s3")
        removed: list[str] = []
        paginator = s3.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for entry in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
                if exact and entry["Key"] != prefix:
                    continue
                s3.delete_object(Bucket=bucket, Key=entry["Key"], VersionId=entry["VersionId"])
                removed.append(f"s3://{bucket}/{entry['Key']}")
        return sorted(set(removed))

    def delete_image(self, image_key: str) -> list[str]:
        """Remove an image's upload, processed and archived objects (all versions) and record."""
        record = self.record(image_key)
        removed = self._delete_versions(self.resources.upload_bucket, image_key, exact=True)
        removed += self._delete_versions(
            self.resources.upload_bucket, processed_prefix(image_key), exact=False
        )
        if record is not None:
            removed += self._delete_versions(
                self.resources.archive_bucket,
                archive_prefix(image_key, record.upload_timestamp),
                exact=False,
            )
            self.client("dynamodb").delete_item(
                TableName=self.resources.table, Key={"imageKey": {"S": image_key}}
            )
            removed.append(f"dynamodb://{self.resources.table}/{image_key}")
        return removed


class RecordWatch:
    """Watches records until each is settled; keys may be added while it runs.

    Each round reads only the status of every pending record (one small BatchGetItem), and
    the whole record only of those that reached a terminal status (or, for a live display,
    every few rounds). moto applies an update's SET clauses one by one, so a read can see
    half of one: a record counts as settled when two whole reads in a row agree and its
    execution, if any, has finished.
    """

    DISPLAY_EVERY = 4  # rounds between whole reads of running records, for `on_update`
    KEYS_PER_INTERVAL = 8  # pending keys that add one `interval` to the pause between rounds

    def __init__(
        self,
        client: LocalClient,
        *,
        on_update: Callable[[str, ImageRecord | None], None] | None = None,
    ) -> None:
        self.client = client
        self.on_update = on_update
        self.latest: dict[str, ImageRecord | None] = {}
        self.settled_at: dict[str, float] = {}
        self._pending: set[str] = set()
        self._closed = False
        self._changed = threading.Condition()

    def add(self, image_keys: Iterable[str]) -> None:
        """Watch these keys too."""
        with self._changed:
            for key in image_keys:
                if key not in self.latest:
                    self.latest[key] = None
                    self._pending.add(key)
            self._changed.notify_all()

    def close(self) -> None:
        """No more keys will be added: `run` returns once the watched ones are settled."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def run(self, *, timeout: float, interval: float = 0.05) -> dict[str, ImageRecord | None]:
        """Poll until every key is settled and `close` was called, or `timeout` passes."""
        deadline = time.monotonic() + timeout
        round_number = 0
        while time.monotonic() <= deadline:
            with self._changed:
                if not self._pending:
                    if self._closed:
                        break
                    self._changed.wait(interval)
                    continue
                pending = sorted(self._pending)
            self._round(pending, full_all=round_number % self.DISPLAY_EVERY == 0)
            round_number += 1
            with self._changed:
                if self._closed and not self._pending:
                    break
            # Each read costs moto CPU the pipeline needs: a big batch is read less often.
            time.sleep(interval * (1 + len(pending) / self.KEYS_PER_INTERVAL))
        return dict(self.latest)

    def _round(self, pending: list[str], *, full_all: bool) -> None:
        statuses = self.client.statuses(pending)
        terminal = [k for k in pending if _is_terminal(statuses[k])]
        whole = pending if (self.on_update is not None and full_all) else terminal
        current = self.client.records(whole) if whole else {}
        for key in pending:
            if key not in current:
                continue
            record = current[key]
            stable = record is not None and record == self.latest[key]
            self.latest[key] = record
            if self.on_update is not None:
                self.on_update(key, record)
            if stable and self.client.is_settled(record):
                with self._changed:
                    self._pending.discard(key)
                    self.settled_at[key] = time.perf_counter()


def _is_terminal(status: str | None) -> bool:
    try:
        return status is not None and ImageStatus(status).is_terminal
    except ValueError:
        return False


def expand_paths(paths: Iterable[str]) -> list[str]:
    """Files as given, and the files of folders (sorted, hidden files skipped)."""
    files: list[str] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(
                str(p)
                for p in sorted(path.rglob("*"))
                if p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        elif path.is_file():
            files.append(raw)
        else:
            raise FileNotFoundError(f"no such file or folder: {raw}")
    return files
