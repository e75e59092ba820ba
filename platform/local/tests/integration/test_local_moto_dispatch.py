"""The patches that make moto's dispatch cheaper answer exactly what moto answers without them."""

from __future__ import annotations

import time
from typing import Any

import boto3
from moto.core import DEFAULT_ACCOUNT_ID, responses
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.responses import DynamoHandler
from moto.sqs import models as sqs_models

from qip_local.moto_patches import (
    cached_action_names,
    lean_dynamodb_updates,
    quick_sqs_clock,
)
from qip_local.moto_speedups import projections_of_named_attributes


def _counts(sqs: Any, url: str) -> tuple[int, int, int]:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return (
        int(attributes["ApproximateNumberOfMessages"]),
        int(attributes["ApproximateNumberOfMessagesNotVisible"]),
        int(attributes["ApproximateNumberOfMessagesDelayed"]),
    )


def test_the_quick_sqs_clock_keeps_visibility_and_delay(aws: None) -> None:
    original = sqs_models.unix_time
    with quick_sqs_clock():
        assert sqs_models.unix_time is not original
        assert abs(sqs_models.unix_time() - original()) < 1.0
        assert abs(sqs_models.unix_time_millis() / 1000 - original()) < 1.0
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="clock")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="now")
        sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=1)
        assert _counts(sqs, url) == (1, 0, 1)
        received = sqs.receive_message(QueueUrl=url, VisibilityTimeout=1)["Messages"]
        assert [m["Body"] for m in received] == ["now"]
        assert _counts(sqs, url) == (0, 1, 1)
        assert "Messages" not in sqs.receive_message(QueueUrl=url)
        time.sleep(1.3)
        assert _counts(sqs, url) == (2, 0, 0)
        bodies = sorted(
            m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        )
        assert bodies == ["later", "now"]
    assert sqs_models.unix_time is original


ITEM = {
    "imageKey": {"S": "k"},
    "status": {"S": "COMPLETED"},
    "outputs": {"M": {"resize": {"S": "r.jpg"}, "thumbnail": {"S": "t.jpg"}}},
    "variants": {"L": [{"S": "a"}, {"M": {"key": {"S": "b"}, "w": {"N": "2"}}}, {"S": "c"}]},
}
PROJECTIONS = [
    "#s, outputs.resize",
    "outputs, outputs.thumbnail",
    "variants[1].#k, variants[0]",
    "variants[1], variants[1].w",
    "variants, variants[2]",
    "variants[2], variants[0], #s",
    "absent, #s",
]


def _projected(dynamodb: Any) -> list[dict[str, Any]]:
    answers = []
    for projection in PROJECTIONS:
        names = {n: v for n, v in {"#s": "status", "#k": "key"}.items() if n in projection}
        extra = {"ExpressionAttributeNames": names} if names else {}
        answers.append(
            dynamodb.get_item(
                TableName="t",
                Key={"imageKey": {"S": "k"}},
                ProjectionExpression=projection,
                **extra,
            ).get("Item")
        )
    return answers


def test_named_attribute_projections_answer_as_moto_does_on_overlapping_paths(aws: None) -> None:
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    dynamodb.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "imageKey", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "imageKey", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.put_item(TableName="t", Item=ITEM)
    expected = _projected(dynamodb)
    with projections_of_named_attributes():
        assert _projected(dynamodb) == expected
    # The stored item is untouched by projecting it.
    assert dynamodb.get_item(TableName="t", Key={"imageKey": {"S": "k"}})["Item"] == ITEM


def test_cached_action_names_list_what_moto_lists(aws: None) -> None:
    original = responses.method_names_from_class
    expected = original(DynamoHandler)
    with cached_action_names():
        assert responses.method_names_from_class is not original
        assert responses.method_names_from_class(DynamoHandler) == expected
        assert "update_item" in expected
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="names")["QueueUrl"]
        assert sqs.get_queue_url(QueueName="names")["QueueUrl"] == url
    assert responses.method_names_from_class is original


def _table(dynamodb: Any, name: str, **extra: Any) -> None:
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "imageKey", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "imageKey", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        **extra,
    )


def _updates(dynamodb: Any, table: str) -> list[dict[str, Any]]:
    answers = []
    for n, return_values in enumerate(["NONE", "ALL_NEW", "ALL_OLD", "UPDATED_OLD", "UPDATED_NEW"]):
        dynamodb.put_item(TableName=table, Item=ITEM)
        answer = dynamodb.update_item(
            TableName=table,
            Key={"imageKey": {"S": "k"}},
            UpdateExpression="SET #s = :s, outputs.resize = :r",
            ConditionExpression="attribute_exists(imageKey)",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":s": {"S": f"S{n}"}, ":r": {"S": "new.jpg"}},
            ReturnValues=return_values,
        )
        answer.pop("ResponseMetadata")
        answer.pop("ConsumedCapacity", None)  # names the table
        answers.append(answer)
    return answers


def test_lean_updates_answer_as_moto_does_and_keep_streams(aws: None) -> None:
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    _table(dynamodb, "plain")
    _table(
        dynamodb,
        "streamed",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    expected = _updates(dynamodb, "plain")
    with lean_dynamodb_updates():
        assert _updates(dynamodb, "plain") == expected
        assert _updates(dynamodb, "streamed") == expected
    # The stream still has every update's old image (those copies were made).
    table = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].get_table("streamed")
    records = [record.record for record in table.stream_shard.items]
    modified = [r for r in records if r["eventName"] == "MODIFY"]
    assert len(modified) >= 5
    assert all(r["dynamodb"]["OldImage"]["outputs"]["M"]["resize"]["S"] for r in modified)
    assert any(
        r["dynamodb"]["NewImage"]["outputs"]["M"]["resize"]["S"] == "new.jpg" for r in modified
    )
