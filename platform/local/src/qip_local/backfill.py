"""Backfill: re-render the COMPLETED images whose variants another recipe version rendered.

Finding them reads the status index (`status = COMPLETED`) with a filter on `recipeVersion`:
a Query, never a Scan. Each stale image runs through the same state machine again, with the
wanted `recipeVersion` in its input: validate and metadata answer from the record, resize and
thumbnail re-render every variant, archive copies them and records the new variants on the
record (which stays COMPLETED throughout). Execution names are deterministic per image and
recipe version, so a second run (or a run after an interruption) starts nothing twice: it
waits for a running execution, and retries a failed one under the next attempt's name.

An Express state machine (the stack's default) cannot be described execution by execution and
does not deduplicate names: there each attempt runs with `StartSyncExecution`, whose answer is
how it ended, on a client that waits as long as an Express execution may run. Only AWS APIs are
used, so the same code serves the in-process mock, a `qip serve` and a deployed stack
(`--outputs`); only where the clients point differs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from qip_shared.aws import is_retryable
from qip_shared.enums import ImageStatus
from qip_shared.keys import execution_name
from qip_shared.limits import EXPRESS_EXECUTION_CAP_SECONDS, Workflow
from qip_shared.pipeline import PipelineInput
from qip_shared.recipe import Recipe
from qip_shared.recipe_store import read_recipe
from qip_shared.record import (
    STATUS_INDEX_NAME,
    STATUS_INDEX_PARTITION_KEY,
    TABLE_PARTITION_KEY,
    ImageRecord,
)

MAX_ATTEMPTS = 3
"""Executions tried per image and recipe version (a failed one is retried under a new name)."""
IN_FLIGHT = 4
POLL_SECONDS = 0.1
FINISHED = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})
SYNC_READ_TIMEOUT_SECONDS = EXPRESS_EXECUTION_CAP_SECONDS + 30
"""A `StartSyncExecution` answers when the execution ends: at most the Express cap."""


def sync_client_config() -> Config:
    """The Step Functions client config of `StartSyncExecution`: wait out an Express execution,
    and never retry a call by itself (a retried call would run the image again)."""
    return Config(
        read_timeout=SYNC_READ_TIMEOUT_SECONDS,
        retries={"total_max_attempts": 1, "mode": "standard"},
    )


@dataclass
class BackfillReport:
    """What a backfill did: COMPLETED images examined, re-rendered, failed."""

    examined: int = 0
    rerendered: int = 0
    failed: int = 0

    def to_json(self) -> dict[str, int]:
        """`qip backfill --json`."""
        return {"examined": self.examined, "rerendered": self.rerendered, "failed": self.failed}


def stale_query(table: str, recipe_version: str) -> dict[str, Any]:
    """The Query (status index) for COMPLETED images not rendered by `recipe_version`."""
    return {
        "TableName": table,
        "IndexName": STATUS_INDEX_NAME,
        "KeyConditionExpression": "#status = :completed",
        "FilterExpression": "attribute_not_exists(#recipe) OR #recipe <> :recipe",
        "ExpressionAttributeNames": {
            "#status": STATUS_INDEX_PARTITION_KEY,
            "#recipe": "recipeVersion",
        },
        "ExpressionAttributeValues": {
            ":completed": {"S": ImageStatus.COMPLETED.value},
            ":recipe": {"S": recipe_version},
        },
    }


def find_stale(dynamodb: Any, table: str, recipe_version: str) -> tuple[int, list[ImageRecord]]:
    """(COMPLETED images examined, those rendered by another version), page by page."""
    request = stale_query(table, recipe_version)
    examined = 0
    stale: list[ImageRecord] = []
    while True:
        page = dynamodb.query(**request)
        examined += int(page.get("ScannedCount", 0))
        stale.extend(ImageRecord.from_item(item) for item in page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return examined, stale
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def rerender_input(record: ImageRecord, bucket: str, recipe_version: str) -> dict[str, Any]:
    """The execution input that re-renders `record` with `recipe_version`."""
    return PipelineInput(
        image_key=record.image_key,
        bucket=record.bucket or bucket,
        upload_timestamp=record.upload_timestamp,
        content_type=record.content_type,
        size=record.size,
        version_id=record.version_id,
        etag=record.etag,
        recipe_version=recipe_version,
    ).to_json_dict()


def rerender_name(record: ImageRecord, recipe_version: str, attempt: int) -> str:
    """The deterministic execution name of one attempt at one image and recipe version."""
    return execution_name(record.image_key, f"recipe:{recipe_version}:{attempt}")


@dataclass
class Backfill:
    """Runs a backfill against one system (its DynamoDB, Step Functions and SSM clients)."""

    dynamodb: Any
    stepfunctions: Any
    ssm: Any
    table: str
    upload_bucket: str
    state_machine_arn: str
    recipe_parameter: str
    in_flight: int = IN_FLIGHT
    # `StartSyncExecution`'s client (`sync_client_config`); None: `stepfunctions`.
    sync_stepfunctions: Any = None
    _workflow: Workflow | None = field(default=None, init=False, repr=False)

    def current_recipe(self) -> Recipe:
        """The recipe the system renders now (its SSM parameter)."""
        return read_recipe(self.ssm, self.recipe_parameter)

    def workflow(self) -> Workflow:
        """The state machine's type: how an attempt is run and its end observed."""
        if self._workflow is None:
            described = self.stepfunctions.describe_state_machine(
                stateMachineArn=self.state_machine_arn
            )
            self._workflow = Workflow(str(described.get("type", Workflow.STANDARD)))
        return self._workflow

    def run(
        self,
        *,
        on_plan: Callable[[int, int], None] | None = None,
        on_done: Callable[[ImageRecord, bool], None] | None = None,
        timeout: float = 600.0,
    ) -> BackfillReport:
        """Find the stale images, re-render them (a few at a time), and report."""
        version = self.current_recipe().version
        examined, stale = find_stale(self.dynamodb, self.table, version)
        report = BackfillReport(examined=examined)
        if on_plan is not None:
            on_plan(examined, len(stale))
        deadline = time.monotonic() + timeout
        rerender = (
            self._rerender_batch_sync
            if stale and self.workflow() is Workflow.EXPRESS
            else self._rerender_batch
        )
        for batch in _chunks(stale, self.in_flight):
            for record, ok in zip(batch, rerender(batch, version, deadline), strict=True):
                if ok:
                    report.rerendered += 1
                else:
                    report.failed += 1
                if on_done is not None:
                    on_done(record, ok)
        return report

    def _rerender_batch(
        self, batch: Sequence[ImageRecord], version: str, deadline: float
    ) -> list[bool]:
        """Re-render a few images at once; whether each ended recorded at `version`."""
        pending = {r.image_key: (r, 1, self._start(r, version, 1)) for r in batch}
        outcome: dict[str, bool] = {}
        while pending and time.monotonic() < deadline:
            for key, (record, attempt, arn) in list(pending.items()):
                # The record is the verdict (archive writes it last); the execution's status
                # only tells a failed attempt, where the workflow type lets us read it.
                status = self._status(arn)
                if self._recorded(key, version):
                    outcome[key] = True
                elif status not in FINISHED:
                    continue
                elif attempt < MAX_ATTEMPTS:
                    pending[key] = (record, attempt + 1, self._start(record, version, attempt + 1))
                    continue
                else:
                    outcome[key] = False
                del pending[key]
            if pending:
                time.sleep(POLL_SECONDS)
        return [outcome.get(r.image_key, False) for r in batch]

    def _rerender_batch_sync(
        self, batch: Sequence[ImageRecord], version: str, deadline: float
    ) -> list[bool]:
        """Express: run a few images at once, each attempt to its end (`StartSyncExecution`)."""
        with ThreadPoolExecutor(max_workers=max(1, len(batch))) as pool:
            return list(pool.map(lambda r: self._rerender_sync(r, version, deadline), batch))

    def _rerender_sync(self, record: ImageRecord, version: str, deadline: float) -> bool:
        """Attempts (new names) until the record holds `version`; whether it ended so."""
        sfn = self.sync_stepfunctions or self.stepfunctions
        for attempt in range(1, MAX_ATTEMPTS + 1):
            if time.monotonic() >= deadline:
                break
            try:
                # The record is the verdict, as for Standard; the answer's status is not needed.
                sfn.start_sync_execution(
                    stateMachineArn=self.state_machine_arn,
                    name=rerender_name(record, version, attempt),
                    input=json.dumps(rerender_input(record, self.upload_bucket, version)),
                )
            except BotoCoreError:
                pass  # a timeout or a lost connection: the record tells whether it ran
            except ClientError as err:
                if not is_retryable(err):
                    raise  # refused (permissions, a wrong ARN): the caller must see why
                time.sleep(POLL_SECONDS * attempt)
            if self._recorded(record.image_key, version):
                return True
        return False

    def _start(self, record: ImageRecord, version: str, attempt: int) -> str:
        """Start (or find, when it already exists) the execution of one attempt; its ARN."""
        name = rerender_name(record, version, attempt)
        arn = f"{self.state_machine_arn.replace(':stateMachine:', ':execution:')}:{name}"
        try:
            started = self.stepfunctions.start_execution(
                stateMachineArn=self.state_machine_arn,
                name=name,
                input=json.dumps(rerender_input(record, self.upload_bucket, version)),
            )
        except self.stepfunctions.exceptions.ExecutionAlreadyExists:
            return arn
        return str(started["executionArn"])

    def _status(self, arn: str) -> str | None:
        """The execution's status; None where it cannot be read (Express workflows)."""
        try:
            return str(self.stepfunctions.describe_execution(executionArn=arn)["status"])
        except ClientError:
            return None

    def _recorded(self, image_key: str, version: str) -> bool:
        item = self.dynamodb.get_item(
            TableName=self.table,
            Key={TABLE_PARTITION_KEY: {"S": image_key}},
            ConsistentRead=True,
        ).get("Item")
        return item is not None and ImageRecord.from_item(item).recipe_version == version


def _chunks(records: Sequence[ImageRecord], size: int) -> Iterator[Sequence[ImageRecord]]:
    for start in range(0, len(records), max(1, size)):
        yield records[start : start + size]
