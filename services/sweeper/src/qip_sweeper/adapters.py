"""The AWS calls the sweeper makes: the shared ones (record, events) plus the status-index query
and Step Functions' DescribeExecution."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from qip_shared.aws import ExecutionAdapters, error_code, from_aws_error
from qip_shared.config import ENV_SWEEP_AFTER_SECONDS, QipSettings
from qip_shared.limits import Workflow, sweep_after_seconds
from qip_shared.record import ImageRecord
from qip_sweeper.core import stuck_query

# Sweeper-only settings (not in QipSettings); the stack sets the age from `qip_shared.limits`.
ENV_SWEEP_MAX_RECORDS = "QIP_SWEEP_MAX_RECORDS"
DEFAULT_MAX_RECORDS = 500
# DescribeExecution cannot tell: an Express execution, or no execution by that name.
_UNDESCRIBABLE = frozenset({"ExecutionDoesNotExist", "InvalidArn", "StateMachineTypeNotSupported"})


@dataclass(frozen=True)
class SweepSettings:
    """How old a claim must be before its record is swept, and how many records one run takes."""

    sweep_after: timedelta = timedelta(seconds=sweep_after_seconds(Workflow.EXPRESS))
    max_records: int = DEFAULT_MAX_RECORDS

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SweepSettings:
        """Read `QIP_SWEEP_AFTER_SECONDS` and `QIP_SWEEP_MAX_RECORDS`."""
        env = os.environ if environ is None else environ
        default = cls()
        after = float(env.get(ENV_SWEEP_AFTER_SECONDS, default.sweep_after.total_seconds()))
        limit = int(env.get(ENV_SWEEP_MAX_RECORDS, default.max_records))
        return cls(sweep_after=timedelta(seconds=after), max_records=max(1, limit))


@dataclass
class Adapters(ExecutionAdapters):
    """The shared clients plus Step Functions and a clock, and the sweep settings."""

    sweep: SweepSettings = field(default_factory=SweepSettings)

    @classmethod
    def from_settings(
        cls,
        settings: QipSettings,
        session: boto3.Session | None = None,
        sweep: SweepSettings | None = None,
    ) -> Adapters:
        """Create the clients for some settings (from `session`, default boto3's)."""
        adapters = super().from_settings(settings, session)
        adapters.sweep = sweep or SweepSettings.from_env()
        return adapters

    def stuck_records(self, newest_upload: str) -> Iterator[ImageRecord]:
        """PROCESSING records uploaded no later than `newest_upload`, through the status index."""
        start_key: Any = None
        while True:
            request = stuck_query(self.settings.table_name, newest_upload, start_key)
            try:
                page = self.dynamodb.query(**request)
            except (ClientError, BotoCoreError) as err:
                raise from_aws_error(err, "dynamodb query") from err
            for item in page.get("Items", []):
                yield ImageRecord.from_item(item)
            start_key = page.get("LastEvaluatedKey")
            if not start_key:
                return

    def execution_status(self, execution_arn: str) -> str | None:
        """The execution's status, or None when Step Functions cannot describe it."""
        try:
            response = self.stepfunctions.describe_execution(executionArn=execution_arn)
        except ClientError as err:
            if error_code(err) in _UNDESCRIBABLE:
                return None
            raise from_aws_error(err, "states describe_execution") from err
        except BotoCoreError as err:
            raise from_aws_error(err, "states describe_execution") from err
        return str(response["status"])
