"""Fixtures of the whole-system tests: the local system with the real handlers, in-process."""

from __future__ import annotations

import importlib
import sys

# pytest's importlib mode registers the repository's `platform/` folder as the module
# `platform` (the parent of these test modules), shadowing the standard library module that
# botocore reads at import; put the standard one back before anything imports botocore.
if getattr(sys.modules.get("platform"), "__file__", None) is None:
    _folder = sys.modules.pop("platform")
    importlib.import_module("platform")

import io
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from moto.dynamodb.models import DynamoDBBackend
from PIL import Image

from qip_local import LocalClient, LocalConfig, LocalRuntime

# Retry waits of 2/4/8 s become 2/4/8 ms; the intervals asked for are still recorded.
RETRY_SCALE = 0.001


@dataclass
class StatusJournal:
    """Every status each record was written with, in write order (observed inside moto)."""

    statuses: dict[str, list[str]] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def note(self, image_key: str, status: str | None) -> None:
        """Append a status if it differs from the last one seen for the key."""
        if status is None:
            return
        seen = self.statuses.setdefault(image_key, [])
        if not seen or seen[-1] != status:
            seen.append(status)

    def history(self, image_key: str) -> list[str]:
        """The distinct consecutive statuses of one record."""
        with self.lock:
            return list(self.statuses.get(image_key, []))


def _item_status(item: Any) -> tuple[str | None, str | None]:
    attrs = getattr(item, "attrs", {}) or {}
    key = attrs.get("imageKey")
    status = attrs.get("status")
    return (key.value if key is not None else None, status.value if status is not None else None)


@pytest.fixture(scope="module")
def journal() -> Iterator[StatusJournal]:
    """Record the status of every DynamoDB write moto performs (put_item, update_item)."""
    observed = StatusJournal()
    originals = {name: getattr(DynamoDBBackend, name) for name in ("put_item", "update_item")}

    def wrap(original: Callable[..., Any]) -> Callable[..., Any]:
        def write(self: Any, *args: Any, **kwargs: Any) -> Any:
            # One write at a time, so the journal order is the write order.
            with observed.lock:
                item = original(self, *args, **kwargs)
                observed.note(*_item_status(item))
            return item

        return write

    for name, original in originals.items():
        setattr(DynamoDBBackend, name, wrap(original))
    try:
        yield observed
    finally:
        for name, original in originals.items():
            setattr(DynamoDBBackend, name, original)


@dataclass
class System:
    """A running local system and the handles tests need."""

    runtime: LocalRuntime
    client: LocalClient
    journal: StatusJournal

    def fault_hook(self, hook: Callable[[str, Any, int], None]) -> Callable[[], None]:
        """Install a function fault hook; returns its remover."""
        return self.runtime.add_fault_hook(hook)


@pytest.fixture(scope="module")
def system(request: pytest.FixtureRequest, journal: StatusJournal) -> Iterator[System]:
    """The whole system, real handlers, one per test module (fast retries, 10 s visibility).

    A module may set `SYSTEM_CONFIG = {...}` to override `LocalConfig` fields.
    """
    options: dict[str, Any] = {
        "retry_scale": RETRY_SCALE,
        # Long enough that a slow trigger (a loaded CI machine) is not sent a duplicate.
        "visibility_timeout": 10,
        "function_concurrency": 4,
        **getattr(request.module, "SYSTEM_CONFIG", {}),
    }
    with LocalRuntime(LocalConfig(**options)) as runtime:
        yield System(runtime, runtime.local_client(), journal)


@pytest.fixture(scope="session")
def encode_image() -> Callable[..., bytes]:
    """Encode a small generated image: size, format, mode, optional EXIF orientation, frames."""

    def encode(
        size: tuple[int, int],
        fmt: str,
        mode: str = "RGB",
        orientation: int | None = None,
        frames: int = 1,
        seed: int = 0,
    ) -> bytes:
        colour = (seed * 37 % 256, seed * 91 % 256, seed * 53 % 256, 200)
        base = Image.new("RGBA", size, colour)
        image = base.convert(mode) if mode != "P" else base.convert("RGB").quantize(16)
        buffer = io.BytesIO()
        options: dict[str, Any] = {}
        if orientation is not None and fmt == "JPEG":
            exif = Image.Exif()
            exif[0x0112] = orientation
            options["exif"] = exif.tobytes()
        if frames > 1 and fmt in ("GIF", "WEBP"):
            extra = [image.rotate(90 * i) for i in range(1, frames)]
            options |= {"save_all": True, "append_images": extra, "duration": 50}
        image.save(buffer, fmt, **options)
        return buffer.getvalue()

    return encode
