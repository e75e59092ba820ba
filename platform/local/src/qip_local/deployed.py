"""A deployed stack as the CLI sees it: the outputs file `cdk deploy --outputs-file` writes.

The file maps each stack name to its CfnOutputs (`qip_pipeline.names.OUTPUT_*`). The clients use
the environment's AWS credentials, region and endpoint (boto3's own lookup), so the same file
shape pointing at the embedded AWS (`AWS_ENDPOINT_URL`) exercises the same code.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from qip_local.client import LocalClient
from qip_local.provision import Resources
from qip_pipeline import names
from qip_pipeline.definition import ALL_STAGES, parse_stages

REQUIRED_OUTPUTS = (
    names.OUTPUT_UPLOAD_BUCKET,
    names.OUTPUT_ARCHIVE_BUCKET,
    names.OUTPUT_TABLE,
    names.OUTPUT_TOPIC,
    names.OUTPUT_STATE_MACHINE,
    names.OUTPUT_QUEUE_URL,
    names.OUTPUT_DLQ_URL,
)


class OutputsFileError(ValueError):
    """The outputs file is missing, unreadable, or lacks what the CLI needs."""


def read_outputs(path: Path, stack: str | None = None, needs: Sequence[str] = ()) -> dict[str, str]:
    """The outputs of one stack in an outputs file (`stack`, or the only one holding ours),
    refused unless it has the outputs every command needs and the command's own `needs`."""
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise OutputsFileError(f"no outputs file {path}") from None
    except (OSError, ValueError) as exc:
        raise OutputsFileError(f"cannot read the outputs file {path}: {exc}") from None
    if not isinstance(document, dict):
        raise OutputsFileError(f"{path} is not a `cdk deploy --outputs-file` file")
    stacks = {
        name: outputs
        for name, outputs in document.items()
        if isinstance(outputs, dict) and names.OUTPUT_TABLE in outputs
    }
    if stack is not None:
        if stack not in stacks:
            raise OutputsFileError(f"{path} has no QIP stack named {stack!r}")
        chosen = stacks[stack]
    elif len(stacks) == 1:
        (chosen,) = stacks.values()
    else:
        found = ", ".join(sorted(stacks)) or "none"
        raise OutputsFileError(f"{path} holds {len(stacks)} QIP stacks ({found}): pass --stack")
    missing = [name for name in (*REQUIRED_OUTPUTS, *needs) if not chosen.get(name)]
    if missing:
        raise OutputsFileError(f"{path} lacks the outputs {', '.join(missing)}")
    return {str(k): str(v) for k, v in chosen.items()}


def _queue_arn(url: str, topic_arn: str) -> str:
    """An SQS queue's ARN from its URL (`.../{account}/{name}`), in the topic's partition/region."""
    account, name = url.rstrip("/").rsplit("/", 2)[-2:]
    partition, region = topic_arn.split(":")[1], topic_arn.split(":")[3]
    return f"arn:{partition}:sqs:{region}:{account}:{name}"


def resources_from_outputs(outputs: Mapping[str, str]) -> Resources:
    """The `Resources` a client needs, from a deployed stack's outputs."""
    stages = outputs.get(names.OUTPUT_STAGES)
    topic = outputs[names.OUTPUT_TOPIC]
    return Resources(
        names=names.ResourceNames(),
        stages=parse_stages(stages.split(",")) if stages else ALL_STAGES,
        upload_bucket=outputs[names.OUTPUT_UPLOAD_BUCKET],
        archive_bucket=outputs[names.OUTPUT_ARCHIVE_BUCKET],
        table=outputs[names.OUTPUT_TABLE],
        queue_url=outputs[names.OUTPUT_QUEUE_URL],
        queue_arn=_queue_arn(outputs[names.OUTPUT_QUEUE_URL], topic),
        dlq_url=outputs[names.OUTPUT_DLQ_URL],
        dlq_arn=_queue_arn(outputs[names.OUTPUT_DLQ_URL], topic),
        topic_arn=topic,
        # The local-only tap queues do not exist in a deployed stack.
        notifications_queue_url="",
        events_queue_url="",
        state_machine_arn=outputs[names.OUTPUT_STATE_MACHINE],
        definition="",
        # Only a stack with a rendering stage has one.
        recipe_parameter=outputs.get(names.OUTPUT_RECIPE_PARAMETER, ""),
    )


def deployed_client(
    path: Path, stack: str | None = None, session: Any = None, needs: Sequence[str] = ()
) -> LocalClient:
    """A client of the deployed stack an outputs file describes (direct uploads to S3)."""
    import boto3  # noqa: PLC0415 - only the deployed commands need a default session

    resources = resources_from_outputs(read_outputs(path, stack, needs))
    # The stack's region (from its topic ARN) unless the environment names one.
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    region = region or resources.topic_arn.split(":")[3]
    return LocalClient(session or boto3.Session(region_name=region), resources, direct_upload=True)
