"""Fixtures for the sweeper's tests: the shared moto account and handler fixtures."""

from __future__ import annotations

from types import ModuleType

import pytest

from qip_shared.testing.moto import aws, invoke, lambda_logs, moto_options  # noqa: F401
from qip_sweeper import handler as sweeper_handler


@pytest.fixture(scope="session")
def stage_handler() -> ModuleType:
    """The handler module the shared fixtures inject adapters into and invoke."""
    return sweeper_handler
