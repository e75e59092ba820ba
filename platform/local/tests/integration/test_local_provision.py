"""Provisioning on the embedded AWS: the stack's resources, the platform's own ASL, the
SQS poller's Lambda-like delivery (partial failures, redrive to the DLQ), and server mode."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests

from qip_local import LocalConfig, LocalRuntime
from qip_local.provision import discover
from qip_pipeline.definition import (
    DEAD_LETTER_QUEUE_PLACEHOLDER,
    EVENT_BUS_PLACEHOLDER,
    FUNCTION_PLACEHOLDERS,
    TABLE_PLACEHOLDER,
    TOPIC_PLACEHOLDER,
    definition_json,
    substitute,
)
from qip_pipeline.names import ALL_SERVICES, STAGE_SERVICES, ResourceNames, handler_path
from qip_shared.config import ENV_STATE_MACHINE_ARN, ENV_TABLE_NAME
from qip_shared.enums import StageName
from qip_shared.record import STATUS_INDEX_NAME


class TriggerSpy:
    """A fake trigger: records batches; fails the message ids it is told to."""

    def __init__(self) -> None:
        self.batches: list[list[dict[str, Any]]] = []
        self.poison: set[str] = set()
        self.crash = False

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        records = event["Records"]
        self.batches.append(records)
        if self.crash:
            raise RuntimeError("trigger crashed")
        failures = [
            {"itemIdentifier": r["messageId"]}
            for r in records
            if json.loads(r["body"]).get("poison") in self.poison
        ]
        return {"batchItemFailures": failures}


@pytest.fixture(scope="module")
def spy() -> TriggerSpy:
    return TriggerSpy()


@pytest.fixture(scope="module")
def runtime(spy: TriggerSpy) -> Iterator[LocalRuntime]:
    config = LocalConfig(
        retry_scale=0.01, visibility_timeout=1, batch_size=10, handlers={"trigger": spy}
    )
    with LocalRuntime(config) as started:
        yield started


def test_state_machine_text_is_the_platforms_definition(runtime: LocalRuntime) -> None:
    resources = runtime.resources
    assert resources is not None
    lam = runtime.client("lambda")
    arns = {
        FUNCTION_PLACEHOLDERS[stage]: lam.get_function(FunctionName=f"qip-{service}")[
            "Configuration"
        ]["FunctionArn"]
        for stage, service in STAGE_SERVICES.items()
    }
    expected = substitute(
        definition_json(),
        {
            **arns,
            TOPIC_PLACEHOLDER: resources.topic_arn,
            TABLE_PLACEHOLDER: resources.table,
            EVENT_BUS_PLACEHOLDER: "default",
            DEAD_LETTER_QUEUE_PLACEHOLDER: resources.dlq_url,
        },
    )
    given = runtime.client("stepfunctions").describe_state_machine(
        stateMachineArn=resources.state_machine_arn
    )["definition"]
    assert given == expected
    assert "${" not in given


def test_buckets_table_queues_rule_topic_and_functions(runtime: LocalRuntime) -> None:
    resources = runtime.resources
    assert resources is not None
    names = ResourceNames()
    s3 = runtime.client("s3")
    assert s3.get_bucket_versioning(Bucket=names.upload_bucket)["Status"] == "Enabled"
    # (moto does not echo EventBridgeConfiguration back; the upload flow test proves it is on.)

    table = runtime.client("dynamodb").describe_table(TableName=names.table)["Table"]
    indexes = {i["IndexName"]: i for i in table["GlobalSecondaryIndexes"]}
    index = indexes[STATUS_INDEX_NAME]
    assert [k["AttributeName"] for k in index["KeySchema"]] == ["status", "uploadTimestamp"]
    index = indexes["contentSha256-uploadTimestamp-index"]
    assert [k["AttributeName"] for k in index["KeySchema"]] == ["contentSha256", "uploadTimestamp"]
    # status, content hash, four perceptual-hash bands, owner (issue 15)
    assert len(indexes) == 7
    assert "owner-uploadTimestamp-index" in indexes
    ttl = runtime.client("dynamodb").describe_time_to_live(TableName=names.table)
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "ttl"

    sqs = runtime.client("sqs")
    attributes = sqs.get_queue_attributes(QueueUrl=resources.queue_url, AttributeNames=["All"])[
        "Attributes"
    ]
    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == resources.dlq_arn
    assert int(redrive["maxReceiveCount"]) == 3
    assert attributes["VisibilityTimeout"] == "1"

    events = runtime.client("events")
    rule = events.describe_rule(Name=names.upload_rule)
    pattern = json.loads(rule["EventPattern"])
    assert pattern["detail"]["bucket"]["name"] == [names.upload_bucket]
    targets = events.list_targets_by_rule(Rule=names.upload_rule)["Targets"]
    assert [t["Arn"] for t in targets] == [resources.queue_arn]

    subscriptions = runtime.client("sns").list_subscriptions_by_topic(TopicArn=resources.topic_arn)[
        "Subscriptions"
    ]
    assert len(subscriptions) == 1

    lam = runtime.client("lambda")
    for service in ALL_SERVICES:
        config = lam.get_function(FunctionName=f"qip-{service}")["Configuration"]
        assert config["Handler"] == handler_path(service)
        variables = config["Environment"]["Variables"]
        assert variables[ENV_TABLE_NAME] == names.table
        assert variables[ENV_STATE_MACHINE_ARN] == resources.state_machine_arn


def test_discover_finds_what_was_provisioned(runtime: LocalRuntime) -> None:
    assert runtime.session is not None
    assert discover(runtime.session) == runtime.resources


def test_a_stage_selection_provisions_a_smaller_machine() -> None:
    config = LocalConfig(
        prefix="thumbs",
        stages=("validation", "thumbnail"),
        poll_messages=False,
        handlers={s: lambda e, c: {} for s in ALL_SERVICES},
    )
    with LocalRuntime(config) as small:
        assert small.resources is not None
        assert small.resources.stages == (StageName.VALIDATION, StageName.THUMBNAIL)
        states = json.loads(small.resources.definition)["States"]
        assert "ExtractMetadata" not in states
        assert "ArchiveImage" not in states
        assert "thumbs-thumbnail" in small.resources.definition


def _wait(predicate: Any, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_upload_reaches_the_trigger_through_eventbridge_and_sqs(
    runtime: LocalRuntime, spy: TriggerSpy
) -> None:
    spy.batches.clear()
    runtime.client("s3").put_object(Bucket="qip-uploads", Key="uploads/2026/11/26/a.png", Body=b"x")
    # processed/ objects go to the same bucket and must not loop back.
    runtime.client("s3").put_object(Bucket="qip-uploads", Key="processed/a/resized.jpg", Body=b"y")
    assert _wait(lambda: spy.batches)
    time.sleep(0.3)
    bodies = [json.loads(r["body"]) for batch in spy.batches for r in batch]
    assert [b["detail"]["object"]["key"] for b in bodies] == ["uploads/2026/11/26/a.png"]
    assert bodies[0]["detail-type"] == "Object Created"
    record = spy.batches[0][0]
    assert record["eventSource"] == "aws:sqs"
    assert int(record["attributes"]["ApproximateReceiveCount"]) == 1


def test_partial_batch_failures_are_redelivered_then_dead_lettered(
    runtime: LocalRuntime, spy: TriggerSpy
) -> None:
    resources = runtime.resources
    assert resources is not None
    sqs = runtime.client("sqs")
    spy.batches.clear()
    spy.poison = {"bad"}
    try:
        sqs.send_message(QueueUrl=resources.queue_url, MessageBody=json.dumps({"poison": "bad"}))
        sqs.send_message(QueueUrl=resources.queue_url, MessageBody=json.dumps({"poison": "ok"}))
        client = runtime.local_client()
        assert _wait(client.dlq_messages, timeout=20)
        deliveries = [json.loads(r["body"])["poison"] for b in spy.batches for r in b]
        # The good message once; the poison one on each of its 3 receives, then the DLQ.
        assert deliveries.count("ok") == 1
        assert deliveries.count("bad") == 3
        dead = client.dlq_messages()
        assert [json.loads(m["Body"]) for m in dead] == [{"poison": "bad"}]
        # After the fix, a redrive replays it and it is consumed.
        spy.poison = set()
        assert client.dlq_redrive() == 1
        assert _wait(
            lambda: (
                [json.loads(r["body"])["poison"] for b in spy.batches for r in b].count("bad") == 4
            )
        )
        assert client.dlq_messages() == []
        # The replay is the message moved unchanged, as SQS's own redrive moves it.
        records = [r for b in spy.batches for r in b if json.loads(r["body"])["poison"] == "bad"]
        assert records[-1]["body"] == records[0]["body"]
        assert records[-1]["messageAttributes"] == records[0]["messageAttributes"]
    finally:
        spy.poison = set()


def test_a_crashing_trigger_fails_the_whole_batch(runtime: LocalRuntime, spy: TriggerSpy) -> None:
    resources = runtime.resources
    assert resources is not None
    spy.batches.clear()
    spy.crash = True
    try:
        runtime.client("sqs").send_message(
            QueueUrl=resources.queue_url, MessageBody=json.dumps({"poison": "crash"})
        )
        client = runtime.local_client()
        assert _wait(client.dlq_messages, timeout=20)
        assert len(spy.batches) == 3
    finally:
        spy.crash = False
        client.dlq_redrive()
        assert _wait(lambda: len(spy.batches) == 4)


def test_server_mode_serves_other_clients_over_http() -> None:
    config = LocalConfig(prefix="srv", poll_messages=False, handlers={})
    with LocalRuntime(config, server=True) as served:
        assert served.endpoint_url is not None
        assert served.endpoint_url.startswith("http://127.0.0.1:")
        other = boto3.client("s3", endpoint_url=served.endpoint_url, region_name="us-east-1")
        buckets = {b["Name"] for b in other.list_buckets()["Buckets"]}
        assert {"srv-uploads", "srv-archive"} <= buckets
        answer = requests.post(
            f"{served.endpoint_url}/moto-api/config",
            json={"stepfunctions": {"execute_state_machine": True}},
            timeout=5,
        )
        assert answer.status_code == 201
    with pytest.raises(requests.ConnectionError):
        requests.get(served.endpoint_url, timeout=2)
