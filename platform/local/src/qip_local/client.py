"""A client of a running local system: upload through the real path, watch, fetch, clean up.

It only talks AWS APIs (and HTTP for the presigned POST), so it works the same against the
in-process mock and against a `qip serve` server. The API Gateway in front of upload-url is
played by a `lambda.invoke` with an API Gateway-shaped event carrying Cognito claims.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from qip_local.dlq import DeadLetters, NotReprocessableError
from qip_local.uploads import (
    LOCAL_USER_CLAIMS,
    OCTET_STREAM,
    UploadFailedError,
    UploadRefusedError,
    Uploads,
    UploadTicket,
    api_gateway_event,
    declared_content_type,
    images_api_event,
)
from qip_local.watch import RecordWatch
from qip_shared.enums import ImageStatus, RejectionReason, StageName
from qip_shared.keys import archive_prefix, processed_prefix, variant_file_name
from qip_shared.keys import resized_key as default_resized_key
from qip_shared.keys import thumbnail_key as default_thumbnail_key
from qip_shared.record import ImageRecord

# Defined with their parts and importable from here, where callers have always found them.
__all__ = [
    "LOCAL_USER_CLAIMS",
    "OCTET_STREAM",
    "REFUSAL_REASONS",
    "LocalClient",
    "NotReprocessableError",
    "Outcome",
    "RecordWatch",
    "UploadFailedError",
    "UploadRefusedError",
    "UploadTicket",
    "api_gateway_event",
    "declared_content_type",
    "error_text",
    "expand_paths",
    "images_api_event",
    "stage_durations",
]

# Files uploaded at once by `process`: an upload spends most of its time waiting on the
# embedded AWS (a free function for upload-url, the server's interpreter lock), so a few in
# flight keep the pipeline fed without taking its cores.
UPLOAD_CONCURRENCY = 3

# upload-url refusals that say what the upload is, as the pipeline would have said it.
REFUSAL_REASONS = {
    "UNSUPPORTED_CONTENT_TYPE": RejectionReason.UNSUPPORTED_FORMAT,
    "TOO_LARGE": RejectionReason.TOO_LARGE,
}


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


class LocalClient(Uploads, DeadLetters):
    """Upload, wait and inspect on a running local system (or a deployed stack).

    Its jobs live with their parts: uploads (`qip_local.uploads`), reading and waiting
    (`qip_local.watch`), the dead-letter queue (`qip_local.dlq`); here the whole `qip process`
    run, its outputs, and deleting an image. The session and its clients: `qip_local.endpoint`.
    """

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
        upload_concurrency: int = UPLOAD_CONCURRENCY,
    ) -> list[Outcome]:
        """Upload the files (a few at a time) while watching those uploaded; collect outcomes.

        Each image's outputs are copied into `out_dir` as soon as it settles.
        """
        index_of: dict[str, int] = {}
        started: dict[str, float] = {}
        # Each file's output folder, by its place in the list (duplicate names get -2, -3).
        taken: set[str] = set()
        folders = [out_dir / _label(name, taken) for name in files] if out_dir else []

        def update(key: str, record: ImageRecord | None) -> None:
            if on_update is not None:
                on_update(index_of[key], record)

        copies = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qip-outputs")
        copied: dict[str, Future[dict[str, Any] | None]] = {}

        def settled(key: str, record: ImageRecord | None) -> None:
            if folders and record is not None:
                copied[key] = copies.submit(self.download_outputs, record, folders[index_of[key]])

        watch = RecordWatch(self, on_update=update, on_settled=settled)
        results: dict[str, dict[str, ImageRecord | None]] = {}
        watcher = threading.Thread(
            target=lambda: results.update(latest=watch.run(timeout=timeout)),
            name="qip-watch",
            daemon=True,
        )
        watcher.start()
        try:
            outcomes = self._upload_all(files, watch, index_of, started, upload_concurrency)
        finally:
            watch.close()
            watcher.join()
            copies.shutdown(wait=True)
        records = results.get("latest", {})
        for outcome in outcomes:
            key = outcome.image_key
            if key is None:
                continue
            outcome.seconds = watch.settled_at.get(key, time.perf_counter()) - started[key]
            record = records.get(key)
            if record is None:
                outcome.status = "UNKNOWN"
                outcome.error = "no record appeared before the timeout"
                continue
            self._fill_outcome(outcome, record, settled=key in watch.settled_at)
            if out_dir is not None:
                directory = folders[index_of[key]]
                copy = copied.get(key)
                outcome.outputs = (
                    copy.result() if copy is not None else self.download_outputs(record, directory)
                )
                directory.mkdir(parents=True, exist_ok=True)
                (directory / "record.json").write_text(
                    json.dumps(outcome.record, indent=2, sort_keys=True) + "\n"
                )
        return outcomes

    def _upload_all(
        self,
        files: Sequence[str],
        watch: RecordWatch,
        index_of: dict[str, int],
        started: dict[str, float],
        concurrency: int,
    ) -> list[Outcome]:
        """Upload `concurrency` files at a time, watching each as its upload ends.

        Fills `index_of` (key -> place in `files`) and `started` (key -> when its upload began).
        """
        outcomes: list[Outcome | None] = [None] * len(files)
        uploads = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="qip-up")
        try:
            pending = {uploads.submit(self._timed_upload, f): i for i, f in enumerate(files)}
            for done in as_completed(pending):
                outcome, began = done.result()
                outcomes[pending[done]] = outcome
                if outcome.image_key is not None:
                    index_of[outcome.image_key] = pending[done]
                    started[outcome.image_key] = began
                    watch.add([outcome.image_key])
        finally:
            uploads.shutdown(wait=True, cancel_futures=True)  # after an error: no more uploads
        return [outcome for outcome in outcomes if outcome is not None]

    def _timed_upload(self, name: str) -> tuple[Outcome, float]:
        """`_upload_one`, and when it began (an image's seconds count from there)."""
        began = time.perf_counter()
        return self._upload_one(name), began

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
