"""The synthesized stack: resources, key properties, every IAM grant, one definition, lint-clean."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from cdk_nag import AwsSolutionsChecks
from cfnlint.api import ManualArgs, lint_file

from qip_pipeline import names
from qip_pipeline.definition import (
    FUNCTION_PLACEHOLDERS,
    HANDLE_ERROR_STATE,
    TABLE_PLACEHOLDER,
    TOPIC_PLACEHOLDER,
    StageSelectionError,
    definition_json,
    placeholders,
    substitute,
    worst_case_seconds,
)
from qip_platform.app import build_app, main
from qip_platform.versions import needs_pillow, service_dir, service_version
from qip_shared import config
from qip_shared.enums import ImageStatus, StageName
from qip_shared.limits import INVOKE_ALLOWANCE_SECONDS, Workflow, sweep_after_seconds
from qip_shared.recipe import DEFAULT_RECIPE, Recipe
from qip_shared.stage import emit_processing_duration
from qip_shared.testing.moto import processing_durations, read_json_lines

BUS = "arn:AWS::Partition:events:AWS::Region:AWS::AccountId:event-bus/default"
UPLOADS = "UploadBucket.Arn/uploads/*"
PROCESSED = "UploadBucket.Arn/processed/*"
TABLE = "ImageTable.Arn"
XRAY = {"xray:PutTraceSegments": {"*"}, "xray:PutTelemetryRecords": {"*"}}


def _logs(group: str) -> dict[str, set[str]]:
    return {"logs:CreateLogStream": {f"{group}.Arn"}, "logs:PutLogEvents": {f"{group}.Arn"}}


def _stage(service: str) -> dict[str, set[str]]:
    """What every stage needs: read its upload, update its record, emit event + notification."""
    return {
        **XRAY,
        **_logs(f"{service.capitalize()}LogGroup"),
        "s3:GetObject": {UPLOADS},
        "s3:GetObjectVersion": {UPLOADS},
        "dynamodb:GetItem": {TABLE},
        "dynamodb:UpdateItem": {TABLE},
        "events:PutEvents": {BUS},
        "sns:Publish": {"NotificationTopic"},
    }


# The whole least-privilege table: action -> resources, per function. Nothing else is granted.
# The recipe parameter's ARN (resize and thumbnail read that one parameter, nothing else).
RECIPE = "arn:AWS::Partition:ssm:AWS::Region:AWS::AccountId:parameter/Recipe"
EXPECTED_GRANTS: dict[str, dict[str, set[str]]] = {
    "validate": _stage("validate"),
    "metadata": _stage("metadata"),
    "resize": {**_stage("resize"), "s3:PutObject": {PROCESSED}, "ssm:GetParameter": {RECIPE}},
    "thumbnail": {
        **_stage("thumbnail"),
        "s3:PutObject": {PROCESSED},
        "ssm:GetParameter": {RECIPE},
    },
    "archive": {
        **_stage("archive"),
        "s3:GetObject": {UPLOADS, PROCESSED},
        "s3:PutObject": {"ArchiveBucket.Arn/archive/*"},
        # The duplicate lookup (issue 18): only its own indexes, never the table (no Scan).
        "dynamodb:Query": {
            f"ImageTable.Arn/index/{key}-uploadTimestamp-index"
            for key in ("contentSha256", *(f"perceptualHashBand{i}" for i in range(4)))
        },
    },
    "trigger": {
        **_stage("trigger"),
        # Only under uploads/ (condition s3:prefix): a vanished upload is a 404, not a 403.
        "s3:ListBucket": {"UploadBucket.Arn"},
        "dynamodb:PutItem": {TABLE},
        "states:StartExecution": {"Pipeline"},
        **{
            f"sqs:{action}": {"ProcessingQueue.Arn"}
            for action in (
                "ReceiveMessage",
                "ChangeMessageVisibility",
                "GetQueueUrl",
                "DeleteMessage",
                "GetQueueAttributes",
            )
        },
    },
    "sweeper": {
        **XRAY,
        **_logs("SweeperLogGroup"),
        "events:PutEvents": {BUS},
        "sns:Publish": {"NotificationTopic"},
        "dynamodb:Query": {f"{TABLE}/index/status-uploadTimestamp-index"},
        "dynamodb:UpdateItem": {TABLE},
        "states:DescribeExecution": {
            f"arn:AWS::Partition:states:AWS::Region:AWS::AccountId:{kind}:Pipeline.Name:*"
            for kind in ("execution", "express")
        },
    },
    "upload-url": {
        **XRAY,
        **_logs("UploadUrlLogGroup"),
        "s3:PutObject": {UPLOADS},
        "s3:ListBucket": {"UploadBucket.Arn"},
    },
    # Issue 15: reads records (GetItem, the owner index) and signs GETs of the outputs only.
    "images-api": {
        **XRAY,
        **_logs("ImagesApiLogGroup"),
        "dynamodb:GetItem": {TABLE},
        "dynamodb:Query": {f"{TABLE}/index/owner-uploadTimestamp-index"},
        "s3:GetObject": {PROCESSED},
    },
}
# Actions AWS offers no resource-level permission for (service authorization reference).
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


def _props(rendered, logical_type):
    found = rendered.of_type(logical_type)
    return [r["Properties"] for r in found.values()]


def _by_prefix(rendered, kind, prefix):
    matches = [
        (k, v["Properties"])
        for k, v in rendered.of_type(kind).items()
        if k.startswith(prefix) and len(k) == len(prefix) + 8
    ]
    assert len(matches) == 1, f"{kind} {prefix}: {[k for k, _ in matches]}"
    return matches[0]


# -- shape --------------------------------------------------------------------------------------


def test_resource_counts(template):
    counts = {
        "AWS::Lambda::Function": 9,
        "AWS::Lambda::LayerVersion": 2,
        "AWS::Lambda::EventSourceMapping": 1,
        "AWS::S3::Bucket": 3,
        "AWS::DynamoDB::Table": 1,
        "AWS::SNS::Topic": 2,
        "AWS::KMS::Key": 1,
        "AWS::SQS::Queue": 2,
        "AWS::Events::Rule": 3,
        "AWS::StepFunctions::StateMachine": 1,
        "AWS::CloudWatch::Alarm": 5,
        "AWS::CloudWatch::Dashboard": 1,
        "AWS::Cognito::UserPool": 1,
        "AWS::ApiGateway::RestApi": 1,
        "AWS::ApiGateway::Authorizer": 1,
        "AWS::Logs::ResourcePolicy": 1,
    }
    for kind, count in counts.items():
        template.resource_count_is(kind, count)


def test_no_custom_resources_and_no_hidden_functions(rendered):
    kinds = {r["Type"] for r in rendered.resources.values()}
    assert not [
        k for k in kinds if k.startswith("Custom::") or k == "AWS::CloudFormation::CustomResource"
    ]
    assert set(rendered.functions()) == set(names.ALL_SERVICES)


def test_functions_python_3_13_arm64_traced_versioned(rendered):
    for service, (_logical_id, props) in rendered.functions().items():
        assert props["Runtime"] == "python3.13"
        assert props["Architectures"] == ["arm64"]
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert props["Handler"] == names.handler_path(service)
        assert "LogGroup" in props["LoggingConfig"]
        version = service_version(service)
        assert props["Environment"]["Variables"][config.ENV_SERVICE_VERSION] == version
        tags = {t["Key"]: t["Value"] for t in props["Tags"]}
        assert tags["qip:version"] == version
        layers = {rendered.name(layer) for layer in props["Layers"]}
        expected = {"DepsLayer"} | ({"PillowLayer"} if needs_pillow(service) else set())
        assert layers == expected, service


def test_version_comes_from_each_pyproject(rendered):
    for service in names.ALL_SERVICES:
        pyproject = tomllib.loads((service_dir(service) / "pyproject.toml").read_text())
        assert service_version(service) == pyproject["project"]["version"]


def test_only_image_stages_get_pillow():
    assert {s for s in names.ALL_SERVICES if needs_pillow(s)} == {
        "validate",
        "metadata",
        "resize",
        "thumbnail",
    }


def test_function_environment_names_the_stack_resources(rendered):
    functions = rendered.functions()
    env = {s: p["Environment"]["Variables"] for s, (_id, p) in functions.items()}
    for service in ("validate", "metadata", "resize", "thumbnail", "archive", "trigger"):
        assert rendered.name(env[service][config.ENV_TABLE_NAME]) == "ImageTable"
        assert rendered.name(env[service][config.ENV_TOPIC_ARN]) == "NotificationTopic"
        assert env[service][config.ENV_EVENT_BUS_NAME] == "default"
    assert rendered.name(env["archive"][config.ENV_ARCHIVE_BUCKET]) == "ArchiveBucket"
    assert rendered.name(env["trigger"][config.ENV_STATE_MACHINE_ARN]) == "Pipeline"
    assert rendered.name(env["upload-url"][config.ENV_UPLOAD_BUCKET]) == "UploadBucket"
    assert env["archive"][config.ENV_DELETE_UPLOAD] == "false"


def test_the_recipe_lives_in_one_parameter_only_the_rendering_stages_read(rendered):
    (parameter,) = rendered.of_type("AWS::SSM::Parameter").values()
    assert parameter["Properties"]["Type"] == "String"
    assert Recipe.from_json(parameter["Properties"]["Value"]) == DEFAULT_RECIPE
    env = {s: p["Environment"]["Variables"] for s, (_id, p) in rendered.functions().items()}
    readers = {s for s, variables in env.items() if config.ENV_RECIPE_PARAMETER in variables}
    assert readers == {"resize", "thumbnail"}
    for service in readers:
        assert rendered.name(env[service][config.ENV_RECIPE_PARAMETER]) == "Recipe"
    outputs = rendered.data["Outputs"]
    assert rendered.name(outputs[names.OUTPUT_RECIPE_PARAMETER]["Value"]) == "Recipe"


# -- least privilege ----------------------------------------------------------------------------


def test_every_function_role_grants_exactly_the_expected_table(rendered):
    for service, (_logical_id, props) in rendered.functions().items():
        role = props["Role"]["Fn::GetAtt"][0]
        assert rendered.grants(role) == EXPECTED_GRANTS[service], service
        assert "ManagedPolicyArns" not in rendered.resources[role]["Properties"]


def test_no_wildcard_action_and_star_resource_only_where_aws_offers_nothing_narrower(rendered):
    for logical_id, policy in rendered.of_type("AWS::IAM::Policy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"]
            actions = [actions] if isinstance(actions, str) else actions
            assert all("*" not in a for a in actions), logical_id
            resources = statement["Resource"]
            resources = resources if isinstance(resources, list) else [resources]
            if "*" in resources:
                assert set(actions) <= NO_RESOURCE_LEVEL, (logical_id, actions)


def test_state_machine_role_invokes_only_its_functions(rendered):
    (_id, props) = _by_prefix(rendered, "AWS::StepFunctions::StateMachine", "Pipeline")
    grants = rendered.grants(props["RoleArn"]["Fn::GetAtt"][0])
    stage_functions = {f"{svc.capitalize()}Function.Arn" for svc in names.STAGE_SERVICES.values()}
    assert grants.pop("lambda:InvokeFunction") == stage_functions
    assert grants.pop("sns:Publish") == {"NotificationTopic"}
    assert grants.pop("dynamodb:UpdateItem") == {TABLE}
    assert grants.pop("events:PutEvents") == {BUS}
    assert grants.pop("sqs:SendMessage") == {"ProcessingDlq.Arn"}
    assert all(resources == {"*"} for resources in grants.values())
    assert set(grants) <= NO_RESOURCE_LEVEL


# -- the state machine: one source --------------------------------------------------------------


def _check_definition(rendered, stages, workflow="EXPRESS"):
    (_id, props) = _by_prefix(rendered, "AWS::StepFunctions::StateMachine", "Pipeline")
    deployed = props["DefinitionString"]
    source = definition_json(stages, workflow)
    substitutions = props["DefinitionSubstitutions"]
    assert set(substitutions) == placeholders(source) == placeholders(deployed)
    # Substituting the same values into both gives the same machine, text for text.
    values = {name: f"<{name}>" for name in substitutions}
    assert substitute(deployed, values) == substitute(source, values)
    assert deployed == source
    functions = rendered.functions()
    for stage in stages:
        logical_id, _props = functions[names.STAGE_SERVICES[stage]]
        assert substitutions[FUNCTION_PLACEHOLDERS[stage]] == {"Fn::GetAtt": [logical_id, "Arn"]}
    assert rendered.name(substitutions[TOPIC_PLACEHOLDER]) == "NotificationTopic"
    assert rendered.name(substitutions[TABLE_PLACEHOLDER]) == "ImageTable"
    return props


def test_deployed_definition_is_definition_json(rendered):
    props = _check_definition(rendered, tuple(StageName))
    assert props["StateMachineType"] == "EXPRESS"
    assert props["TracingConfiguration"] == {"Enabled": True}
    logging = props["LoggingConfiguration"]
    assert logging["Level"] == "ALL"
    assert logging["IncludeExecutionData"] is True


def test_the_deployed_express_worst_case_fits_and_agrees_with_the_functions(rendered):
    # Issue 15: computed from the synthesized template, not from the source.
    (_id, props) = _by_prefix(rendered, "AWS::StepFunctions::StateMachine", "Pipeline")
    machine = json.loads(props["DefinitionString"])
    assert worst_case_seconds(machine) <= machine["TimeoutSeconds"] <= 300
    # Each stage task waits exactly its function's timeout plus the invoke allowance.
    functions = rendered.functions()
    tasks = {}
    for state in machine["States"].values():
        for scope in [state, *(b["States"][b["StartAt"]] for b in state.get("Branches", []))]:
            if scope.get("Type") == "Task" and scope["Resource"].endswith("FunctionArn}"):
                tasks[scope["Resource"]] = scope["TimeoutSeconds"]
    assert len(tasks) == len(StageName)
    for stage in StageName:
        _logical_id, function = functions[names.STAGE_SERVICES[stage]]
        task_timeout = tasks[f"${{{FUNCTION_PLACEHOLDERS[stage]}}}"]
        assert task_timeout == function["Timeout"] + INVOKE_ALLOWANCE_SECONDS


def test_a_failed_image_is_counted_once_where_it_is_recorded_failed(rendered):
    (_id, flt) = next(iter(rendered.of_type("AWS::Logs::MetricFilter").items()))
    pattern = flt["Properties"]["FilterPattern"]
    assert HANDLE_ERROR_STATE in pattern
    assert "TaskStateEntered" in pattern
    [transformation] = flt["Properties"]["MetricTransformations"]
    assert transformation["MetricName"] == "PipelineFailures"
    assert transformation["MetricValue"] == "1"


def test_minimal_selection_deploys_only_its_functions_on_a_standard_workflow(minimal_rendered):
    stages = (StageName.VALIDATION, StageName.RESIZE, StageName.ARCHIVE)
    props = _check_definition(minimal_rendered, stages, "STANDARD")
    assert props["StateMachineType"] == "STANDARD"
    functions = minimal_rendered.functions()
    assert set(functions) == {
        "validate",
        "resize",
        "archive",
        "trigger",
        "upload-url",
        "images-api",
        "sweeper",
    }
    grants = minimal_rendered.grants(props["RoleArn"]["Fn::GetAtt"][0])
    assert grants["lambda:InvokeFunction"] == {
        "ValidateFunction.Arn",
        "ResizeFunction.Arn",
        "ArchiveFunction.Arn",
    }
    # deleteUpload=true: archive may now delete uploads (and only uploads).
    archive_role = functions["archive"][1]["Role"]["Fn::GetAtt"][0]
    archive = minimal_rendered.grants(archive_role)
    assert archive.pop("s3:DeleteObject") == {UPLOADS}
    assert archive.pop("s3:DeleteObjectVersion") == {UPLOADS}
    assert archive == EXPECTED_GRANTS["archive"]
    env = functions["archive"][1]["Environment"]["Variables"]
    assert env[config.ENV_DELETE_UPLOAD] == "true"


@pytest.mark.parametrize(
    ("stages", "message"),
    [("validate,archive", "archive needs an output stage"), ("validate,blur", "unknown stage")],
)
def test_impossible_selection_fails_synth_with_a_clear_message(stages, message, capsys):
    assert main(["-c", f"stages={stages}", "-c", "nag=false"]) == 2
    assert message in capsys.readouterr().err


def test_unknown_selection_raises_from_the_stack(stub_layers, tmp_path):
    with pytest.raises(StageSelectionError, match="validation is required"):
        build_app({"stages": "resize"}, outdir=str(tmp_path), layer_dirs=stub_layers)


# -- resources ----------------------------------------------------------------------------------


def _denies_insecure_transport(policy_document):
    return any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in policy_document["Statement"]
    )


def test_upload_bucket(rendered):
    logical_id, props = _by_prefix(rendered, "AWS::S3::Bucket", "UploadBucket")
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["NotificationConfiguration"]["EventBridgeConfiguration"] == {
        "EventBridgeEnabled": True
    }
    sse = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert sse["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert set(props["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(props["PublicAccessBlockConfiguration"]) == 4
    # Issue 15 (item 8, changed by design): no browser origin unless the context names one.
    assert "CorsConfiguration" not in props
    (rule,) = props["LifecycleConfiguration"]["Rules"]
    assert rule["Transitions"] == [{"StorageClass": "GLACIER", "TransitionInDays": 90}]
    assert rule["NoncurrentVersionExpiration"]["NoncurrentDays"] > 0
    assert (
        rendered.name(props["LoggingConfiguration"]["DestinationBucketName"]) == "AccessLogBucket"
    )
    policies = [
        p["Properties"]
        for p in rendered.of_type("AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": logical_id}
    ]
    assert _denies_insecure_transport(policies[0]["PolicyDocument"])


def test_archive_bucket_has_the_same_security(rendered):
    logical_id, props = _by_prefix(rendered, "AWS::S3::Bucket", "ArchiveBucket")
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert set(props["PublicAccessBlockConfiguration"].values()) == {True}
    assert "BucketEncryption" in props
    assert "LoggingConfiguration" in props
    policies = [
        p["Properties"]["PolicyDocument"]
        for p in rendered.of_type("AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": logical_id}
    ]
    assert _denies_insecure_transport(policies[0])


def test_queue_dlq_and_event_source(rendered):
    dlq_id, dlq = _by_prefix(rendered, "AWS::SQS::Queue", "ProcessingDlq")
    _queue_id, queue = _by_prefix(rendered, "AWS::SQS::Queue", "ProcessingQueue")
    assert queue["VisibilityTimeout"] == 300
    assert queue["MessageRetentionPeriod"] == 4 * 24 * 3600
    assert queue["SqsManagedSseEnabled"] is True
    assert dlq["SqsManagedSseEnabled"] is True
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]},
        "maxReceiveCount": 3,
    }
    (mapping,) = _props(rendered, "AWS::Lambda::EventSourceMapping")
    assert mapping["BatchSize"] == 1
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": 10}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert rendered.name(mapping["FunctionName"]) == "TriggerFunction"
    # The trigger is told the queue's redrive count (one setting, passed on).
    trigger_env = rendered.functions()["trigger"][1]["Environment"]["Variables"]
    assert trigger_env[config.ENV_MAX_RECEIVE_COUNT] == str(
        queue["RedrivePolicy"]["maxReceiveCount"]
    )
    for policy in rendered.of_type("AWS::SQS::QueuePolicy").values():
        assert _denies_insecure_transport(policy["Properties"]["PolicyDocument"])


def test_table(rendered):
    (table,) = _props(rendered, "AWS::DynamoDB::Table")
    assert table["KeySchema"] == [{"AttributeName": "imageKey", "KeyType": "HASH"}]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert table["SSESpecification"]["SSEEnabled"] is True
    assert table["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
    indexes = {index["IndexName"]: index for index in table["GlobalSecondaryIndexes"]}
    index = indexes["status-uploadTimestamp-index"]
    assert index["KeySchema"] == [
        {"AttributeName": "status", "KeyType": "HASH"},
        {"AttributeName": "uploadTimestamp", "KeyType": "RANGE"},
    ]
    # Issue 15: the images API lists one owner's images through this index, never a Scan.
    owner = indexes["owner-uploadTimestamp-index"]
    assert owner["KeySchema"] == [
        {"AttributeName": "owner", "KeyType": "HASH"},
        {"AttributeName": "uploadTimestamp", "KeyType": "RANGE"},
    ]
    assert owner["Projection"] == {"ProjectionType": "ALL"}
    # Duplicate lookups (issue 18): content hash and the four perceptual-hash bands, each
    # projecting only what the lookup reads.
    duplicates = ["contentSha256", *(f"perceptualHashBand{i}" for i in range(4))]
    assert set(indexes) == {"status-uploadTimestamp-index", "owner-uploadTimestamp-index"} | {
        f"{key}-uploadTimestamp-index" for key in duplicates
    }
    for key in duplicates:
        index = indexes[f"{key}-uploadTimestamp-index"]
        assert index["KeySchema"] == [
            {"AttributeName": key, "KeyType": "HASH"},
            {"AttributeName": "uploadTimestamp", "KeyType": "RANGE"},
        ]
        assert index["Projection"] == {
            "ProjectionType": "INCLUDE",
            "NonKeyAttributes": ["status", "perceptualHash"],
        }


def test_topic_is_encrypted_and_tls_only(rendered):
    topics = rendered.of_type("AWS::SNS::Topic")
    (topic,) = [t["Properties"] for k, t in topics.items() if k.startswith("NotificationTopic")]
    assert "alias/aws/sns" in json.dumps(topic["KmsMasterKeyId"])
    # The alarm topic too (under a key of its own: CloudWatch cannot use the AWS-managed one).
    policies = _props(rendered, "AWS::SNS::TopicPolicy")
    assert len(policies) == len(topics)
    assert all(_denies_insecure_transport(p["PolicyDocument"]) for p in policies)


def test_upload_rule_routes_the_names_pattern_to_the_queue(rendered):
    _id, rule = _by_prefix(rendered, "AWS::Events::Rule", "UploadCreatedRule")
    bucket_id, _ = _by_prefix(rendered, "AWS::S3::Bucket", "UploadBucket")
    assert rule["EventPattern"] == names.upload_event_pattern({"Ref": bucket_id})
    (target,) = rule["Targets"]
    assert rendered.name(target["Arn"]) == "ProcessingQueue.Arn"


def test_audit_rule_writes_to_a_log_group(rendered):
    _id, rule = _by_prefix(rendered, "AWS::Events::Rule", "UploadAuditRule")
    group_id, group = _by_prefix(rendered, "AWS::Logs::LogGroup", "AuditLogGroup")
    (target,) = rule["Targets"]
    assert ":log-group:" in json.dumps(target["Arn"])
    assert target["Arn"]["Fn::Join"][1][-1] == {"Ref": group_id}
    # EventBridge writes only to log groups under /aws/events/.
    assert group["LogGroupName"].startswith("/aws/events/")
    (policy,) = _props(rendered, "AWS::Logs::ResourcePolicy")
    assert "events.amazonaws.com" in json.dumps(policy["PolicyDocument"])


def test_upload_url_and_images_apis_are_cognito_authorized(rendered):
    methods = [
        m for m in _props(rendered, "AWS::ApiGateway::Method") if m["HttpMethod"] != "OPTIONS"
    ]
    # No preflight (OPTIONS) methods either: CORS is off unless the context names origins.
    assert len(methods) == len(_props(rendered, "AWS::ApiGateway::Method"))
    (authorizer_id,) = rendered.of_type("AWS::ApiGateway::Authorizer")
    by_function = {"UploadUrlFunction.Arn": [], "ImagesApiFunction.Arn": []}
    for method in methods:
        assert method["AuthorizationType"] == "COGNITO_USER_POOLS"
        assert method["AuthorizerId"] == {"Ref": authorizer_id}
        assert "RequestValidatorId" in method
        (function,) = [f for f in by_function if f in rendered.name(method["Integration"]["Uri"])]
        by_function[function].append(method["HttpMethod"])
    assert sorted(by_function["UploadUrlFunction.Arn"]) == ["GET", "POST"]
    # GET /images and GET /images/{id+}
    assert by_function["ImagesApiFunction.Arn"] == ["GET", "GET"]
    paths = {r["PathPart"] for r in _props(rendered, "AWS::ApiGateway::Resource")}
    assert paths == {"upload-url", "images", "{id+}"}
    (authorizer,) = _props(rendered, "AWS::ApiGateway::Authorizer")
    assert authorizer["Type"] == "COGNITO_USER_POOLS"
    (stage,) = _props(rendered, "AWS::ApiGateway::Stage")
    assert "AccessLogSetting" in stage
    assert stage["TracingEnabled"] is True


# Issue 15 (item 8): browser origins come from the `corsOrigins` context, and only those.
def test_cors_origins_come_from_the_context(minimal_rendered):
    origins = ["https://app.example.com", "https://admin.example.com"]
    _id, bucket = _by_prefix(minimal_rendered, "AWS::S3::Bucket", "UploadBucket")
    (rule,) = bucket["CorsConfiguration"]["CorsRules"]
    assert (rule["AllowedMethods"], rule["AllowedOrigins"]) == (["POST"], origins)
    preflights = [
        m
        for m in _props(minimal_rendered, "AWS::ApiGateway::Method")
        if m["HttpMethod"] == "OPTIONS"
    ]
    assert preflights
    for method in preflights:
        assert method["AuthorizationType"] == "NONE"
        assert "https://app.example.com" in json.dumps(method["Integration"])
        assert "*" not in json.dumps(method["Integration"]["IntegrationResponses"])
    # The functions answer those origins too (the Lambda proxy's responses carry the headers).
    for service in ("images-api", "upload-url"):
        _fid, function = minimal_rendered.functions()[service]
        assert function["Environment"]["Variables"][config.ENV_CORS_ORIGINS] == ",".join(origins)


def test_cors_is_closed_without_origins_in_the_context(rendered):
    for service in ("images-api", "upload-url"):
        _fid, function = rendered.functions()[service]
        assert config.ENV_CORS_ORIGINS not in function["Environment"]["Variables"]


# Issue 15: the outputs `qip ... --outputs FILE` reads, under the names it reads them by.
def test_outputs_carry_what_the_cli_needs(rendered, minimal_rendered):
    outputs = rendered.data["Outputs"]
    for name in (
        names.OUTPUT_UPLOAD_API_URL,
        names.OUTPUT_IMAGES_API_URL,
        names.OUTPUT_UPLOAD_BUCKET,
        names.OUTPUT_ARCHIVE_BUCKET,
        names.OUTPUT_TABLE,
        names.OUTPUT_TOPIC,
        names.OUTPUT_STATE_MACHINE,
        names.OUTPUT_QUEUE_URL,
        names.OUTPUT_DLQ_URL,
        names.OUTPUT_STAGES,
        names.OUTPUT_RECIPE_PARAMETER,
    ):
        assert name in outputs, name
    assert rendered.name(outputs[names.OUTPUT_DLQ_URL]["Value"]) == "ProcessingDlq"
    # `qip recipe` and `qip backfill --outputs` read the recipe parameter by this output.
    recipe = outputs[names.OUTPUT_RECIPE_PARAMETER]["Value"]
    assert rendered.name(recipe) == "Recipe"
    assert (
        rendered.name(minimal_rendered.data["Outputs"][names.OUTPUT_RECIPE_PARAMETER]["Value"])
        == "Recipe"
    )
    assert outputs[names.OUTPUT_STAGES]["Value"] == "validation,metadata,resize,thumbnail,archive"
    minimal = minimal_rendered.data["Outputs"][names.OUTPUT_STAGES]["Value"]
    assert minimal == "validation,resize,archive"


def test_four_alarms_of_the_design(rendered):
    every = _props(rendered, "AWS::CloudWatch::Alarm")
    alarms = [a for a in every if a.get("MetricName") != "RecordsSwept"]
    assert len(every) == len(alarms) + 1  # and one on the sweeper's RecordsSwept
    assert sorted(a["Threshold"] for a in alarms) == [0, 5, 10, 60_000]
    for alarm in alarms:
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    by_threshold = {a["Threshold"]: a for a in alarms}
    assert by_threshold[60_000]["MetricName"] == "ExecutionTime"
    assert by_threshold[60_000]["Statistic"] == "Average"
    assert by_threshold[10]["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert "100 * failed / started" in json.dumps(by_threshold[5]["Metrics"])
    throttles = [m for m in by_threshold[0]["Metrics"] if "MetricStat" in m]
    assert len(throttles) == len(names.ALL_SERVICES)  # every function, images-api too
    assert {m["MetricStat"]["Metric"]["MetricName"] for m in throttles} == {"Throttles"}


def test_every_alarm_reaches_someone(rendered, minimal_rendered):
    for view in (rendered, minimal_rendered):
        (topic_id,) = [k for k in view.of_type("AWS::SNS::Topic") if "AlarmTopic" in k]
        for alarm in _props(view, "AWS::CloudWatch::Alarm"):
            assert alarm["AlarmActions"] == [{"Ref": topic_id}]
            assert alarm["OKActions"] == [{"Ref": topic_id}]
        topic = view.resources[topic_id]["Properties"]
        assert "KmsMasterKeyId" in topic
    # Subscriptions come from context (alarmEmails, alarmUrls); none by default.
    assert _props(rendered, "AWS::SNS::Subscription") == []
    subscribed = {
        (s["Protocol"], s["Endpoint"]) for s in _props(minimal_rendered, "AWS::SNS::Subscription")
    }
    assert subscribed == {
        ("email", "ops@example.com"),
        ("email", "oncall@example.com"),
        ("https", "https://hooks.example.com/qip"),
    }


def test_the_trigger_may_list_only_the_upload_prefix(rendered):
    _id, props = rendered.functions()["trigger"]
    statements = rendered.role_statements(props["Role"]["Fn::GetAtt"][0])
    (listing,) = [s for s in statements if s["Action"] == "s3:ListBucket"]
    assert rendered.name(listing["Resource"]) == "UploadBucket.Arn"
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["uploads/*"]}}


def test_a_schedule_invokes_the_sweeper(rendered):
    _id, sweeper = rendered.functions()["sweeper"]
    schedules = [r for r in _props(rendered, "AWS::Events::Rule") if "ScheduleExpression" in r]
    (schedule,) = schedules
    assert schedule["ScheduleExpression"] == "rate(5 minutes)"
    (target,) = schedule["Targets"]
    assert rendered.name(target["Arn"]) == "SweeperFunction.Arn"
    variables = sweeper["Environment"]["Variables"]
    assert variables[config.ENV_SWEEP_AFTER_SECONDS] == str(sweep_after_seconds(Workflow.EXPRESS))
    assert rendered.name(variables[config.ENV_STATE_MACHINE_ARN]) == "Pipeline"
    permissions = _props(rendered, "AWS::Lambda::Permission")
    assert any(
        p["Principal"] == "events.amazonaws.com"
        and rendered.name(p["FunctionName"]) == "SweeperFunction.Arn"
        for p in permissions
    )


# -- checks -------------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["full_stack", "minimal_stack"])
def test_cdk_nag_aws_solutions_passes_with_reasoned_acknowledgments(which, request):
    stack = request.getfixturevalue(which)
    report = AwsSolutionsChecks(stack.node.root).validate_scope(stack)
    findings = [v.rule_name for v in report.violations]
    assert report.success, findings
    assert findings == []


def test_cfn_lint_is_clean(template, tmp_path):
    path = tmp_path / "QipStack.template.json"
    path.write_text(json.dumps(template.to_json()))
    # W3005 (DependsOn already implied by a GetAtt) comes from CDK's own output, not from us.
    matches = lint_file(Path(path), config=ManualArgs(ignore_checks=["W3005"]))
    assert [str(m) for m in matches] == []


def test_functions_and_dashboard_share_one_metrics_namespace(rendered):
    for service, (_id, props) in rendered.functions().items():
        variables = props["Environment"]["Variables"]
        assert variables[config.ENV_METRICS_NAMESPACE] == config.METRICS_NAMESPACE, service
    (dashboard,) = rendered.of_type("AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    assert f"{{{config.METRICS_NAMESPACE},service,stage}}" in body


def test_dashboard_charts_the_processing_duration_the_functions_emit(rendered, capsys):
    # The widget searches the namespace, dimensions and service `emit_processing_duration` writes.
    capsys.readouterr()
    emit_processing_duration(ImageStatus.FAILED, "2026-11-26T07:00:00.000Z", "2026-11-26T07:00:02Z")
    [emitted] = read_json_lines(capsys.readouterr().out)
    [(_, _, dimensions)] = processing_durations([emitted])
    [directive] = emitted["_aws"]["CloudWatchMetrics"]
    (dashboard,) = rendered.of_type("AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"]).replace("\\", "")
    search = (
        f"{{{directive['Namespace']},{','.join(dimensions)}}} "
        f'service="{emitted["service"]}" MetricName="{config.PROCESSING_DURATION_METRIC}"'
    )
    assert search in body
