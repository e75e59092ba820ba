"""Fixtures of the whole-system tests: the local system with the real handlers, in-process
(started by the fixtures `../conftest.py` shares with the reliability suite)."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from PIL import Image

from qip_local import LocalClient, LocalRuntime
from qip_shared.testing.journal import StatusJournal

# Retry waits of 2/4/8 s become 2/4/8 ms; the intervals asked for are still recorded.
RETRY_SCALE = 0.001


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
def runtime_defaults() -> dict[str, Any]:
    """`LocalConfig` of this suite's systems: fast retries, 10 s visibility, 4 at a time."""
    return {
        "retry_scale": RETRY_SCALE,
        # Long enough that a slow trigger (a loaded CI machine) is not sent a duplicate.
        "visibility_timeout": 10,
        "function_concurrency": 4,
    }


@pytest.fixture(scope="module")
def system(journal: StatusJournal, local_runtime: LocalRuntime) -> System:
    """The whole system, real handlers, one per test module (`../conftest.py` starts it).

    A module may set `SYSTEM_CONFIG = {...}` to override `LocalConfig` fields.
    """
    return System(local_runtime, local_runtime.local_client(), journal)


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
