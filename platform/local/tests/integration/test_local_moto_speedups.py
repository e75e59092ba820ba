"""The speed-ups in `qip_local.moto_speedups` answer exactly what moto answers without them."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.core import DEFAULT_ACCOUNT_ID
from moto.dynamodb import responses as dynamodb_responses
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser
from moto.dynamodb.parsing.expressions import UpdateExpressionParser
from moto.s3.models import FakeKey, s3_backends

from qip_local.moto_speedups import (
    cached_update_expressions,
    projections_of_named_attributes,
    quick_dynamodb_results,
    quick_expression_walks,
    quick_item_sizes,
    shared_object_bodies,
)

SPEEDUPS: tuple[Callable[[], contextlib.AbstractContextManager[None]], ...] = (
    cached_update_expressions,
    quick_expression_walks,
    quick_dynamodb_results,
)

ITEM = {
    "imageKey": {"S": "k"},
    "status": {"S": "PROCESSING"},
    "count": {"N": "3"},
    "blob": {"B": b"\x00\x01raw"},
    "tags": {"SS": ["a", "b"]},
    "sizes": {"NS": ["1", "2"]},
    "stages": {"M": {"validate": {"M": {"status": {"S": "DONE"}, "ms": {"N": "12"}}}}},
    "variants": {"L": [{"S": "a"}, {"M": {"key": {"S": "b"}, "w": {"N": "2"}}}, {"NULL": True}]},
    "flag": {"BOOL": False},
}

# (UpdateExpression, ConditionExpression or None, names, values): successes and moto's errors.
UPDATES: list[tuple[str, str | None, dict[str, str], dict[str, Any]]] = [
    (
        "SET #s.#m = :v, #u = :u",
        "#st = :p",
        {"#s": "stages", "#m": "resize", "#u": "updatedAt", "#st": "status"},
        {
            ":v": {"M": {"status": {"S": "DONE"}, "ms": {"N": "40"}}},
            ":u": {"S": "now"},
            ":p": {"S": "PROCESSING"},
        },
    ),
    (
        "SET #c = #c + :one, flag = :t",
        None,
        {"#c": "count"},
        {":one": {"N": "1"}, ":t": {"BOOL": True}},
    ),
    ("SET #c = #c - :one", None, {"#c": "count"}, {":one": {"N": "2"}}),
    ("SET variants = list_append(variants, :more)", None, {}, {":more": {"L": [{"S": "z"}]}}),
    (
        "SET variants[1].w = :w, extra = if_not_exists(extra, :e)",
        None,
        {},
        {":w": {"N": "9"}, ":e": {"S": "x"}},
    ),
    ("REMOVE variants[0], extra", None, {}, {}),
    ("ADD tags :t, sizes :n", None, {}, {":t": {"SS": ["c"]}, ":n": {"NS": ["3"]}}),
    ("DELETE tags :t", None, {}, {":t": {"SS": ["a"]}}),
    (
        "SET blob = :b, #s.#m = :v",
        None,
        {"#s": "stages", "#m": "thumb"},
        {":b": {"B": b"\xff"}, ":v": {"S": "d"}},
    ),
    ("SET #st = :x", "#st = :nope", {"#st": "status"}, {":x": {"S": "X"}, ":nope": {"S": "NO"}}),
    ("SET #c = #c + :s", None, {"#c": "count"}, {":s": {"S": "text"}}),
    ("SET missing.deeper = :v", None, {}, {":v": {"S": "v"}}),
    ("SET imageKey = :v", None, {}, {":v": {"S": "other"}}),
    ("SET a = :undefined", None, {}, {":v": {"S": "v"}}),
    ("SET #s = :v, #s = :w", None, {"#s": "status"}, {":v": {"S": "v"}, ":w": {"S": "w"}}),
    ("SET = :v", None, {}, {":v": {"S": "v"}}),
    ("SET size = :v", None, {}, {":v": {"S": "reserved word"}}),
    ("SET #c = list_append(#c, :l)", None, {"#c": "count"}, {":l": {"L": []}}),
]


def _answer(call: Callable[..., dict[str, Any]], **request: Any) -> Any:
    try:
        answer = call(**request)
    except ClientError as error:
        return ("error", error.response["Error"], error.response.get("Item"))
    answer.pop("ResponseMetadata")
    answer.pop("ConsumedCapacity", None)
    return answer


def _session(dynamodb: Any, table: str) -> list[Any]:
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "imageKey", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "imageKey", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    answers = []
    key = {"imageKey": {"S": "k"}}
    for return_values in ("ALL_NEW", "UPDATED_OLD", "NONE"):
        dynamodb.put_item(TableName=table, Item=ITEM)
        for expression, condition, names, values in UPDATES:
            request: dict[str, Any] = {
                "TableName": table,
                "Key": key,
                "UpdateExpression": expression,
                "ReturnValues": return_values,
            }
            if condition:
                request["ConditionExpression"] = condition
                request["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
            if names:
                request["ExpressionAttributeNames"] = names
            if values:
                request["ExpressionAttributeValues"] = values
            answers.append(_answer(dynamodb.update_item, **request))
        # An update that creates its item, then every way of reading items back.
        answers.append(
            _answer(
                dynamodb.update_item,
                TableName=table,
                Key={"imageKey": {"S": f"new-{return_values}"}},
                UpdateExpression="SET #s = :s",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":s": {"S": "UPLOADED"}},
                ReturnValues="ALL_NEW",
            )
        )
        answers.append(_answer(dynamodb.get_item, TableName=table, Key=key))
        batch = _answer(
            dynamodb.batch_get_item,
            RequestItems={table: {"Keys": [key, {"imageKey": {"S": "none"}}]}},
        )
        answers.append({"Responses": batch["Responses"][table]})  # without the table's name
        answers.append(_answer(dynamodb.scan, TableName=table))
        answers.append(
            _answer(
                dynamodb.query,
                TableName=table,
                KeyConditionExpression="imageKey = :k",
                ExpressionAttributeValues={":k": {"S": "k"}},
            )
        )
    return answers


def test_dynamodb_answers_as_moto_does_with_the_speedups(aws: None) -> None:
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    expected = _session(dynamodb, "plain")
    assert any(isinstance(answer, tuple) for answer in expected)  # errors are compared too
    assert {answer[1]["Code"] for answer in expected if isinstance(answer, tuple)} == {
        "ConditionalCheckFailedException",
        "ValidationException",
    }
    originals = (
        UpdateExpressionParser.__dict__["make"],
        DepthFirstTraverser.traverse_node_recursively,
        dynamodb_responses.dynamo_to_dict,
    )
    with contextlib.ExitStack() as stack:
        for speedup in SPEEDUPS:
            stack.enter_context(speedup())
        assert UpdateExpressionParser.__dict__["make"] is not originals[0]
        assert DepthFirstTraverser.traverse_node_recursively is not originals[1]
        assert dynamodb_responses.dynamo_to_dict is not originals[2]
        assert _session(dynamodb, "quick") == expected
        # Again: the cached parses serve the second round and still answer the same.
        assert _session(dynamodb, "again") == expected
    assert UpdateExpressionParser.__dict__["make"] is originals[0]
    assert DepthFirstTraverser.traverse_node_recursively is originals[1]
    assert dynamodb_responses.dynamo_to_dict is originals[2]


@pytest.mark.parametrize("speedup", SPEEDUPS, ids=lambda s: s.__name__)
def test_each_speedup_alone_answers_as_moto_does(aws: None, speedup: Any) -> None:
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    expected = _session(dynamodb, "plain")
    with speedup():
        assert _session(dynamodb, "quick") == expected


def test_a_cached_parse_is_never_changed_by_its_readers(aws: None) -> None:
    with cached_update_expressions():
        first = UpdateExpressionParser.make("SET a = :a REMOVE b[1], b[0]")
        before = repr(first.__dict__), len(first.children)
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        _session(dynamodb, "t")
        assert UpdateExpressionParser.make("SET a = :a REMOVE b[1], b[0]") is first
        assert (repr(first.__dict__), len(first.children)) == before


def test_concurrent_updates_with_the_speedups_lose_nothing(aws: None) -> None:
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    dynamodb.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "imageKey", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "imageKey", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    failures: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(20):
                dynamodb.update_item(
                    TableName="t",
                    Key={"imageKey": {"S": f"k{i % 3}"}},
                    UpdateExpression="SET #w.#n = :i ADD hits :one",
                    ExpressionAttributeNames={"#w": "writers", "#n": f"w{n}"},
                    ExpressionAttributeValues={":i": {"N": str(i)}, ":one": {"N": "1"}},
                )
        except BaseException as error:  # reported below
            failures.append(error)

    with contextlib.ExitStack() as stack:
        for speedup in SPEEDUPS:
            stack.enter_context(speedup())
        dynamodb.put_item(TableName="t", Item={"imageKey": {"S": "k0"}, "writers": {"M": {}}})
        dynamodb.put_item(TableName="t", Item={"imageKey": {"S": "k1"}, "writers": {"M": {}}})
        dynamodb.put_item(TableName="t", Item={"imageKey": {"S": "k2"}, "writers": {"M": {}}})
        threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert not failures
    items = dynamodb.scan(TableName="t")["Items"]
    assert sum(int(item["hits"]["N"]) for item in items) == 80
    assert all(len(item["writers"]["M"]) == 4 for item in items)


# Bodies on both sides of the key buffer (set to 200 kB below): in memory and in a file.
BODIES = {
    "empty": b"",
    "text": b"hello",
    "photo": bytes(range(256)) * 600,  # 153.6 kB
    "large": bytes(reversed(range(256))) * 1000,  # 256 kB
}
RANGES = ["bytes=0-99", "bytes=-10", "bytes=100-", "bytes=150000-160000", "bytes=5-4000000"]


def _read(s3: Any, bucket: str, key: str, **extra: Any) -> Any:
    try:
        answer = s3.get_object(Bucket=bucket, Key=key, **extra)
    except ClientError as error:
        return ("error", error.response["Error"]["Code"])
    return (
        answer["Body"].read(),
        answer["ETag"],
        answer["ContentLength"],
        answer.get("ContentRange"),
    )


def _s3_session(s3: Any, bucket: str) -> list[Any]:
    s3.create_bucket(Bucket=bucket)
    answers: list[Any] = []
    for name, body in BODIES.items():
        answers.append(s3.put_object(Bucket=bucket, Key=name, Body=body)["ETag"])
        answers.append(_read(s3, bucket, name))
        answers.extend(_read(s3, bucket, name, Range=span) for span in RANGES)
        head = s3.head_object(Bucket=bucket, Key=name)
        answers.append((head["ETag"], head["ContentLength"]))
        s3.copy_object(Bucket=bucket, Key=f"copy/{name}", CopySource=f"{bucket}/{name}")
        answers.append(_read(s3, bucket, f"copy/{name}"))
    # Overwrites across the buffer's size, both ways, then the first one again.
    for name in ("large", "text", "photo", "large", "empty"):
        s3.put_object(Bucket=bucket, Key="moving", Body=BODIES[name])
        answers.append(_read(s3, bucket, "moving"))
        answers.append(_read(s3, bucket, "moving", Range="bytes=1-3"))
    return answers


def _stored(bucket: str, key: str) -> Any:
    return s3_backends[DEFAULT_ACCOUNT_ID]["aws"].buckets[bucket].keys[key]


def test_shared_object_bodies_answer_as_moto_does(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOTO_S3_DEFAULT_KEY_BUFFER_SIZE", "200000")
    s3 = boto3.client("s3", region_name="us-east-1")
    expected = _s3_session(s3, "plain")
    assert expected[1][0] == b""
    assert _stored("plain", "large")._value_buffer._rolled  # the file path is compared too
    original = FakeKey.__dict__["value"]
    with shared_object_bodies():
        assert FakeKey.__dict__["value"] is not original
        assert _s3_session(s3, "quick") == expected
        assert _stored("quick", "large")._value_buffer._rolled
        assert not _stored("quick", "photo")._value_buffer._rolled
        key = FakeKey("k", bytes(1000), account_id="123456789012", region_name="us-east-1")
        assert key.value is key.value  # read without copying
        key.value = b"new"
        assert (key.value, key.size, key.etag) == (b"new", 3, '"22af645d1859cb5ca6da0c484f1f37ea"')
    assert FakeKey.__dict__["value"] is original


PROJECTIONS = [
    "#s, stages.validate",
    "stages, stages.validate.ms",
    "variants[1].#k, variants[0]",
    "variants[1], variants[1].w, variants[2]",
    "variants[7], absent, #s",
    "tags, sizes, #b, flag, #c",
    "imageKey",
]
INDEXES = {"byStatusInclude": "INCLUDE", "byStatusKeys": "KEYS_ONLY", "byStatusAll": "ALL"}


def _projection_session(dynamodb: Any, table: str) -> list[Any]:
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "imageKey", "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": "imageKey", "AttributeType": "S"},
            {"AttributeName": "status", "AttributeType": "S"},
            {"AttributeName": "count", "AttributeType": "N"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": name,
                "KeySchema": [
                    {"AttributeName": "status", "KeyType": "HASH"},
                    {"AttributeName": "count", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": kind}
                | ({"NonKeyAttributes": ["stages", "tags"]} if kind == "INCLUDE" else {}),
            }
            for name, kind in INDEXES.items()
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    for n in range(4):
        dynamodb.put_item(
            TableName=table, Item=ITEM | {"imageKey": {"S": f"k{n}"}, "count": {"N": str(n)}}
        )
    key = {"imageKey": {"S": "k1"}}
    answers: list[Any] = []
    for projection in PROJECTIONS:
        names = {
            n: v
            for n, v in {"#s": "status", "#k": "key", "#c": "count", "#b": "blob"}.items()
            if n in projection
        }
        extra = {"ExpressionAttributeNames": names} if names else {}
        answers.append(
            _answer(
                dynamodb.get_item,
                TableName=table,
                Key=key,
                ProjectionExpression=projection,
                **extra,
            )
        )
        batch = _answer(
            dynamodb.batch_get_item,
            RequestItems={table: {"Keys": [key], "ProjectionExpression": projection, **extra}},
        )
        answers.append(batch["Responses"][table])
    for index in INDEXES:
        answers.append(
            _answer(
                dynamodb.query,
                TableName=table,
                IndexName=index,
                KeyConditionExpression="#s = :p AND #c >= :one",
                FilterExpression="#c <> :two",
                ExpressionAttributeNames={"#s": "status", "#c": "count"},
                ExpressionAttributeValues={
                    ":p": {"S": "PROCESSING"},
                    ":one": {"N": "1"},
                    ":two": {"N": "2"},
                },
            )
        )
    return answers


def test_projections_of_named_attributes_answer_as_moto_does(aws: None) -> None:
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    expected = _projection_session(dynamodb, "plain")
    assert expected[0]["Item"] == {"status": ITEM["status"], "stages": ITEM["stages"]}
    assert [len(answer["Items"]) for answer in expected[-3:]] == [2, 2, 2]
    with projections_of_named_attributes():
        assert _projection_session(dynamodb, "quick") == expected


VALUES = [
    {"S": "h\u00e9llo \u2603"},
    {"N": "-12.500"},
    {"B": b"\x00\x01"},
    {"BOOL": True},
    {"NULL": True},
    {"SS": ["a", "\u00e9\u00e9"]},
    {"NS": ["1", "22.5"]},
    {"BS": [b"xy", b"z"]},
    {"L": [{"S": "a"}, {"L": [{"N": "1"}, {"M": {"k": {"S": "v"}}}]}, {"BOOL": False}]},
    {"M": {"\u00e9": {"M": {"deep": {"L": [{"S": "x"}, {"NS": ["3"]}]}}}, "n": {"N": "7"}}},
    ITEM["stages"],
    ITEM["variants"],
]


def _over_the_limit(dynamodb: Any, table: str) -> list[Any]:
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "imageKey", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "imageKey", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    big = {"M": {f"part{n}": {"L": [{"S": "x" * 1000}] * 10} for n in range(39)}}
    dynamodb.put_item(TableName=table, Item={"imageKey": {"S": "k"}, "big": big})
    return [
        _answer(
            dynamodb.update_item,
            TableName=table,
            Key={"imageKey": {"S": "k"}},
            UpdateExpression="SET #a = :a",
            ExpressionAttributeNames={"#a": name},
            ExpressionAttributeValues={":a": {"S": "y" * length}},
            ReturnValues="UPDATED_NEW",
        )
        for name, length in (("fits", 4000), ("tips", 20000), ("fits", 1))
    ]


def test_quick_item_sizes_measure_as_moto_does(aws: None) -> None:
    expected = [DynamoType(value).size() for value in VALUES]
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    answers = _over_the_limit(dynamodb, "plain")
    assert answers[1][0] == "error"  # the item limit is compared too
    assert "Attributes" in answers[0]
    with quick_item_sizes():
        assert [DynamoType(value).size() for value in VALUES] == expected
        assert _over_the_limit(dynamodb, "quick") == answers
