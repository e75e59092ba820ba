"""Fixtures the whole-system suites share (system, reliability): the local system with the real
handlers, one per test module, and the journal of every status its table was written with."""

from __future__ import annotations

import importlib
import sys

# pytest's importlib mode registers the repository's `platform/` folder as the module
# `platform` (the parent of these test modules), shadowing the standard library module that
# botocore reads at import; put the standard one back before anything imports botocore.
if getattr(sys.modules.get("platform"), "__file__", None) is None:
    sys.modules.pop("platform", None)
    importlib.import_module("platform")

from collections.abc import Iterator
from typing import Any

import pytest

from qip_local import LocalConfig, LocalRuntime
from qip_shared.testing.journal import StatusJournal, observed_statuses


@pytest.fixture(scope="module")
def journal() -> Iterator[StatusJournal]:
    """Record the status of every DynamoDB write moto performs, for one test module."""
    with observed_statuses() as observed:
        yield observed


@pytest.fixture(scope="module")
def local_runtime(
    request: pytest.FixtureRequest, runtime_defaults: dict[str, Any]
) -> Iterator[LocalRuntime]:
    """The whole system with the real handlers, one per test module.

    `runtime_defaults` (each suite's conftest) are `LocalConfig` fields; a module may override
    them with `SYSTEM_CONFIG = {...}`, and set `SERVER_MODE = True` to run moto as a server on
    127.0.0.1 (injected AWS faults then do not apply).
    """
    options = {**runtime_defaults, **getattr(request.module, "SYSTEM_CONFIG", {})}
    server = getattr(request.module, "SERVER_MODE", False)
    with LocalRuntime(LocalConfig(**options), server=server) as runtime:
        yield runtime
