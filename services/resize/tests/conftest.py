"""Fixtures for resize's tests: the sample input and the shared fixtures."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from qip_resize import handler as resize_handler

# Image builders, the corpus manifest, the moto account and handler fixtures: shared.
from qip_shared.testing.images import images, manifest  # noqa: F401
from qip_shared.testing.moto import account, invoke, module_account, moto_options  # noqa: F401

EVENTS_DIR = Path(__file__).resolve().parents[1] / "events"

# --- AWS (the moto account and handler fixtures come from qip_shared.testing.moto) ---------


@pytest.fixture(scope="session")
def stage_handler() -> ModuleType:
    """The handler module the shared fixtures inject adapters into and invoke."""
    return resize_handler


@pytest.fixture
def sample_state() -> dict[str, Any]:
    """The sample stage input in `events/resize_input.json`, with a fresh upload key."""
    text = (EVENTS_DIR / "resize_input.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    fresh = f"uploads/2026/11/26/{uuid.uuid4()}.jpg"
    replaced: dict[str, Any] = json.loads(text.replace(loaded["imageKey"], fresh))
    return replaced
