"""Properties of the metadata stage's record writes, over an in-memory stand-in for its adapters.

moto is exercised by the integration tests; here a fake keeps 100 examples cheap.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from qip_metadata.handler import extract
from qip_shared.config import QipSettings
from qip_shared.dynamo import from_attribute_value
from qip_shared.enums import StageStatus
from qip_shared.events import Notification, ProcessingEvent
from qip_shared.pipeline import PipelineState
from qip_shared.record import StageInfo
from qip_shared.timeutil import parse_timestamp


@dataclass
class MemoryAdapters:
    """The adapter surface metadata uses, over one in-memory object; records its writes."""

    body: bytes
    settings: QipSettings = field(default_factory=lambda: QipSettings(table_name="t"))
    stage_writes: list[StageInfo] = field(default_factory=list)
    published: list[tuple[ProcessingEvent, Notification]] = field(default_factory=list)

    def read_object(self, bucket: str, key: str, version_id: str | None, max_bytes: int) -> bytes:
        return self.body

    def update_record(self, request: dict[str, Any]) -> None:
        names = request["ExpressionAttributeNames"]
        for placeholder, value in request["ExpressionAttributeValues"].items():
            path = f"#{placeholder[1:]}_1"  # `:uN` sets `#uN_0.#uN_1` (stages.<stage>)
            if names.get(path) == "metadata":
                self.stage_writes.append(StageInfo.model_validate(from_attribute_value(value)))

    def publish(self, event: ProcessingEvent, notification: Notification) -> None:
        self.published.append((event, notification))


# Property 8: Stage timestamp tracking - for any image the metadata stage completes, the
# record gets the stage name with its start and completion timestamps, in order, and the
# completion carries the width/height/format the design asks for.
@given(
    st.sampled_from(["JPEG", "PNG", "GIF", "WEBP"]),
    st.integers(1, 40),
    st.integers(1, 40),
)
def test_completed_stage_has_ordered_timestamps(fmt: str, width: int, height: int) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (width, height, 99)).save(buffer, fmt)
    body = buffer.getvalue()
    state = PipelineState(
        image_key="uploads/2026/11/26/property.img",
        bucket="qip-uploads",
        upload_timestamp="2026-11-26T06:40:00.000Z",
        content_type="image/*",
        size=len(body),
    )
    adapters = MemoryAdapters(body)
    output = extract(state, adapters)  # type: ignore[arg-type]

    started, completed = adapters.stage_writes
    assert started.status is StageStatus.IN_PROGRESS
    assert completed.status is StageStatus.COMPLETED
    assert started.started_at is not None
    assert completed.started_at == started.started_at
    assert completed.completed_at is not None
    assert completed.timestamp == completed.completed_at
    assert parse_timestamp(completed.started_at) <= parse_timestamp(completed.completed_at)
    assert completed.duration_ms is not None
    assert completed.duration_ms >= 0
    assert (completed.width, completed.height, completed.format) == (width, height, fmt.lower())
    assert completed.details == output.metadata
    ((event, notification),) = adapters.published
    assert event.detail.timestamp == notification.timestamp == completed.completed_at
