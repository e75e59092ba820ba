"""Fixtures of the security checks: the default stack's template as JSON, and the AWS calls
each function really makes, recorded while the local system processes a few images."""

from __future__ import annotations

import importlib
import sys

# pytest's importlib mode registers the repository's `platform/` folder as the module
# `platform`, shadowing the standard library module that jsii and botocore import.
if getattr(sys.modules.get("platform"), "__file__", None) is None:
    sys.modules.pop("platform", None)
    importlib.import_module("platform")

import io
import json
import threading
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template
from PIL import Image

from qip_local import LocalConfig, LocalRuntime
from qip_local.faults import FaultInjector
from qip_pipeline.names import ALL_SERVICES
from qip_shared.enums import ImageStatus
from qip_shared.errors import PermanentError


@pytest.fixture(scope="session")
def template(template: Template) -> dict[str, Any]:
    """The default stack's CloudFormation template (every stage), as JSON: the stack that
    `platform/stack/tests/conftest.py` synthesizes once for the infra checks too."""
    rendered: dict[str, Any] = template.to_json()
    return rendered


class CallRecorder(FaultInjector):
    """Injects nothing; records which function made which AWS call (service, operation)."""

    def __init__(self) -> None:
        super().__init__()
        self.local = threading.local()
        self.calls: dict[str, set[tuple[str, str]]] = defaultdict(set)

    def pick(self, service: str, operation: str) -> None:
        """Note the call against the function running on this thread."""
        caller = getattr(self.local, "function", None)
        thread = threading.current_thread()
        if caller is None and thread is not threading.main_thread():
            # The poller plays Lambda's event-source mapping; other threads run executions.
            caller = "poller" if thread.name.startswith("sqs-poller") else "states"
        if caller is not None:
            with self._lock:
                self.calls[caller].add((service, operation))


def _png(seed: int, size: tuple[int, int] = (40, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (seed * 40 % 256, 90, 160)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="session")
def recorded_calls() -> Iterator[dict[str, set[tuple[str, str]]]]:
    """function name -> (botocore service, operation) it called, over every path: images that
    complete, a non-image the trigger rejects, a corrupt image validate rejects, an image whose
    stage fails, a redelivered event and re-run stages."""
    recorder = CallRecorder()
    config = LocalConfig(retry_scale=0.001, visibility_timeout=1, failed_visibility=0)
    with LocalRuntime(config) as runtime, recorder.installed():
        registry = runtime.registry
        assert registry is not None
        assert runtime.resources is not None
        for service in ALL_SERVICES:
            name = runtime.resources.function_name(service)
            handler = registry.handler_for(name)
            assert handler is not None

            def scoped(event: Any, context: Any, name: str = name, handler: Any = handler) -> Any:
                saved = getattr(recorder.local, "function", None)
                recorder.local.function = name
                try:
                    return handler(event, context)
                finally:
                    recorder.local.function = saved

            registry.register(name, scoped)
        deliveries: list[bytes] = []

        def capture(function: str, event: Any, attempt: int) -> None:
            if function.endswith("trigger") and not deliveries:
                deliveries.append(json.dumps(event).encode())

        runtime.add_fault_hook(capture)
        client = runtime.local_client()
        # One image whose resize fails for good: the state machine's HandleError path runs.
        doomed = _png(4)
        ticket = client.request_upload(
            content_type="image/png", size=len(doomed), file_name="e.png"
        )

        def broken(function: str, event: Any, attempt: int) -> None:
            state = event.get("state") or {}
            if function.endswith("resize") and state.get("imageKey") == ticket.image_key:
                raise PermanentError("resize is broken for this image")

        runtime.add_fault_hook(broken)
        client.post_file(ticket, doomed, "e.png")
        keys = [
            client.upload_bytes(_png(1), file_name="a.png"),
            client.upload_bytes(_png(2, (300, 200)), file_name="b.png"),
            client.upload_bytes(b"plain text, not an image", file_name="c.png"),
            client.upload_bytes(_png(3)[:60], file_name="d.png"),  # passes the sniff, corrupt
            ticket.image_key,
        ]
        records = client.wait_for(keys, timeout=120)
        statuses = [r.status.value if r else None for r in records.values()]
        assert statuses == ["COMPLETED", "COMPLETED", "REJECTED", "REJECTED", "FAILED"], statuses
        # The images API's reads (issue 15): one image with its signed outputs, one listing.
        assert client.images_api(f"/images/{keys[0]}")[0] == 200
        assert client.images_api("/images", {"status": "COMPLETED"})[0] == 200
        # The paths a redelivery takes: the same S3 event again, each stage run again (as a
        # Step Functions retry after a lost answer): they read the record to act idempotently.
        lam = runtime.client("lambda")
        assert deliveries
        lam.invoke(FunctionName=runtime.resources.function_name("trigger"), Payload=deliveries[0])
        sfn = runtime.client("stepfunctions")
        history = sfn.get_execution_history(
            executionArn=records[keys[0]].execution_arn, maxResults=1000
        )["events"]
        for event in history:
            details = event.get("lambdaFunctionScheduledEventDetails")
            if details:
                lam.invoke(FunctionName=details["resource"], Payload=details["input"].encode())
        # The sweeper's path: a record its (finished) execution left PROCESSING past the cap.
        table = runtime.client("dynamodb")
        stuck = records[keys[0]]
        assert stuck is not None
        long_ago = "2020-01-01T00:00:00.000Z"
        stranded = stuck.model_copy(
            update={
                "image_key": "uploads/2020/01/01/stranded.png",
                "status": ImageStatus.PROCESSING,
                "upload_timestamp": long_ago,
                "claimed_at": long_ago,
            }
        )
        table.put_item(TableName=runtime.resources.table, Item=stranded.to_item())
        swept = lam.invoke(FunctionName=runtime.resources.function_name("sweeper"), Payload=b"{}")
        assert json.loads(swept["Payload"].read())["swept"] >= 1
        yield dict(recorder.calls)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root."""
    return Path(__file__).resolve().parents[4]
