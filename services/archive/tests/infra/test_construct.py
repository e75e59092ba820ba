"""The archive construct: runtime, entry point, environment, version stamp and no grants."""

from __future__ import annotations

from qip_shared import config

EXPECTED_ENV = {
    config.ENV_UPLOAD_BUCKET,
    config.ENV_ARCHIVE_BUCKET,
    config.ENV_TABLE_NAME,
    config.ENV_TOPIC_ARN,
    config.ENV_EVENT_BUS_NAME,
    config.ENV_DELETE_UPLOAD,
    config.ENV_SERVICE_VERSION,
}


def _function(template):
    functions = template.find_resources("AWS::Lambda::Function")
    assert len(functions) == 1
    return next(iter(functions.values()))["Properties"]


def test_function_runs_the_handler_on_python_3_14_arm64_with_tracing(template):
    props = _function(template)
    assert props["Runtime"] == "python3.14"
    assert props["Architectures"] == ["arm64"]
    assert props["Handler"] == "qip_archive.handler.handler"
    assert props["TracingConfig"] == {"Mode": "Active"}


def test_environment_is_the_qip_contract_and_carries_the_version(template, service_version):
    variables = _function(template)["Environment"]["Variables"]
    assert {name for name in variables if name.startswith("QIP_")} == EXPECTED_ENV
    assert variables[config.ENV_SERVICE_VERSION] == service_version
    # The literal settings parse under the shared contract the handler reads them with.
    literal = {k: v for k, v in variables.items() if isinstance(v, str)}
    assert config.QipSettings.from_env(literal).service_version == service_version


def test_version_and_service_are_tags_of_the_function(template, service_version):
    tags = {t["Key"]: t["Value"] for t in _function(template)["Tags"]}
    assert tags["qip:version"] == service_version
    assert tags["qip:service"] == "archive"


def test_logs_go_to_an_explicit_log_group_without_a_retention_custom_resource(template):
    props = _function(template)
    groups = template.find_resources("AWS::Logs::LogGroup")
    assert len(groups) == 1
    assert props["LoggingConfig"]["LogGroup"] == {"Ref": next(iter(groups))}
    assert not template.find_resources("Custom::LogRetention")


def test_construct_grants_nothing_but_tracing(template):
    # The stack grants; the construct's own role may only send traces (added by Tracing.ACTIVE).
    actions = set()
    for policy in template.find_resources("AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            found = statement["Action"]
            actions.update([found] if isinstance(found, str) else found)
    assert actions == {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
    for role in template.find_resources("AWS::IAM::Role").values():
        assert "ManagedPolicyArns" not in role["Properties"]
