"""Properties of the validate stage's publishing, over an in-memory stand-in for its adapters.

moto is exercised by the integration tests; here a fake keeps 100 examples cheap.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from qip_shared.config import QipSettings
from qip_shared.enums import EventDetailType, NotificationType, StageName
from qip_shared.errors import InvalidImageError
from qip_shared.events import Notification, ProcessingEvent
from qip_shared.pipeline import PipelineState
from qip_shared.timeutil import TIMESTAMP_PATTERN
from qip_validate.handler import validate


@dataclass
class MemoryAdapters:
    """The adapter surface validate uses, over one in-memory object; records what it is asked."""

    body: bytes
    settings: QipSettings = field(default_factory=lambda: QipSettings(table_name="t"))
    updates: list[dict[str, Any]] = field(default_factory=list)
    published: list[tuple[ProcessingEvent, Notification]] = field(default_factory=list)

    def object_size(self, bucket: str, key: str, version_id: str | None) -> int:
        return len(self.body)

    def read_range(
        self, bucket: str, key: str, version_id: str | None, start: int, end: int | None = None
    ) -> bytes:
        return self.body[start : None if end is None else end + 1]

    def update_record(self, request: dict[str, Any]) -> None:
        self.updates.append(request)

    def publish(self, event: ProcessingEvent, notification: Notification) -> None:
        self.published.append((event, notification))


@st.composite
def uploads(draw: st.DrawFn) -> bytes:
    """A small image of any accepted format, or bytes that are not an acceptable image."""
    if draw(st.booleans()):
        fmt = draw(st.sampled_from(["JPEG", "PNG", "GIF", "WEBP"]))
        size = (draw(st.integers(1, 32)), draw(st.integers(1, 32)))
        buffer = io.BytesIO()
        Image.new("RGB", size, tuple(draw(st.binary(min_size=3, max_size=3)))).save(buffer, fmt)
        return buffer.getvalue()
    return draw(st.binary(max_size=256))


# Property 7: Event publishing with required context - for any upload validate finishes
# (accepted or rejected), it publishes exactly one event and one notification, both carrying
# the timestamp, the imageKey and the stage.
@given(uploads(), st.text(min_size=1, max_size=40).map(lambda s: f"uploads/{s}"))
def test_every_outcome_is_published_with_its_context(body: bytes, image_key: str) -> None:
    state = PipelineState(
        image_key=image_key,
        bucket="qip-uploads",
        upload_timestamp="2026-11-26T06:40:00.000Z",
        content_type="application/octet-stream",
        size=len(body),
    )
    adapters = MemoryAdapters(body)
    try:
        validate(state, adapters)  # type: ignore[arg-type]
        expected = (EventDetailType.STAGE_COMPLETED, NotificationType.STAGE_COMPLETED)
    except InvalidImageError:
        expected = (EventDetailType.IMAGE_REJECTED, NotificationType.PROCESSING_REJECTED)

    ((event, notification),) = adapters.published
    assert (event.detail_type, notification.event_type) == expected
    # IN_PROGRESS, then one final write (COMPLETED, or REJECTED with the FAILED stage).
    assert len(adapters.updates) == 2
    for key, stage, timestamp in (
        (event.detail.image_key, event.detail.stage, event.detail.timestamp),
        (notification.image_key, notification.stage, notification.timestamp),
    ):
        assert key == image_key
        assert stage is StageName.VALIDATION
        assert re.match(TIMESTAMP_PATTERN, timestamp)
    assert event.detail.timestamp == notification.timestamp
    wire = event.to_put_events_entry("bus")
    assert wire["Source"] == "image-processor"
