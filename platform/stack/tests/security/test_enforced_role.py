"""Issue 15: the trigger's own role, from the synthesized template, enforced by the embedded AWS
(moto's IAM enforcement evaluates S3 resources): it reads and lists under `uploads/` only."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws, settings
from moto.core import authorization

BUCKET = "qip-uploads"
REGION = "us-east-1"


def _bucket_arn(value: Any) -> str:
    """The upload bucket's ARN (or an object ARN under it) for a template intrinsic."""
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        assert value["Fn::GetAtt"][0].startswith("UploadBucket"), value
        return f"arn:aws:s3:::{BUCKET}"
    separator, parts = value["Fn::Join"]
    return separator.join(p if isinstance(p, str) else _bucket_arn(p) for p in parts)


def _trigger_s3_statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    """The trigger role's S3 statements, with the upload bucket's real ARN."""
    functions = {
        tag["Value"]: r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function"
        for tag in r["Properties"].get("Tags", [])
        if tag["Key"] == "qip:service"
    }
    role = functions["trigger"]["Role"]["Fn::GetAtt"][0]
    found = []
    for resource in template["Resources"].values():
        props = resource["Properties"] if resource["Type"] == "AWS::IAM::Policy" else None
        if props is None or {"Ref": role} not in props["Roles"]:
            continue
        for statement in props["PolicyDocument"]["Statement"]:
            actions = statement["Action"]
            actions = [actions] if isinstance(actions, str) else actions
            if all(a.startswith("s3:") for a in actions):
                resources = statement["Resource"]
                listed = resources if isinstance(resources, list) else [resources]
                found.append({**statement, "Resource": [_bucket_arn(r) for r in listed]})
    return found


@pytest.fixture
def trigger_s3(template: dict[str, Any]) -> Iterator[Any]:
    """An S3 client signed with the trigger role's credentials, IAM enforced from then on."""
    statements = _trigger_s3_statements(template)
    assert {
        a
        for s in statements
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    } >= {"s3:GetObject", "s3:ListBucket"}
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        for key in ("uploads/2026/12/06/a.png", "processed/a/resized.jpg"):
            s3.put_object(Bucket=BUCKET, Key=key, Body=b"x")
        iam = boto3.client("iam", region_name=REGION)
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
        arn = iam.create_role(RoleName="trigger", AssumeRolePolicyDocument=json.dumps(trust))[
            "Role"
        ]["Arn"]
        policy = {"Version": "2012-10-17", "Statement": statements}
        iam.put_role_policy(
            RoleName="trigger", PolicyName="trigger", PolicyDocument=json.dumps(policy)
        )
        keys = boto3.client("sts", region_name=REGION).assume_role(
            RoleArn=arn, RoleSessionName="trigger"
        )["Credentials"]
        signed = boto3.client(
            "s3",
            region_name=REGION,
            aws_access_key_id=keys["AccessKeyId"],
            aws_secret_access_key=keys["SecretAccessKey"],
            aws_session_token=keys["SessionToken"],
        )
        saved = (
            settings.INITIAL_NO_AUTH_ACTION_COUNT,
            authorization.ActionAuthenticatorMixin.request_count,
        )
        settings.INITIAL_NO_AUTH_ACTION_COUNT = 0  # every request from here on is authorized
        authorization.ActionAuthenticatorMixin.request_count = 0
        try:
            yield signed
        finally:
            settings.INITIAL_NO_AUTH_ACTION_COUNT = saved[0]
            authorization.ActionAuthenticatorMixin.request_count = saved[1]


def _code(call: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    return str(caught.value.response["Error"]["Code"])


def test_the_trigger_role_reads_and_lists_only_uploads(trigger_s3: Any) -> None:
    upload = "uploads/2026/12/06/a.png"
    assert trigger_s3.get_object(Bucket=BUCKET, Key=upload)["Body"].read() == b"x"
    assert trigger_s3.head_object(Bucket=BUCKET, Key=upload)["ContentLength"] == 1
    # Outside its prefix: denied, object there or not.
    assert _code(lambda: trigger_s3.get_object(Bucket=BUCKET, Key="processed/a/resized.jpg")) in {
        "AccessDenied",
        "403",
    }
    # A vanished upload: 404 (with s3:ListBucket AWS says so too; moto always does).
    assert _code(lambda: trigger_s3.head_object(Bucket=BUCKET, Key="uploads/gone.png")) in {
        "404",
        "NoSuchKey",
        "NotFound",
    }
    listed = trigger_s3.list_objects_v2(Bucket=BUCKET, Prefix="uploads/")
    assert [o["Key"] for o in listed["Contents"]] == [upload]
    # Nothing else it may do: writing is denied.
    assert _code(
        lambda: trigger_s3.put_object(Bucket=BUCKET, Key="uploads/new.png", Body=b"y")
    ) in {
        "AccessDenied",
        "403",
    }
