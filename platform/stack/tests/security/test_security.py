"""Security of the deployment, checked on the synthesized template (issue 8): per function, the
exact IAM actions and resources it holds, equal to what its code calls (recorded on the local
system) plus what the Lambda runtime needs; no wildcard action; TLS-only and encryption at
rest on every bucket, queue, topic and table; no public access; Cognito on the API.
docs/security.md is generated from the same checks (`nox -s reports`); a test compares it."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from qip_pipeline.names import ALL_SERVICES

# botocore (service, operation) -> the IAM actions the call is authorised by.
IAM_ACTIONS: dict[tuple[str, str], set[str]] = {
    ("s3", "GetObject"): {"s3:GetObject", "s3:GetObjectVersion"},
    ("s3", "HeadObject"): {"s3:GetObject", "s3:GetObjectVersion"},
    ("s3", "CopyObject"): {"s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"},
    ("s3", "PutObject"): {"s3:PutObject"},
    ("s3", "DeleteObject"): {"s3:DeleteObject", "s3:DeleteObjectVersion"},
    ("s3", "HeadBucket"): {"s3:ListBucket"},
    ("dynamodb", "GetItem"): {"dynamodb:GetItem"},
    ("dynamodb", "PutItem"): {"dynamodb:PutItem"},
    ("dynamodb", "UpdateItem"): {"dynamodb:UpdateItem"},
    ("dynamodb", "Query"): {"dynamodb:Query"},
    ("ssm", "GetParameter"): {"ssm:GetParameter"},
    ("eventbridge", "PutEvents"): {"events:PutEvents"},
    ("sns", "Publish"): {"sns:Publish"},
    ("sqs", "SendMessage"): {"sqs:SendMessage"},
    ("sfn", "StartExecution"): {"states:StartExecution"},
    ("sfn", "DescribeExecution"): {"states:DescribeExecution"},
    ("lambda", "Invoke"): {"lambda:InvokeFunction"},
}
# Calls made with the function's credentials but not through an API call of its code.
# S3 checks the signer's authority when the presigned POST or GET is used.
SIGNED_CALLS = {
    "generate_presigned_post": {"s3:PutObject"},
    "generate_presigned_url": {"s3:GetObject"},
}
RUNTIME = {
    "xray:PutTraceSegments": "tracing (Lambda runtime)",
    "xray:PutTelemetryRecords": "tracing (Lambda runtime)",
    "logs:CreateLogStream": "logging (Lambda runtime)",
    "logs:PutLogEvents": "logging (Lambda runtime)",
}
EVENT_SOURCE = {
    f"sqs:{a}": "SQS event-source mapping (Lambda polls with the function's role)"
    for a in (
        "ReceiveMessage",
        "DeleteMessage",
        "ChangeMessageVisibility",
        "GetQueueAttributes",
        "GetQueueUrl",
    )
}
# Actions AWS offers no resource-level permission for.
NO_RESOURCE_LEVEL = {
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
}


def readable(value: Any) -> str:
    """An intrinsic as a short string: `UploadBucket.Arn/uploads/*`, `ImageTable.Arn`."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        return re.sub(r"[0-9A-F]{8}$", "", value["Ref"])
    if "Fn::GetAtt" in value:
        logical_id, attribute = value["Fn::GetAtt"]
        return f"{re.sub(r'[0-9A-F]{8}$', '', logical_id)}.{attribute}"
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        text = separator.join(readable(p) for p in parts)
        return re.sub(r"arn:AWS::Partition:(\w+):AWS::Region:AWS::AccountId:", r"\1:", text)
    return json.dumps(value, sort_keys=True)


def of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    """Resources of one type, by logical id."""
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    """Every statement of every IAM policy (identity and resource policies)."""
    found = []
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        for field in ("PolicyDocument", "AssumeRolePolicyDocument"):
            document = props.get(field)
            if isinstance(document, dict):
                found.extend(document.get("Statement", []))
        if resource["Type"] == "AWS::IAM::Role":
            for policy in props.get("Policies", []):
                found.extend(policy["PolicyDocument"]["Statement"])
    return found


def as_list(value: Any) -> list[Any]:
    """A value or a list of values, as a list."""
    return value if isinstance(value, list) else [value]


def role_grants(template: dict[str, Any], role: str) -> dict[str, set[str]]:
    """action -> readable resources, over every policy attached to a role."""
    grants: dict[str, set[str]] = {}
    for policy in of_type(template, "AWS::IAM::Policy").values():
        if {"Ref": role} not in policy["Properties"]["Roles"]:
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            for action in as_list(statement["Action"]):
                grants.setdefault(action, set()).update(
                    readable(r) for r in as_list(statement["Resource"])
                )
    return grants


def functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """service -> properties of its function (tagged `qip:service`)."""
    found = {}
    for resource in of_type(template, "AWS::Lambda::Function").values():
        tags = {t["Key"]: t["Value"] for t in resource["Properties"].get("Tags", [])}
        if "qip:service" in tags:
            found[tags["qip:service"]] = resource["Properties"]
    return found


def signed_calls(repo_root: Path, service: str) -> set[str]:
    """Actions a service's code uses by signing requests for others (presigned POST, GET)."""
    actions: set[str] = set()
    for source in (repo_root / "services" / service / "src").rglob("*.py"):
        text = source.read_text()
        for method, needed in SIGNED_CALLS.items():
            if f".{method}(" in text:
                actions |= needed
    return actions


def tells_missing_keys(repo_root: Path, service: str) -> bool:
    """Whether a service's code treats a missing S3 key (NoSuchKey/404) as an outcome."""
    sources = (repo_root / "services" / service / "src").rglob("*.py")
    return any('"NoSuchKey"' in source.read_text() for source in sources)


def needed_actions(
    service: str, calls: set[tuple[str, str]], repo_root: Path
) -> dict[str, list[str]]:
    """action -> why this function needs it (the calls it made, the runtime, its event source)."""
    why: dict[str, list[str]] = {}
    for service_name, operation in sorted(calls):
        mapped = IAM_ACTIONS.get((service_name, operation))
        assert mapped is not None, f"add an IAM mapping for {service_name}:{operation}"
        for action in mapped:
            why.setdefault(action, []).append(f"calls {service_name} {operation}")
    for action in signed_calls(repo_root, service):
        why.setdefault(action, []).append("signs presigned requests")
    for action, reason in RUNTIME.items():
        why.setdefault(action, []).append(reason)
    if service == "trigger":
        for action, reason in EVENT_SOURCE.items():
            why.setdefault(action, []).append(reason)
    if ("s3", "HeadObject") in calls and tells_missing_keys(repo_root, service):
        # Without it AWS answers a missing key 403 (moto answers 404 regardless).
        why.setdefault("s3:ListBucket", []).append(
            "HeadObject of a vanished upload answers 404, which the code acknowledges"
        )
    return why


def iam_sections(
    template: dict[str, Any], recorded_calls: dict[str, set[tuple[str, str]]], repo_root: Path
) -> list[str]:
    """Per role: asserts it holds exactly what its code calls; the report's IAM sections."""
    found = functions(template)
    assert len(found) == len(ALL_SERVICES)
    sections = []
    for service, props in sorted(found.items()):
        name = f"qip-{service}"
        role = props["Role"]["Fn::GetAtt"][0]
        grants = role_grants(template, role)
        why = needed_actions(service, recorded_calls.get(name, set()), repo_root)
        assert set(grants) == set(why), (
            service,
            {"granted, never used": sorted(set(grants) - set(why))},
            {"used, not granted": sorted(set(why) - set(grants))},
        )
        rows = [
            f"| `{action}` | {', '.join(f'`{r}`' for r in sorted(grants[action]))} | "
            f"{'; '.join(dict.fromkeys(why[action]))} |"
            for action in sorted(grants)
        ]
        sections.append(
            f"### {name}\n\n| action | resources | needed for |\n|---|---|---|\n" + "\n".join(rows)
        )
    machine = next(iter(of_type(template, "AWS::StepFunctions::StateMachine").values()))
    grants = role_grants(template, machine["Properties"]["RoleArn"]["Fn::GetAtt"][0])
    scoped = {a: r for a, r in grants.items() if r != {"*"}}
    states_calls = {a for call in recorded_calls.get("states", set()) for a in IAM_ACTIONS[call]}
    assert set(scoped) == {"lambda:InvokeFunction"} | states_calls, scoped
    rows = [
        f"| `{action}` | {', '.join(f'`{r}`' for r in sorted(resources))} | "
        + (
            "invokes the stage functions (recorded)"
            if action == "lambda:InvokeFunction"
            else "its SNS/DynamoDB/EventBridge/SQS tasks (recorded)"
            if action in states_calls
            else "execution logging and tracing (no resource-level permission in AWS)"
        )
        + " |"
        for action, resources in sorted(grants.items())
    ]
    sections.append(
        "### the state machine\n\n| action | resources | needed for |\n|---|---|---|\n"
        + "\n".join(rows)
    )
    return sections


def test_each_function_holds_exactly_what_its_code_calls(
    template: dict[str, Any], recorded_calls: dict[str, set[tuple[str, str]]], repo_root: Path
) -> None:
    # One section per function, and one for the state machine.
    assert len(iam_sections(template, recorded_calls, repo_root)) == len(ALL_SERVICES) + 1


def test_no_wildcard_allowed_actions_and_star_resources_only_where_aws_has_nothing_narrower(
    template: dict[str, Any],
) -> None:
    for statement in statements(template):
        if statement["Effect"] != "Allow":
            continue  # a Deny may be broad: the TLS-only statements deny every action
        actions = as_list(statement.get("Action", []))
        assert all("*" not in a for a in actions), statement
        if "*" in as_list(statement.get("Resource", [])):
            assert set(actions) <= NO_RESOURCE_LEVEL, actions


def denies_insecure_transport(document: dict[str, Any]) -> bool:
    """A statement denying any request over plain HTTP."""
    return any(
        s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
        for s in document["Statement"]
    )


def resource_policies(template: dict[str, Any], kind: str, field: str) -> dict[str, Any]:
    """Readable target name -> policy document of every resource policy of a kind."""
    found = {}
    for policy in of_type(template, kind).values():
        props = policy["Properties"]
        for target in as_list(props[field]):
            found[readable(target)] = props["PolicyDocument"]
    return found


def data_rows(template: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """Asserts encryption, TLS-only and blocked public access; the report's data rows."""
    rows = []
    buckets = resource_policies(template, "AWS::S3::BucketPolicy", "Bucket")
    for logical_id, bucket in of_type(template, "AWS::S3::Bucket").items():
        props = bucket["Properties"]
        sse = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        algorithm = sse["ServerSideEncryptionByDefault"]["SSEAlgorithm"]
        name = readable({"Ref": logical_id})
        assert denies_insecure_transport(buckets[name]), name
        block = props["PublicAccessBlockConfiguration"]
        assert len(block) == 4
        assert set(block.values()) == {True}, name
        assert "AccessControl" not in props, name
        rows.append((name, "S3 bucket", algorithm, "bucket policy denies HTTP", "all 4 blocked"))
    queues = resource_policies(template, "AWS::SQS::QueuePolicy", "Queues")
    for logical_id, queue in of_type(template, "AWS::SQS::Queue").items():
        props = queue["Properties"]
        encrypted = props.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in props
        name = readable({"Ref": logical_id})
        assert encrypted, name
        assert denies_insecure_transport(queues[name]), name
        rows.append((name, "SQS queue", "SQS-managed SSE", "queue policy denies HTTP", "none"))
    topics = resource_policies(template, "AWS::SNS::TopicPolicy", "Topics")
    for logical_id, topic in of_type(template, "AWS::SNS::Topic").items():
        name = readable({"Ref": logical_id})
        assert "KmsMasterKeyId" in topic["Properties"], name
        assert denies_insecure_transport(topics[name]), name
        key = topic["Properties"]["KmsMasterKeyId"]
        managed = "alias/aws/sns" in json.dumps(key)
        rows.append(
            (
                name,
                "SNS topic",
                "KMS (aws/sns)" if managed else f"KMS ({readable(key)}, rotated)",
                "topic policy denies HTTP",
                "none",
            )
        )
    for logical_id, table in of_type(template, "AWS::DynamoDB::Table").items():
        assert table["Properties"]["SSESpecification"]["SSEEnabled"] is True
        rows.append(
            (
                readable({"Ref": logical_id}),
                "DynamoDB table",
                "SSE (KMS)",
                "HTTPS-only service endpoints (no resource policy needed)",
                "none",
            )
        )
    assert {r[1] for r in rows} == {"S3 bucket", "SQS queue", "SNS topic", "DynamoDB table"}
    return rows


def test_every_bucket_queue_topic_and_table_is_encrypted_and_tls_only(
    template: dict[str, Any],
) -> None:
    assert data_rows(template)


def test_nothing_is_public(template: dict[str, Any]) -> None:
    for statement in statements(template):
        if statement["Effect"] != "Allow":
            continue
        principal = statement.get("Principal")
        if principal is None:
            continue  # an identity policy: bound to its role
        if principal == "*" or (isinstance(principal, dict) and principal.get("AWS") == "*"):
            pytest.fail(f"public Allow: {statement}")
        services = as_list(principal.get("Service", [])) if isinstance(principal, dict) else []
        if services and "sts:AssumeRole" not in as_list(statement["Action"]):
            # A service writing to a resource of ours does so only from our own source.
            assert "Condition" in statement, statement
    for permission in of_type(template, "AWS::Lambda::Permission").values():
        props = permission["Properties"]
        assert props["Principal"].endswith(".amazonaws.com"), props
        assert "SourceArn" in props, props
    assert not of_type(template, "AWS::Lambda::Url")


def resource_path(template: dict[str, Any], resource_id: Any) -> str:
    """The path of an API Gateway resource (`/images/{id+}`), from its parents' path parts."""
    parts: list[str] = []
    while isinstance(resource_id, dict) and "Ref" in resource_id:
        props = template["Resources"][resource_id["Ref"]]["Properties"]
        parts.insert(0, props["PathPart"])
        resource_id = props["ParentId"]
    return "/" + "/".join(parts)


def api_methods(template: dict[str, Any]) -> list[str]:
    """Asserts Cognito on every API method; the methods with their paths, for the report."""
    methods = [
        m["Properties"]
        for m in of_type(template, "AWS::ApiGateway::Method").values()
        if m["Properties"]["HttpMethod"] != "OPTIONS"
    ]
    assert methods
    (authorizer_id,) = of_type(template, "AWS::ApiGateway::Authorizer")
    for method in methods:
        assert method["AuthorizationType"] == "COGNITO_USER_POOLS"
        assert method["AuthorizerId"] == {"Ref": authorizer_id}
    assert not of_type(template, "AWS::ApiGatewayV2::Api")
    return sorted(f"{m['HttpMethod']} {resource_path(template, m['ResourceId'])}" for m in methods)


def test_the_api_requires_cognito(template: dict[str, Any]) -> None:
    assert api_methods(template) == [
        "GET /images",
        "GET /images/{id+}",
        "GET /upload-url",
        "POST /upload-url",
    ]


def security_report(sections: list[str], rows: list[tuple[str, ...]], methods: list[str]) -> str:
    """docs/security.md from the checks' findings."""
    data = "\n".join(f"| `{n}` | {k} | {e} | {t} | {p} |" for n, k, e, t, p in sorted(rows))
    return f"""# Security of the deployment

Generated by `nox -s reports` from the checks of `platform/stack/tests/security/test_security.py`
on the synthesized default stack (`qip_platform.stack`, every stage). Every line below is
asserted by those checks, and a test compares this file with what they generate.

## Per-function IAM

What each function's role holds, action by action, and why. The test asserts the set of
actions equals what the function's code was recorded calling on the local system (every
path: images that complete, a non-image the trigger rejects, a corrupt image validate
rejects, an image whose stage fails, a redelivered event, stages run again) mapped to IAM
actions, plus what the Lambda runtime needs (logs, X-Ray) and, for the trigger, its SQS
event-source mapping. The exact resources of each grant are pinned by
`platform/stack/tests/infra/test_stack.py`. No action has a wildcard; `*` resources appear only for
actions AWS offers no resource-level permission for (X-Ray, log delivery).

Reading a specific object version (`GetObject`/`HeadObject`/`CopyObject` with a version id)
needs `s3:GetObjectVersion` as well as `s3:GetObject`, so both are counted for every read.

{(chr(10) * 2).join(sections)}

## Data at rest and in transit

| resource | kind | encryption at rest | TLS only | public access |
|---|---|---|---|---|
{data}

No bucket, queue or topic policy allows a public principal; service principals (EventBridge
to the queue, S3 log delivery) are bound to our own source by a condition. Lambda
permissions name a service principal and a source ARN; no function URL exists.

## API

{", ".join(f"`{m}`" for m in methods)}: `COGNITO_USER_POOLS` authorizer on every method (OPTIONS
is the CORS preflight). No HTTP API (v2) exists.
"""


def test_docs_security_md_is_the_generated_report(
    template: dict[str, Any], recorded_calls: dict[str, set[tuple[str, str]]], repo_root: Path
) -> None:
    text = security_report(
        iam_sections(template, recorded_calls, repo_root),
        data_rows(template),
        api_methods(template),
    )
    path = repo_root / "docs" / "security.md"
    target = os.environ.get("QIP_SECURITY_REPORT")
    if target:  # `nox -s reports` regenerates it; an ordinary run only compares
        Path(target).write_text(text)
    assert path.read_text() == text, "docs/security.md is stale: run `nox -s reports`"
