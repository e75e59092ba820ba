"""Fixtures of the dashboard tests: a running local system, the app over it, small images."""

from __future__ import annotations

import importlib
import io
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

# pytest's importlib mode registers the repository's `platform/` folder as the module
# `platform`, shadowing the standard library module botocore reads at import; put it back.
if getattr(sys.modules.get("platform"), "__file__", None) is None:
    _folder = sys.modules.pop("platform")
    importlib.import_module("platform")

from PIL import Image

from qip_local import LocalConfig, LocalRuntime


def make_runtime(*, server: bool) -> LocalRuntime:
    """A whole local system with fast retries (what `qip serve` runs, minus the waits)."""
    return LocalRuntime(
        LocalConfig(retry_scale=0.001, visibility_timeout=1, failed_visibility=0), server=server
    )


@pytest.fixture(scope="module")
def runtime() -> Iterator[LocalRuntime]:
    """An in-process system (moto's mock) shared by one test module."""
    with make_runtime(server=False) as started:
        yield started


@pytest.fixture(scope="module")
def server_runtime() -> Iterator[LocalRuntime]:
    """A system on a moto server on 127.0.0.1 (a browser can POST to it), per module."""
    with make_runtime(server=True) as started:
        yield started


@pytest.fixture(scope="session")
def encode() -> Callable[..., bytes]:
    """Encode a small solid image: `encode((w, h), "PNG")`."""

    def make(size: tuple[int, int], fmt: str, colour: Any = (30, 120, 200)) -> bytes:
        buffer = io.BytesIO()
        Image.new("RGB", size, colour).save(buffer, fmt)
        return buffer.getvalue()

    return make
