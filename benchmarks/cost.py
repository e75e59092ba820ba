"""A cost model per 1,000 images on AWS, from measured durations, call counts and memory sizes.

Every price and assumption is a named constant below and is printed in the report.
Prices: us-east-1, on-demand, public price pages as of 2025 (no free tier counted).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LAMBDA_ARM_GB_SECOND = 0.0000133334
LAMBDA_REQUEST = 0.20 / 1e6
SFN_EXPRESS_REQUEST = 1.00 / 1e6
SFN_EXPRESS_GB_SECOND = 0.00001667  # billed per 100 ms, 64 MB minimum
SFN_EXPRESS_MEMORY_GB = 0.064
SFN_STANDARD_TRANSITION = 0.025 / 1000
DYNAMODB_WRITE_UNIT = 0.625 / 1e6  # on-demand, after the Nov 2024 price cut
DYNAMODB_READ_UNIT = 0.125 / 1e6
S3_WRITE_REQUEST = 0.005 / 1000  # PUT, COPY, POST
S3_READ_REQUEST = 0.0004 / 1000  # GET, HEAD
S3_STORAGE_GB_MONTH = 0.023
SQS_REQUEST = 0.40 / 1e6
SNS_PUBLISH = 0.50 / 1e6
EVENTBRIDGE_EVENT = 1.00 / 1e6
LOGS_INGEST_GB = 0.50
LOG_BYTES_PER_INVOCATION = 1500  # two structured lines and the metrics line, measured locally

LAMBDA_FULL_VCPU_MB = 1769  # Lambda gives one full vCPU at 1,769 MB, proportionally less below
AWS_CALL_SECONDS = 0.012  # an in-region DynamoDB / SNS / EventBridge / small S3 call
S3_BYTES_PER_SECOND = 80e6  # in-region S3 transfer from a Lambda function
FIXED_HANDLER_SECONDS = 0.010  # parse, validate the event, log (warm container)
GSI_WRITE_FACTOR = 2  # every record write also writes the status GSI
DESIGN_MONTHLY = 5.40
IMAGES_PER_DAY = 1000

# A construct's default: `MEMORY_SIZE = 1536` (class constant) or `memory_size: int = 1536`.
_MEMORY = re.compile(r"(?:MEMORY_SIZE(?:: ClassVar\[int\])?|memory_size: int) = (\d+)")
ASSUMED_MEMORY_MB = 1024


@dataclass(frozen=True)
class FunctionCost:
    """One function's modelled duration and cost per image."""

    service: str
    memory_mb: int
    compute_seconds: float
    io_seconds: float
    dollars: float

    @property
    def billed_seconds(self) -> float:
        """Compute (slowed below one vCPU) plus I/O."""
        return self.compute_seconds + self.io_seconds


def memory_sizes(services_dir: Path, services: tuple[str, ...]) -> dict[str, int]:
    """Each construct's default `memory_size` (read from source: importing it needs CDK)."""
    sizes: dict[str, int] = {}
    for service in services:
        source = (
            services_dir / service / "src" / f"qip_{service.replace('-', '_')}" / "construct.py"
        )
        match = _MEMORY.search(source.read_text()) if source.is_file() else None
        sizes[service] = int(match.group(1)) if match else ASSUMED_MEMORY_MB
    return sizes


def model(
    *,
    core_seconds: dict[str, float],
    calls_per_image: dict[str, dict[str, float]],
    memory_mb: dict[str, int],
    image_bytes: int,
    output_bytes: int,
) -> dict[str, Any]:
    """Dollars per 1,000 images by service, and per month at 1,000 images a day.

    core_seconds: measured single-core compute per image of each function (0 where none);
    calls_per_image: service -> "svc Operation" -> calls per image, measured in the local run.
    """
    functions: list[FunctionCost] = []
    for service, memory in memory_mb.items():
        cpu_share = min(1.0, memory / LAMBDA_FULL_VCPU_MB)
        compute = core_seconds.get(service, 0.0) / cpu_share + FIXED_HANDLER_SECONDS
        calls = calls_per_image.get(f"handler:{service}", {})
        io = 0.0
        for name, count in calls.items():
            io += count * AWS_CALL_SECONDS
            if name in ("s3 GetObject", "s3 PutObject", "s3 CopyObject"):
                moved = image_bytes if name != "s3 PutObject" else output_bytes
                io += count * moved / S3_BYTES_PER_SECOND
        seconds = compute + io
        dollars = seconds * memory / 1024 * LAMBDA_ARM_GB_SECOND + LAMBDA_REQUEST
        functions.append(FunctionCost(service, memory, compute, io, dollars))

    def total(prefix: str, names: tuple[str, ...]) -> float:
        return sum(
            count
            for caller, ops in calls_per_image.items()
            for name, count in ops.items()
            if name.startswith(prefix) and name.split(" ", 1)[1] in names
        )

    lambda_cost = sum(f.dollars for f in functions)
    stage_seconds = {f.service: f.billed_seconds for f in functions}
    critical_path = (
        stage_seconds.get("validate", 0)
        + stage_seconds.get("metadata", 0)
        + max(stage_seconds.get("resize", 0), stage_seconds.get("thumbnail", 0))
        + stage_seconds.get("archive", 0)
        + 0.1  # the state machine's own DynamoDB and SNS tasks
    )
    billed_express = max(0.1, round(critical_path + 0.05, 1))  # 100 ms increments
    sfn_express = (
        SFN_EXPRESS_REQUEST + billed_express * SFN_EXPRESS_MEMORY_GB * SFN_EXPRESS_GB_SECOND
    )
    # Standard: ~10 transitions on the success path (5 tasks, parallel + branches, 2 ends).
    sfn_standard = 10 * SFN_STANDARD_TRANSITION
    writes = total("dynamodb ", ("PutItem", "UpdateItem"))
    reads = total("dynamodb ", ("GetItem", "Query"))
    per_image = {
        "Lambda (compute + requests)": lambda_cost,
        "Step Functions (Express)": sfn_express,
        "DynamoDB (on-demand)": writes * GSI_WRITE_FACTOR * DYNAMODB_WRITE_UNIT
        + reads * DYNAMODB_READ_UNIT,
        "S3 requests": total("s3 ", ("PutObject", "CopyObject")) * S3_WRITE_REQUEST
        + 1 * S3_WRITE_REQUEST  # the browser's presigned POST
        + total("s3 ", ("GetObject", "HeadObject")) * S3_READ_REQUEST,
        "SQS (send, receive, delete)": 3 * SQS_REQUEST,
        "SNS (publishes)": (total("sns ", ("Publish",)) + 2) * SNS_PUBLISH,
        "EventBridge (custom events)": total("events ", ("PutEvents",)) * EVENTBRIDGE_EVENT,
        "CloudWatch Logs": len(functions) * LOG_BYTES_PER_INVOCATION / 1e9 * LOGS_INGEST_GB,
    }
    per_thousand = {name: value * 1000 for name, value in per_image.items()}
    stored_gb = (image_bytes * 2 + output_bytes) / 1e9  # upload + archive copy + outputs
    storage_month_per_thousand = stored_gb * 1000 * S3_STORAGE_GB_MONTH
    monthly_requests = sum(per_thousand.values()) * IMAGES_PER_DAY / 1000 * 30
    return {
        "functions": [f.__dict__ | {"billed_seconds": f.billed_seconds} for f in functions],
        "per_thousand": per_thousand,
        "per_thousand_total": sum(per_thousand.values()),
        "standard_instead_per_thousand": sfn_standard * 1000,
        "storage_month_per_thousand": storage_month_per_thousand,
        "monthly_at_design_volume": monthly_requests,
        "monthly_storage_after_one_month": storage_month_per_thousand * IMAGES_PER_DAY * 30 / 1000,
        "design_monthly": DESIGN_MONTHLY,
        "express_billed_seconds": billed_express,
        "assumptions": {
            "Lambda arm64 per GB-s": LAMBDA_ARM_GB_SECOND,
            "Lambda per request": LAMBDA_REQUEST,
            "full vCPU at MB": LAMBDA_FULL_VCPU_MB,
            "AWS call latency s": AWS_CALL_SECONDS,
            "S3 transfer bytes/s": S3_BYTES_PER_SECOND,
            "fixed handler s": FIXED_HANDLER_SECONDS,
            "DynamoDB WRU": DYNAMODB_WRITE_UNIT,
            "GSI write factor": GSI_WRITE_FACTOR,
            "S3 storage GB-month": S3_STORAGE_GB_MONTH,
        },
    }
