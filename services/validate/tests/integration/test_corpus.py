"""Every corpus file through the validate handler on one moto account, as the manifest says."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from qip_shared.enums import ImageStatus, StageStatus
from qip_shared.errors import InvalidImageError
from qip_validate import handler as validate_handler
from qip_validate.adapters import Adapters
from qip_validate.handler import handler


@pytest.fixture(scope="module")
def account(account_class: Any) -> Iterator[Any]:
    """One moto account for the whole corpus (each file has its own key)."""
    with mock_aws():
        shared = account_class()
        validate_handler.set_dependencies(Adapters.from_settings(shared.settings()))
        yield shared
        validate_handler.dependencies.cache_clear()


def test_every_corpus_file_through_the_handler(
    account: Any,
    sample_state: dict[str, Any],
    corpus_dir: Path,
    corpus_name: str,
    manifest: dict[str, dict[str, Any]],
) -> None:
    expected = manifest[corpus_name]
    body = (corpus_dir / corpus_name).read_bytes()
    event = {**sample_state, "imageKey": f"uploads/corpus/{corpus_name}", "size": len(body)}
    account.put_object(event["imageKey"], body)
    account.put_record(event, ImageStatus.PROCESSING)
    if expected["status"] == "COMPLETED":
        output = handler(event, None)
        assert output["valid"] is True
        record = account.record(event["imageKey"])
        assert record.status is ImageStatus.PROCESSING
        assert record.stages.validation.status is StageStatus.COMPLETED
        assert (record.stages.validation.width, record.stages.validation.height) == (
            output["width"],
            output["height"],
        )
    else:
        with pytest.raises(InvalidImageError) as caught:
            handler(event, None)
        record = account.record(event["imageKey"])
        assert record.status is ImageStatus.REJECTED
        assert record.rejection_reason is caught.value.reason
        assert caught.value.reason.value == expected["reason"]
    notifications = account.notifications()
    expected_type = (
        "STAGE_COMPLETED" if expected["status"] == "COMPLETED" else "PROCESSING_REJECTED"
    )
    assert [n["eventType"] for n in notifications] == [expected_type]
