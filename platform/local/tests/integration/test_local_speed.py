"""The runtime's speed-ups keep behaviour: moto's answers, URLs, and the separate process."""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import jsonpath_ng.ext.parser
import pytest
import requests
from moto import mock_aws
from moto.stepfunctions.parser.asl.utils import json_path
from PIL import Image

from qip_local import LocalConfig, LocalRuntime
from qip_local.client import LocalClient
from qip_local.shim import cached_json_paths, direct_dynamodb_answers

TABLE = "answers"
ITEM = {
    "imageKey": {"S": "k"},
    "status": {"S": "PROCESSING"},
    "size": {"N": "1.5"},
    "flag": {"BOOL": True},
    "nothing": {"NULL": True},
    "list": {"L": [{"S": "a"}, {"N": "2"}]},
    "stages": {"M": {"validation": {"M": {"status": {"S": "COMPLETED"}}}}},
    "tags": {"SS": ["a", "b"]},
    "blob": {"B": b"\x00\x01\xff"},
}


def _item_calls(ddb: Any) -> list[Any]:
    key = {"imageKey": {"S": "k"}}
    return [
        ddb.put_item(TableName=TABLE, Item=ITEM, ReturnValues="ALL_OLD"),
        ddb.get_item(TableName=TABLE, Key=key, ConsistentRead=True),
        ddb.get_item(TableName=TABLE, Key={"imageKey": {"S": "missing"}}),
        ddb.update_item(
            TableName=TABLE,
            Key=key,
            UpdateExpression="SET #s = :s",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":s": {"S": "COMPLETED"}},
            ReturnValues="ALL_NEW",
        ),
        ddb.batch_get_item(
            RequestItems={
                TABLE: {
                    "Keys": [key, {"imageKey": {"S": "missing"}}],
                    "ProjectionExpression": "imageKey, #s",
                    "ExpressionAttributeNames": {"#s": "status"},
                }
            }
        ),
        ddb.scan(TableName=TABLE),
    ]


def _answers(direct: bool) -> list[Any]:
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(
            TableName=TABLE,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "imageKey", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "imageKey", "KeyType": "HASH"}],
        )
        if direct:
            with direct_dynamodb_answers():
                answers = _item_calls(ddb)
        else:
            answers = _item_calls(ddb)
    for answer in answers:
        answer.pop("ResponseMetadata")
    return answers


def test_direct_dynamodb_answers_parse_as_moto_serialised_ones() -> None:
    direct = _answers(direct=True)
    assert direct == _answers(direct=False)
    assert direct[1]["Item"]["blob"] == {"B": b"\x00\x01\xff"}
    assert direct[4]["Responses"][TABLE] == [{"imageKey": {"S": "k"}, "status": {"S": "COMPLETED"}}]


def test_cached_json_paths_parse_each_path_once_and_restore() -> None:
    original = json_path.parse
    with cached_json_paths():
        first = json_path.parse("$.detail.object.key")
        assert json_path.parse("$.detail.object.key") is first
        assert [m.value for m in first.find({"detail": {"object": {"key": "k"}}})] == ["k"]
        assert jsonpath_ng.ext.parser.parse is not original
    assert json_path.parse is original


@pytest.mark.parametrize(
    ("signed", "reachable"),
    [
        ("https://qip-uploads.s3.us-east-1.amazonaws.com/", "http://127.0.0.1:5/qip-uploads"),
        ("https://qip-uploads.s3.amazonaws.com/", "http://127.0.0.1:5/qip-uploads"),
        ("https://s3.us-east-1.amazonaws.com/qip-uploads", "http://127.0.0.1:5/qip-uploads"),
        ("http://127.0.0.1:5/qip-uploads", "http://127.0.0.1:5/qip-uploads"),
    ],
)
def test_presigned_urls_are_reached_on_the_endpoint(signed: str, reachable: str) -> None:
    client = LocalClient(None, None, endpoint_url="http://127.0.0.1:5")  # type: ignore[arg-type]
    assert client.reachable_url(signed) == reachable
    assert LocalClient(None, None).reachable_url(signed) == signed  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def separate() -> Iterator[LocalRuntime]:
    """The system as `qip process` runs it: moto and the handlers in a child process."""
    with LocalRuntime(
        LocalConfig(prefix="sep", retry_scale=0.001, visibility_timeout=1), separate_process=True
    ) as runtime:
        yield runtime


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), (40, 90, 200)).save(buffer, "PNG")
    return buffer.getvalue()


def test_separate_process_runs_the_whole_pipeline(separate: LocalRuntime) -> None:
    assert separate.endpoint_url is not None
    assert separate.resources is not None
    assert separate.registry is None  # the handlers live in the child
    assert separate.resources.queue_url.startswith(separate.endpoint_url)
    client = separate.local_client()
    key = client.upload_bytes(_png(), file_name="blue.png")
    record = client.wait_for([key], timeout=60)[key]
    assert record is not None
    assert record.status.value == "COMPLETED"
    # Outside clients see the same system over HTTP.
    other = boto3.client("s3", endpoint_url=separate.endpoint_url, region_name="us-east-1")
    listed = other.list_objects_v2(Bucket=separate.resources.upload_bucket, Prefix="processed/")
    assert listed["KeyCount"] >= 2


def test_separate_process_stops_with_the_runtime() -> None:
    runtime = LocalRuntime(LocalConfig(prefix="gone", poll_messages=False), separate_process=True)
    runtime.start()
    endpoint = runtime.endpoint_url
    child = runtime.child_pid
    assert child is not None
    assert Path(f"/proc/{child}").exists()
    runtime.stop()
    assert runtime.child_pid is None
    assert not Path(f"/proc/{child}").exists()  # reaped, not a zombie
    with pytest.raises(requests.ConnectionError):
        requests.get(str(endpoint), timeout=2)


def test_separate_process_refuses_handlers() -> None:
    fake: Callable[[Any, Any], Any] = lambda event, context: None  # noqa: E731
    with pytest.raises(ValueError, match="handlers"):
        LocalRuntime(LocalConfig(handlers={"resize": fake}), separate_process=True).start()


EC2_DEFERRAL_SCRIPT = """
import sys
import boto3
from moto import mock_aws
from qip_local.shim import import_moto_without_ec2

import_moto_without_ec2()
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_batch,
)
with mock_aws():
    ssm = boto3.client("ssm", region_name="us-east-1")
    ssm.put_parameter(Name="/p", Value="v", Type="String")
    value = ssm.get_parameter(Name="/p")["Parameter"]["Value"]
    ec2_before = "moto.ec2" in sys.modules
    # The real packages still load, unchanged, the first time something needs them.
    boto3.client("batch", region_name="us-east-1").describe_compute_environments()
    import moto.batch.utils
    from moto.ec2 import ec2_backends
    from moto.ssm.models import ec2_backends as deferred
    same = deferred["123456789012"] is ec2_backends["123456789012"]
    status = state_task_service_batch.JobStatus.SUCCEEDED
print(value, ec2_before, status == moto.batch.utils.JobStatus.SUCCEEDED == "SUCCEEDED", same)
"""


def test_moto_imports_without_ec2_until_something_needs_it() -> None:
    answer = subprocess.run(
        [sys.executable, "-c", EC2_DEFERRAL_SCRIPT],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert answer.stdout.split() == ["v", "False", "True", "True"]
