"""Handler checks every image-output stage (resize, thumbnail) must pass, on moto.

A stage's integration test subclasses `ImageStageHandlerChecks` and states only what is its own
(handler module, stage, output model and key, output size, core function, error classes); the
fixtures (`account`, `sample_state`, `images`, `invoke`) come from `qip_shared.testing.moto`
and `qip_shared.testing.images` through the service's conftest.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from types import ModuleType, SimpleNamespace
from typing import Any, ClassVar

import pytest
from PIL import Image

from qip_shared.enums import ImageStatus, StageName, StageStatus
from qip_shared.errors import PermanentError, QipError
from qip_shared.keys import processed_prefix
from qip_shared.pipeline import ResizeOutput, ThumbnailOutput
from qip_shared.timeutil import parse_timestamp


class ImageStageHandlerChecks:
    """Object written, record updated, event and notification sent; failures typed and logged."""

    HANDLER: ClassVar[ModuleType]
    STAGE: ClassVar[StageName]
    OUTPUT: ClassVar[type[ResizeOutput] | type[ThumbnailOutput]]
    OUTPUT_ATTR: ClassVar[str]  # e.g. "resized_key" (model and record attribute)
    KEY_FIELD: ClassVar[str]  # e.g. "resizedKey" (wire name)
    SIZE: ClassVar[tuple[int, int]]  # output size for a 1600x1200 (displayed) source
    FUNCTION: ClassVar[str]  # e.g. "qip-resize"
    CORE: ClassVar[str]  # name of the core function in the handler module
    UNDECODABLE: ClassVar[type[QipError]]
    RECORD_NOT_FOUND: ClassVar[type[QipError]]
    KEY_OF: ClassVar[staticmethod[[str], str]]  # e.g. staticmethod(resized_key)
    EXTRA_OUTPUT_FIELDS: ClassVar[frozenset[str]] = frozenset()  # e.g. thumbnail's "render"

    def output_key(self, image_key: str) -> str:
        """Where this stage writes its output for an upload."""
        return self.KEY_OF(image_key)

    @pytest.fixture
    def upload(self, account: Any, sample_state: dict[str, Any], images: Any) -> dict[str, Any]:
        """A 1600x1200 (displayed) JPEG stored with orientation 6, its record PROCESSING."""
        key = sample_state["imageKey"]
        data = images.oriented(images.quadrant_image((1600, 1200)), 6, quality=90)
        account.put_upload(key, data)
        account.seed_record(key)
        return sample_state

    def test_resizes_and_records_completion(
        self, account: Any, upload: dict[str, Any], invoke: Any, images: Any
    ) -> None:
        key = upload["imageKey"]

        answer = invoke(upload)

        output = self.OUTPUT.model_validate(answer)
        assert output.image_key == key
        assert getattr(output, self.OUTPUT_ATTR) == self.output_key(key)
        assert (output.width, output.height) == self.SIZE
        assert set(answer) == {
            "imageKey",
            self.KEY_FIELD,
            "width",
            "height",
            "bytes",
            "variants",
            *self.EXTRA_OUTPUT_FIELDS,
        }
        # The default recipe: one JPEG variant, the classic output, with its lineage.
        [variant] = output.variants
        assert (variant.key, variant.format, variant.width, variant.height, variant.bytes) == (
            self.output_key(key),
            "jpeg",
            *self.SIZE,
            output.bytes,
        )
        assert variant.recipe_version == "1"
        upload_bytes = account.get_object(key)["data"]
        assert variant.source_sha256 == hashlib.sha256(upload_bytes).hexdigest()
        assert variant.decoder.startswith("Pillow ")
        assert "JPEG" in variant.decoder
        assert "libjpeg-turbo" in variant.encoder
        # The JPEG: written under its key, typed, upright, clean.
        stored = account.get_object(getattr(output, self.OUTPUT_ATTR))
        assert stored["ContentType"] == "image/jpeg"
        assert output.bytes == len(stored["data"])
        image = images.assert_clean_jpeg(stored["data"])
        assert image.size == self.SIZE
        assert all(map(images.close, images.quadrant_colours(image), images.QUADRANTS))
        # The record: stage COMPLETED with its timing, the output key, status untouched.
        record = account.record(key)
        assert record.status is ImageStatus.PROCESSING
        assert getattr(record, self.OUTPUT_ATTR) == getattr(output, self.OUTPUT_ATTR)
        stage = record.stages.get(self.STAGE)
        assert stage.status is StageStatus.COMPLETED
        assert stage.duration_ms is not None
        assert stage.duration_ms >= 0
        assert stage.started_at <= stage.completed_at
        elapsed = parse_timestamp(stage.completed_at) - parse_timestamp(stage.started_at)
        assert abs(elapsed.total_seconds() * 1000 - stage.duration_ms) <= 1
        # Requirement 4: StageCompleted on the bus, STAGE_COMPLETED on SNS.
        [notification] = account.notifications()
        assert notification["eventType"] == "STAGE_COMPLETED"
        assert notification["stage"] == self.STAGE.value
        assert notification["imageKey"] == key
        assert notification["processingDuration"] == stage.duration_ms
        [event] = account.bus_events()
        assert event["source"] == "image-processor"
        assert event["detail-type"] == "StageCompleted"
        assert event["detail"]["stage"] == self.STAGE.value
        assert event["detail"]["imageKey"] == key
        assert event["detail"]["metadata"][self.KEY_FIELD] == getattr(output, self.OUTPUT_ATTR)

    def test_rerun_overwrites_the_same_key_and_does_not_reopen_the_stage(
        self, account: Any, upload: dict[str, Any], invoke: Any
    ) -> None:
        key = upload["imageKey"]
        first = invoke(upload)
        recorded = account.record(key).stages.get(self.STAGE)
        account.s3.put_object(Bucket=account.bucket, Key=first[self.KEY_FIELD], Body=b"stale")

        second = invoke(upload)

        assert second == first
        assert account.get_object(first[self.KEY_FIELD])["data"] != b"stale"
        listed = account.s3.list_objects_v2(Bucket=account.bucket, Prefix=processed_prefix(key))
        assert [o["Key"] for o in listed["Contents"]] == [first[self.KEY_FIELD]]
        assert account.record(key).stages.get(self.STAGE) == recorded

    def test_finished_record_is_left_alone(
        self, account: Any, upload: dict[str, Any], invoke: Any
    ) -> None:
        key = upload["imageKey"]
        account.seed_record(key, ImageStatus.FAILED)

        answer = invoke(upload)

        assert answer[self.KEY_FIELD] == self.output_key(key)
        record = account.record(key)
        assert record.status is ImageStatus.FAILED
        assert record.stages.get(self.STAGE) is None

    def test_undecodable_upload_fails_permanently_and_records_it(
        self, account: Any, sample_state: dict[str, Any], invoke: Any
    ) -> None:
        key = sample_state["imageKey"]
        account.put_upload(key, b"\xff\xd8\xff\xe0 this is not really a JPEG")
        account.seed_record(key)

        with pytest.raises(PermanentError) as caught:
            invoke(sample_state)

        # The state machine matches class names: the subclass leaves as a plain PermanentError.
        assert type(caught.value) is PermanentError
        assert caught.value.code == "UNDECODABLE_IMAGE"
        assert isinstance(caught.value.__cause__, self.UNDECODABLE)
        stage = account.record(key).stages.get(self.STAGE)
        assert stage.status is StageStatus.FAILED
        assert "UNDECODABLE_IMAGE" in stage.error_message
        listed = account.s3.list_objects_v2(Bucket=account.bucket, Prefix=processed_prefix(key))
        assert "Contents" not in listed
        assert account.notifications() == []

    def test_missing_upload_is_a_permanent_error(
        self, account: Any, sample_state: dict[str, Any], invoke: Any
    ) -> None:
        account.seed_record(sample_state["imageKey"])
        with pytest.raises(PermanentError) as caught:
            invoke(sample_state)
        assert type(caught.value) is PermanentError
        assert caught.value.code == "NoSuchKey"
        stage = account.record(sample_state["imageKey"]).stages.get(self.STAGE)
        assert stage.status is StageStatus.FAILED

    def test_missing_record_is_a_permanent_error(
        self, account: Any, sample_state: dict[str, Any], invoke: Any, images: Any
    ) -> None:
        account.put_upload(sample_state["imageKey"], images.encode(Image.new("RGB", (8, 8)), "PNG"))
        with pytest.raises(PermanentError) as caught:
            invoke(sample_state)
        assert type(caught.value) is PermanentError
        assert caught.value.code == self.RECORD_NOT_FOUND.code

    def test_invalid_event_is_a_permanent_error(self, account: Any, invoke: Any) -> None:
        with pytest.raises(PermanentError) as caught:
            invoke({"bucket": "qip-uploads"})
        assert caught.value.code == "BAD_INPUT"

    def test_failure_is_logged_as_structured_json(
        self, account: Any, sample_state: dict[str, Any], invoke: Any
    ) -> None:
        account.seed_record(sample_state["imageKey"])
        event = {**sample_state, "executionArn": "arn:aws:states:us-east-1:1:execution:m:e"}
        # The logger's handler kept the stdout of import time: point it at a buffer for the test.
        stream = io.StringIO()
        log_handler = self.HANDLER.logger.registered_handler
        assert isinstance(log_handler, logging.StreamHandler)
        previous = log_handler.setStream(stream)
        try:
            with pytest.raises(PermanentError):
                invoke(event)
        finally:
            log_handler.setStream(previous)
        logs = [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
        [failure] = [entry for entry in logs if entry.get("level") == "ERROR"]
        assert failure["imageKey"] == sample_state["imageKey"]
        assert failure["stage"] == self.STAGE.value
        assert failure["errorType"] == "PermanentError"
        assert failure["executionArn"] == event["executionArn"]
        assert "exception" in failure

    def test_adapters_are_built_lazily_from_the_environment(
        self, monkeypatch: pytest.MonkeyPatch, account: Any
    ) -> None:
        monkeypatch.setenv("QIP_TABLE_NAME", "from-env")
        self.HANDLER.set_dependencies(None)
        built = self.HANDLER.dependencies()
        assert built.settings.table_name == "from-env"
        assert self.HANDLER.dependencies() is built  # once per process

    def test_accepts_a_lambda_context(
        self, account: Any, upload: dict[str, Any], invoke: Any
    ) -> None:
        context = SimpleNamespace(
            function_name=self.FUNCTION,
            memory_limit_in_mb=1536,
            invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:" + self.FUNCTION,
            aws_request_id="req-1",
        )
        assert invoke(upload, context)[self.KEY_FIELD] == self.output_key(upload["imageKey"])

    def test_unexpected_failure_is_recorded_and_reraised(
        self, account: Any, upload: dict[str, Any], invoke: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def broken(*args: Any) -> Any:
            raise RuntimeError("a bug")

        monkeypatch.setattr(self.HANDLER, self.CORE, broken)
        with pytest.raises(RuntimeError):
            invoke(upload)
        stage = account.record(upload["imageKey"]).stages.get(self.STAGE)
        assert stage.status is StageStatus.FAILED
        assert stage.error_message == "a bug"
