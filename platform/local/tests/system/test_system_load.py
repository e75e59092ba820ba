"""The design's load test, scaled to this machine: 100 concurrent uploads all reach a terminal
state and nothing is lost (uploads = terminal records = executions)."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from qip_shared.enums import ImageStatus

UPLOADS = 100


@pytest.mark.slow
def test_hundred_concurrent_uploads_nothing_lost(
    system: Any, encode_image: Callable[..., bytes]
) -> None:
    client = system.client
    formats = ["JPEG", "PNG", "GIF", "WEBP"]
    payloads = [
        (
            encode_image((64 + i % 17, 48 + i % 13), formats[i % 4], seed=i),
            f"load-{i}.{formats[i % 4].lower()}",
        )
        for i in range(UPLOADS)
    ]
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=16) as pool:
        keys = list(pool.map(lambda p: client.upload_bytes(p[0], file_name=p[1]), payloads))
    uploaded = time.perf_counter()
    records = client.wait_for(keys, timeout=900, interval=0.2)
    elapsed = time.perf_counter() - started

    assert len(set(keys)) == UPLOADS
    statuses = [r.status if r else None for r in records.values()]
    assert statuses.count(ImageStatus.COMPLETED) == UPLOADS, statuses

    table = system.runtime.client("dynamodb").scan(
        TableName=client.resources.table, Select="COUNT", ConsistentRead=True
    )
    sfn = system.runtime.client("stepfunctions")
    executions = [
        e
        for page in sfn.get_paginator("list_executions").paginate(
            stateMachineArn=client.resources.state_machine_arn
        )
        for e in page["executions"]
    ]
    terminal = sum(1 for r in records.values() if r is not None and r.status.is_terminal)
    assert table["Count"] == terminal == len(executions) == UPLOADS
    assert {e["status"] for e in executions} == {"SUCCEEDED"}
    assert client.dlq_messages() == []
    print(
        f"\n{UPLOADS} concurrent uploads: uploaded in {uploaded - started:.1f}s, all COMPLETED "
        f"after {elapsed:.1f}s ({UPLOADS / elapsed:.2f} images/s)"
    )
