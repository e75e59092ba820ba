"""Fixtures of the platform's local-runtime tests."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator

import pytest

# pytest's importlib mode registers the repository's `platform/` folder as the module
# `platform` (the parent of these test modules), shadowing the standard library module that
# botocore reads at import; put the standard one back before anything imports botocore.
if getattr(sys.modules.get("platform"), "__file__", None) is None:
    _folder = sys.modules.pop("platform")
    importlib.import_module("platform")


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto in this process, with fake credentials."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    from moto import mock_aws  # noqa: PLC0415 - after the `platform` module is put back

    with mock_aws():
        yield
