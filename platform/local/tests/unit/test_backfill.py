"""Backfill's decisions with fake AWS clients: the query, retries under new names, the verdict."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from qip_local.backfill import Backfill, rerender_name, stale_query
from qip_shared.enums import ImageStatus
from qip_shared.recipe import DEFAULT_RECIPE
from qip_shared.record import STATUS_INDEX_NAME, ImageRecord

MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:qip-pipeline"
VERSION = "2"


def record(key: str, version: str | None) -> ImageRecord:
    return ImageRecord(
        image_key=key,
        upload_timestamp="2026-12-06T03:00:00.000Z",
        size=10,
        content_type="image/jpeg",
        status=ImageStatus.COMPLETED,
        bucket="qip-uploads",
        recipe_version=version,
    )


class FakeAws:
    """The status index, the records, and executions whose attempts fail as told."""

    def __init__(
        self, records: list[ImageRecord], failing: dict[str, int], workflow: str = "STANDARD"
    ) -> None:
        self.records = {r.image_key: r for r in records}
        self.failing = failing  # image key -> attempts that fail before one succeeds
        self.workflow = workflow
        self.started: list[tuple[str, dict[str, Any]]] = []
        self.status: dict[str, str] = {}
        self.described: list[str] = []
        self.exceptions = type("E", (), {"ExecutionAlreadyExists": KeyError})

    def describe_state_machine(self, stateMachineArn: str) -> dict[str, Any]:  # noqa: N803
        assert stateMachineArn == MACHINE
        return {"type": self.workflow}

    def query(self, **request: Any) -> dict[str, Any]:
        assert request["IndexName"] == STATUS_INDEX_NAME
        wanted = request["ExpressionAttributeValues"][":recipe"]["S"]
        stale = [r for r in self.records.values() if r.recipe_version != wanted]
        return {"Items": [r.to_item() for r in stale], "ScannedCount": len(self.records)}

    def get_item(self, **request: Any) -> dict[str, Any]:
        return {"Item": self.records[request["Key"]["imageKey"]["S"]].to_item()}

    def get_parameter(self, Name: str) -> dict[str, Any]:  # noqa: N803 - boto3's name
        recipe = DEFAULT_RECIPE.model_copy(update={"version": VERSION})
        return {"Parameter": {"Value": recipe.to_json()}}

    def start_execution(self, **request: Any) -> dict[str, Any]:
        assert self.workflow == "STANDARD", "an Express machine runs attempts synchronously"
        return self._run(request)

    def start_sync_execution(self, **request: Any) -> dict[str, Any]:
        assert self.workflow == "EXPRESS"
        answer = self._run(request)
        return {**answer, "status": self.status[request["name"]]}

    def _run(self, request: dict[str, Any]) -> dict[str, Any]:
        name, payload = request["name"], json.loads(request["input"])
        if name in self.status and self.workflow == "STANDARD":
            raise KeyError(name)  # Express does not deduplicate execution names
        self.started.append((name, payload))
        key = payload["imageKey"]
        if self.failing.get(key, 0) > 0:
            self.failing[key] -= 1
            self.status[name] = "FAILED"
        else:
            self.records[key] = self.records[key].model_copy(
                update={"recipe_version": payload["recipeVersion"]}
            )
            self.status[name] = "SUCCEEDED"
        return {"executionArn": f"arn:execution:{name}"}

    def describe_execution(self, executionArn: str) -> dict[str, Any]:  # noqa: N803
        self.described.append(executionArn)
        return {"status": self.status[executionArn.rsplit(":", 1)[1]]}


def backfill(aws: FakeAws) -> Backfill:
    return Backfill(aws, aws, aws, "qip-images", "qip-uploads", MACHINE, "/qip/recipe")


def test_the_query_reads_the_status_index_with_a_recipe_filter() -> None:
    query = stale_query("qip-images", "7")
    assert query["IndexName"] == STATUS_INDEX_NAME
    assert query["ExpressionAttributeValues"][":completed"] == {"S": "COMPLETED"}
    assert "attribute_not_exists(#recipe) OR #recipe <> :recipe" in query["FilterExpression"]


def test_only_stale_images_rerender_once_and_a_failed_attempt_is_retried_under_a_new_name() -> None:
    records = [
        record("uploads/a.jpg", "1"),
        record("uploads/b.jpg", None),
        record("uploads/c.jpg", VERSION),
    ]
    aws = FakeAws(records, failing={"uploads/b.jpg": 1})

    report = backfill(aws).run()

    assert report.to_json() == {"examined": 3, "rerendered": 2, "failed": 0}
    names = [name for name, _ in aws.started]
    assert names.count(rerender_name(records[1], VERSION, 1)) == 1
    assert names.count(rerender_name(records[1], VERSION, 2)) == 1
    assert all(payload["recipeVersion"] == VERSION for _, payload in aws.started)
    assert {payload["imageKey"] for _, payload in aws.started} == {"uploads/a.jpg", "uploads/b.jpg"}
    # A second run finds nothing stale and starts nothing.
    before = len(aws.started)
    assert backfill(aws).run().to_json() == {"examined": 3, "rerendered": 0, "failed": 0}
    assert len(aws.started) == before


def test_an_image_that_keeps_failing_is_counted_failed_after_its_attempts() -> None:
    aws = FakeAws([record("uploads/a.jpg", "1")], failing={"uploads/a.jpg": 5})
    assert backfill(aws).run().to_json() == {"examined": 1, "rerendered": 0, "failed": 1}
    assert len(aws.started) == 3


def test_on_express_each_attempt_runs_synchronously_and_failures_are_retried_at_once() -> None:
    records = [
        record("uploads/a.jpg", "1"),
        record("uploads/b.jpg", None),
        record("uploads/c.jpg", VERSION),
        record("uploads/d.jpg", "1"),
    ]
    aws = FakeAws(records, failing={"uploads/b.jpg": 1, "uploads/d.jpg": 9}, workflow="EXPRESS")

    report = backfill(aws).run()

    assert report.to_json() == {"examined": 4, "rerendered": 2, "failed": 1}
    names = [name for name, _ in aws.started]
    assert names.count(rerender_name(records[1], VERSION, 1)) == 1
    assert names.count(rerender_name(records[1], VERSION, 2)) == 1
    assert sum(payload["imageKey"] == "uploads/d.jpg" for _, payload in aws.started) == 3
    assert "uploads/c.jpg" not in {payload["imageKey"] for _, payload in aws.started}
    # Express executions cannot be described: nothing waits on DescribeExecution.
    assert aws.described == []
    before = len(aws.started)
    assert backfill(aws).run().to_json() == {"examined": 4, "rerendered": 0, "failed": 1}
    assert len(aws.started) == before + 3  # only the image that keeps failing is tried again


class Refusing(FakeAws):
    """An Express machine whose StartSyncExecution answers one error code."""

    def __init__(self, code: str) -> None:
        super().__init__([record("uploads/a.jpg", "1")], failing={}, workflow="EXPRESS")
        self.code = code
        self.calls = 0

    def start_sync_execution(self, **request: Any) -> dict[str, Any]:
        self.calls += 1
        if self.calls == 1 or self.code == "AccessDeniedException":
            raise ClientError({"Error": {"Code": self.code, "Message": "no"}}, "StartSyncExecution")
        return super().start_sync_execution(**request)


def test_on_express_a_throttled_start_is_another_attempt_and_a_refusal_is_raised() -> None:
    throttled = Refusing("ThrottlingException")
    assert backfill(throttled).run().to_json() == {"examined": 1, "rerendered": 1, "failed": 0}
    assert throttled.calls == 2
    denied = Refusing("AccessDeniedException")
    with pytest.raises(ClientError):
        backfill(denied).run()
    assert denied.calls == 1
