"""Create, on the embedded AWS, the resources the platform's stack deploys (same names)."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from qip_pipeline.definition import (
    ALL_STAGES,
    DEAD_LETTER_QUEUE_PLACEHOLDER,
    EVENT_BUS_PLACEHOLDER,
    FUNCTION_PLACEHOLDERS,
    TABLE_PLACEHOLDER,
    TOPIC_PLACEHOLDER,
    definition_json,
    parse_stages,
    substitute,
)
from qip_pipeline.names import (
    ALL_SERVICES,
    STAGE_SERVICES,
    ResourceNames,
    function_name,
    handler_path,
    upload_event_pattern,
)
from qip_shared import config
from qip_shared.config import (
    ENV_ARCHIVE_BUCKET,
    ENV_EVENT_BUS_NAME,
    ENV_RECIPE_PARAMETER,
    ENV_STATE_MACHINE_ARN,
    ENV_TABLE_NAME,
    ENV_TOPIC_ARN,
    ENV_UPLOAD_BUCKET,
)
from qip_shared.enums import EVENT_SOURCE, StageName
from qip_shared.recipe import DEFAULT_RECIPE, Recipe
from qip_shared.recipe_store import write_recipe
from qip_shared.record import TTL_ATTRIBUTE, table_create_request

MESSAGE_RETENTION_SECONDS = 4 * 24 * 3600


@dataclass(frozen=True)
class Resources:
    """What was provisioned: names, ARNs and URLs the runtime, CLI and tests use."""

    names: ResourceNames
    stages: tuple[StageName, ...]
    upload_bucket: str
    archive_bucket: str
    table: str
    queue_url: str
    queue_arn: str
    dlq_url: str
    dlq_arn: str
    topic_arn: str
    notifications_queue_url: str
    events_queue_url: str
    state_machine_arn: str
    definition: str
    function_arns: dict[str, str] = field(default_factory=dict)
    event_bus_name: str = "default"
    recipe_parameter: str = ""

    def function_name(self, service: str) -> str:
        """The deployed name of a service's function."""
        return function_name(service, self.names.prefix)

    def environment(self) -> dict[str, str]:
        """The QIP_* environment every function gets (as the stack sets it)."""
        return function_environment(self)


def function_environment(resources: Resources) -> dict[str, str]:
    """The QIP_* environment every function gets (as the stack sets it)."""
    return {
        ENV_TABLE_NAME: resources.table,
        ENV_UPLOAD_BUCKET: resources.upload_bucket,
        ENV_ARCHIVE_BUCKET: resources.archive_bucket,
        ENV_TOPIC_ARN: resources.topic_arn,
        ENV_EVENT_BUS_NAME: resources.event_bus_name,
        ENV_STATE_MACHINE_ARN: resources.state_machine_arn,
        ENV_RECIPE_PARAMETER: resources.recipe_parameter,
    }


def _dummy_zip() -> bytes:
    # moto wants a code package; the shim never runs it.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.txt", "Code runs in-process through the QIP Lambda shim.\n")
    return buffer.getvalue()


def _queue_arn(sqs: Any, url: str) -> str:
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return str(attrs["Attributes"]["QueueArn"])


def state_machine_definition(
    stages: Sequence[str | StageName],
    function_arns: Mapping[str, str],
    topic: str,
    table: str,
    event_bus: str = "default",
    *,
    dead_letter_queue_url: str,
    execution_timeout: int | None = None,
) -> str:
    """The ASL given to moto: the platform's definition with the local ARNs substituted.

    `execution_timeout` replaces the definition's own `TimeoutSeconds` (tests scale time down).
    """
    values = {
        FUNCTION_PLACEHOLDERS[stage]: function_arns[STAGE_SERVICES[stage]]
        for stage in FUNCTION_PLACEHOLDERS
    }
    values[TOPIC_PLACEHOLDER] = topic
    values[TABLE_PLACEHOLDER] = table
    values[EVENT_BUS_PLACEHOLDER] = event_bus
    values[DEAD_LETTER_QUEUE_PLACEHOLDER] = dead_letter_queue_url
    text = substitute(definition_json(stages), values)
    if execution_timeout is None:
        return text
    machine = json.loads(text)
    machine["TimeoutSeconds"] = execution_timeout
    return json.dumps(machine, indent=2, sort_keys=True)


def provision(
    session: Any,
    names: ResourceNames | None = None,
    *,
    stages: Sequence[str | StageName] = ALL_STAGES,
    visibility_timeout: int = 30,
    endpoint_url: str | None = None,
    extra_environment: Mapping[str, str] | None = None,
    execution_timeout: int | None = None,
    recipe: Recipe = DEFAULT_RECIPE,
) -> Resources:
    """Create every resource of the stack on the embedded AWS and return their identifiers."""
    names = names or ResourceNames()
    selection = parse_stages(stages)

    def client(service: str) -> Any:
        return session.client(service, endpoint_url=endpoint_url)

    s3, ddb, sqs, sns, events = (client(s) for s in ("s3", "dynamodb", "sqs", "sns", "events"))
    iam, lam, sfn = client("iam"), client("lambda"), client("stepfunctions")

    _create_storage(s3, ddb, names)
    dlq_url, dlq_arn, queue_url, queue_arn = _create_queues(sqs, names, visibility_timeout)
    _route_uploads(events, names, queue_arn)
    topic_arn, notifications_url, events_url = _create_topic_and_taps(sns, sqs, events, names)
    role_arn = _create_role(iam, names)

    # The recipe lives where the deployed stack keeps it: one SSM parameter.
    write_recipe(client("ssm"), names.recipe_parameter, recipe)

    account_region = topic_arn.split(":")[3:5]
    region, account = account_region[0], account_region[1]
    state_machine_arn = f"arn:aws:states:{region}:{account}:stateMachine:{names.state_machine}"
    env_values = _environment_values(names, topic_arn, state_machine_arn, extra_environment)
    function_arns = _create_functions(lam, names, role_arn, env_values)

    definition = state_machine_definition(
        selection,
        function_arns,
        topic_arn,
        names.table,
        dead_letter_queue_url=dlq_url,
        execution_timeout=execution_timeout,
    )
    created_arn = sfn.create_state_machine(
        name=names.state_machine, definition=definition, roleArn=role_arn, type="STANDARD"
    )["stateMachineArn"]
    if created_arn != state_machine_arn:
        raise RuntimeError(f"unexpected state machine ARN {created_arn}")

    return Resources(
        names=names,
        stages=selection,
        upload_bucket=names.upload_bucket,
        archive_bucket=names.archive_bucket,
        table=names.table,
        queue_url=queue_url,
        queue_arn=queue_arn,
        dlq_url=dlq_url,
        dlq_arn=dlq_arn,
        topic_arn=topic_arn,
        notifications_queue_url=notifications_url,
        events_queue_url=events_url,
        state_machine_arn=state_machine_arn,
        definition=definition,
        function_arns=function_arns,
        recipe_parameter=names.recipe_parameter,
    )


def _create_storage(s3: Any, ddb: Any, names: ResourceNames) -> None:
    """The upload and archive buckets and the images table."""
    # Buckets: uploads are versioned (execution names use the version id) and emit to EventBridge.
    for bucket in (names.upload_bucket, names.archive_bucket):
        s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_notification_configuration(
        Bucket=names.upload_bucket, NotificationConfiguration={"EventBridgeConfiguration": {}}
    )

    ddb.create_table(**table_create_request(names.table))
    ddb.update_time_to_live(
        TableName=names.table,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
    )


def _create_queues(
    sqs: Any, names: ResourceNames, visibility_timeout: int
) -> tuple[str, str, str, str]:
    """The dead-letter queue and the processing queue that redrives into it: URLs and ARNs."""
    dlq_url = sqs.create_queue(
        QueueName=names.dlq,
        Attributes={"MessageRetentionPeriod": str(14 * 24 * 3600)},
    )["QueueUrl"]
    dlq_arn = _queue_arn(sqs, dlq_url)
    queue_url = sqs.create_queue(
        QueueName=names.queue,
        Attributes={
            "VisibilityTimeout": str(visibility_timeout),
            "MessageRetentionPeriod": str(MESSAGE_RETENTION_SECONDS),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(config.MAX_RECEIVES)}
            ),
        },
    )["QueueUrl"]
    return dlq_url, dlq_arn, queue_url, _queue_arn(sqs, queue_url)


def _route_uploads(events: Any, names: ResourceNames, queue_arn: str) -> None:
    """The EventBridge rule sending the upload bucket's Object Created events to the queue."""
    events.put_rule(
        Name=names.upload_rule,
        EventPattern=json.dumps(upload_event_pattern(names.upload_bucket)),
        State="ENABLED",
        Description="Upload bucket Object Created under uploads/ -> processing queue",
    )
    events.put_targets(
        Rule=names.upload_rule, Targets=[{"Id": "processing-queue", "Arn": queue_arn}]
    )


def _create_topic_and_taps(
    sns: Any, sqs: Any, events: Any, names: ResourceNames
) -> tuple[str, str, str]:
    """The notification topic, and the local-only tap queues: topic ARN, tap queue URLs."""
    topic_arn: str = sns.create_topic(Name=names.topic)["TopicArn"]
    # Local-only taps, so the CLI and tests can read what was notified and published.
    notifications_url = sqs.create_queue(QueueName=f"{names.prefix}-notifications-tap")["QueueUrl"]
    sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=_queue_arn(sqs, notifications_url),
        Attributes={"RawMessageDelivery": "true"},
    )
    events_url = sqs.create_queue(QueueName=f"{names.prefix}-events-tap")["QueueUrl"]
    events.put_rule(
        Name=f"{names.prefix}-processing-events-tap",
        EventPattern=json.dumps({"source": [EVENT_SOURCE]}),
        State="ENABLED",
    )
    events.put_targets(
        Rule=f"{names.prefix}-processing-events-tap",
        Targets=[{"Id": "events-tap", "Arn": _queue_arn(sqs, events_url)}],
    )
    return topic_arn, notifications_url, events_url


def _create_role(iam: Any, names: ResourceNames) -> str:
    """The one role the functions and the state machine run as; its ARN."""
    role_arn: str = iam.create_role(
        RoleName=f"{names.prefix}-local-role",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]["Arn"]
    return role_arn


def _environment_values(
    names: ResourceNames,
    topic_arn: str,
    state_machine_arn: str,
    extra_environment: Mapping[str, str] | None,
) -> dict[str, str]:
    """The environment every function gets, as the stack sets it."""
    return {
        ENV_TABLE_NAME: names.table,
        ENV_UPLOAD_BUCKET: names.upload_bucket,
        ENV_ARCHIVE_BUCKET: names.archive_bucket,
        ENV_TOPIC_ARN: topic_arn,
        ENV_EVENT_BUS_NAME: "default",
        ENV_STATE_MACHINE_ARN: state_machine_arn,
        ENV_RECIPE_PARAMETER: names.recipe_parameter,
        config.ENV_MAX_RECEIVE_COUNT: str(config.MAX_RECEIVES),
        config.ENV_METRICS_NAMESPACE: config.METRICS_NAMESPACE,
        **(extra_environment or {}),
    }


def _create_functions(
    lam: Any, names: ResourceNames, role_arn: str, env_values: Mapping[str, str]
) -> dict[str, str]:
    """One Lambda function per service (placeholder code: the shim runs the handlers)."""
    code = _dummy_zip()
    function_arns: dict[str, str] = {}
    for service in ALL_SERVICES:
        created = lam.create_function(
            FunctionName=function_name(service, names.prefix),
            Runtime=config.LAMBDA_RUNTIME,
            Role=role_arn,
            Handler=handler_path(service),
            Code={"ZipFile": code},
            Timeout=60,
            MemorySize=1024,
            Environment={"Variables": dict(env_values)},
        )
        function_arns[service] = created["FunctionArn"]
    return function_arns


def discover(
    session: Any, names: ResourceNames | None = None, endpoint_url: str | None = None
) -> Resources:
    """Find the resources of an already provisioned system (e.g. a running `qip serve`)."""
    names = names or ResourceNames()
    sqs = session.client("sqs", endpoint_url=endpoint_url)
    sns = session.client("sns", endpoint_url=endpoint_url)
    sfn = session.client("stepfunctions", endpoint_url=endpoint_url)
    lam = session.client("lambda", endpoint_url=endpoint_url)
    queue_url = sqs.get_queue_url(QueueName=names.queue)["QueueUrl"]
    dlq_url = sqs.get_queue_url(QueueName=names.dlq)["QueueUrl"]
    topic_arn = next(
        t["TopicArn"]
        for t in sns.list_topics()["Topics"]
        if t["TopicArn"].rsplit(":", 1)[-1] == names.topic
    )
    machine = next(
        m for m in sfn.list_state_machines()["stateMachines"] if m["name"] == names.state_machine
    )
    definition = sfn.describe_state_machine(stateMachineArn=machine["stateMachineArn"])[
        "definition"
    ]
    function_arns = {
        service: lam.get_function(FunctionName=function_name(service, names.prefix))[
            "Configuration"
        ]["FunctionArn"]
        for service in ALL_SERVICES
    }
    stage_list = [
        stage for stage, service in STAGE_SERVICES.items() if function_arns[service] in definition
    ]
    return Resources(
        names=names,
        stages=parse_stages(stage_list),
        upload_bucket=names.upload_bucket,
        archive_bucket=names.archive_bucket,
        table=names.table,
        queue_url=queue_url,
        queue_arn=_queue_arn(sqs, queue_url),
        dlq_url=dlq_url,
        dlq_arn=_queue_arn(sqs, dlq_url),
        topic_arn=topic_arn,
        notifications_queue_url=sqs.get_queue_url(QueueName=f"{names.prefix}-notifications-tap")[
            "QueueUrl"
        ],
        events_queue_url=sqs.get_queue_url(QueueName=f"{names.prefix}-events-tap")["QueueUrl"],
        state_machine_arn=machine["stateMachineArn"],
        definition=definition,
        function_arns=function_arns,
        recipe_parameter=names.recipe_parameter,
    )
