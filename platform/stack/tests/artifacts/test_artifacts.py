"""What ships runs: each function's real bundle and layers, on python3.13, against the embedded AWS.

One image goes through the whole system (upload-url → presigned POST → S3 → EventBridge → SQS →
trigger → the state machine's five stages); every function is a python3.13 process over its
unpacked artifacts only. The tests then look at what each one answered, wrote and logged.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qip_pipeline.names import ALL_SERVICES, STAGE_SERVICES
from qip_platform.artifacts import asset_problems
from qip_platform.versions import LAMBDA_PYTHON, module_name
from qip_shared.enums import ImageStatus, StageName, StageStatus
from qip_shared.record import ImageRecord

CORPUS_IMAGE = Path(__file__).resolve().parents[4] / "corpus" / "320x240.jpg"
LAMBDA_LIMIT_UNZIPPED = 250 * 1024 * 1024  # function + all its layers
MB = 1024 * 1024
# Never imported by a function: the CDK, test and mocking tools.
BUILD_TIME = ("aws_cdk", "constructs", "jsii", "cdk_nag", "pytest", "_pytest", "moto", "hypothesis")
SERVICE_OF_STAGE = {service: stage for stage, service in STAGE_SERVICES.items()}


@pytest.fixture(scope="module")
def processed(artifact_system) -> tuple[str, ImageRecord]:
    """One corpus JPEG uploaded through upload-url and processed to its end state."""
    client = artifact_system.local_client()
    image_key = client.upload_file(CORPUS_IMAGE)
    record = client.wait_for([image_key], timeout=300)[image_key]
    assert record is not None, f"no record for {image_key}"
    return image_key, record


def _calls(invocations, service):
    return [call for call in invocations if call.service == service]


def test_bundle_and_layers_fit_the_lambda_limit(lambda_trees, capsys):
    lines = [f"{'function':12} {'bundle':>9} {'zipped':>9} {'layers':>9} {'total':>9}  layers"]
    for service, tree in lambda_trees.items():
        bundle_bytes, total = tree.bundle_bytes(), tree.unzipped_bytes()
        lines.append(
            f"{service:12} {bundle_bytes / MB:8.2f}M {tree.bundle_zip_bytes / MB:8.2f}M "
            f"{(total - bundle_bytes) / MB:8.1f}M {total / MB:8.1f}M  {'+'.join(tree.layers)}"
        )
        assert total < LAMBDA_LIMIT_UNZIPPED, f"{service}: {total / MB:.1f} MB unzipped"
    with capsys.disabled():
        print("\nunzipped sizes per function (x86_64; Lambda's limit is 250 MB):")
        print("\n".join(lines))


def test_unpacked_artifacts_hold_runtime_bytecode_and_no_build_code(lambda_trees):
    for tree in lambda_trees.values():
        assert asset_problems(tree.task) == [], tree.service
        assert asset_problems(tree.opt) == [], tree.service


# The functions one upload runs through (the read API and the sweeper are not on its path; their
# artifacts are checked above for bytecode, build-time code and size, not invoked here).
UPLOAD_PATH = tuple(s for s in ALL_SERVICES if s not in {"images-api", "sweeper"})


def test_the_image_went_through_every_function_from_its_artifacts(processed, invocations, capsys):
    _image_key, record = processed
    failed = [c for c in invocations if not c.answer["ok"]]
    assert not failed, [(c.service, c.answer["errorType"], c.answer["stackTrace"]) for c in failed]
    assert record.status is ImageStatus.COMPLETED, record.error_message
    assert {c.service for c in invocations} == set(UPLOAD_PATH)
    with capsys.disabled():
        print("\ncold invocations on python3.13 (init = handler import, invoke = the call):")
        for c in invocations:
            print(
                f"{c.service:12} init {c.answer['initMs']:7.0f} ms  "
                f"invoke {c.answer['invokeMs']:7.0f} ms  process {c.seconds:6.2f} s"
            )


@pytest.mark.parametrize("service", ALL_SERVICES)
def test_function_runs_on_python_313_from_its_artifacts_only(
    service, processed, invocations, lambda_trees, python313
):
    del processed
    tree = lambda_trees[service]
    stdlib = python313.resolve().parents[1]  # <prefix>/bin/python3.13 -> <prefix>
    for call in _calls(invocations, service):
        answer = call.answer
        assert answer["version"][:2] == [int(v) for v in LAMBDA_PYTHON.split(".")]
        assert answer["sysPath"][:3] == tree.task_path()
        assert answer["sysPath"][-1] == str(tree.runtime)
        outside = [
            f
            for f in answer["modules"]
            if not f.startswith((str(tree.root), str(stdlib)))
            and not Path(f).resolve().is_relative_to(stdlib)
        ]
        assert outside == [], f"{service} imported modules from outside its artifacts"
        loaded = {
            Path(f).relative_to(tree.root).parts[:3]
            for f in answer["modules"]
            if f.startswith(str(tree.root))
        }
        assert ("var", "task", module_name(service)) in loaded
        assert ("var", "task", "qip_shared") in loaded
        assert ("opt", "python", "pydantic") in loaded
        assert ("var", "runtime", "boto3") in loaded
        stems = {
            Path(f).parts[-2] if Path(f).name == "__init__.py" else Path(f).stem
            for f in answer["modules"]
        }
        assert not stems & set(BUILD_TIME), f"{service} imported build-time code"


@pytest.mark.parametrize("service", UPLOAD_PATH)
def test_function_logs_json_as_in_production(service, processed, invocations):
    image_key, _record = processed
    calls = _calls(invocations, service)
    for call in calls:
        assert call.other_output == [], f"{service} wrote non-JSON lines to its log"
        logs = [entry for entry in call.logs if "level" in entry]
        assert logs, f"{service} logged nothing"
        assert {entry["service"] for entry in logs} == {f"qip-{service}"}
        assert all(entry["function_name"].endswith(service) for entry in logs)
        # powertools metrics flushed as CloudWatch embedded metric format on stdout
        assert any("_aws" in entry for entry in call.logs), f"{service} flushed no metrics"
    # the image's key is a key of the structured log, not formatted into a message
    assert any(entry.get("imageKey") == image_key for c in calls for entry in c.logs), service


def test_functions_send_trace_segments(processed, xray_daemon):
    del processed
    segments = [d.split(b"\n", 1)[1] for d in xray_daemon.datagrams if b"\n" in d]
    names = {json.loads(segment).get("name") for segment in segments}
    assert names & {"## _handle", "## handler", "S3", "DynamoDB"}, names


def test_each_function_wrote_what_its_stage_writes(processed, invocations, artifact_system):
    image_key, record = processed
    client = artifact_system.local_client()
    resources = artifact_system.resources
    s3 = client.client("s3")
    # upload-url: a presigned POST that put the upload where the record says
    (issued,) = _calls(invocations, "upload-url")
    body = json.loads(issued.answer["result"]["body"])
    assert body["imageKey"] == image_key
    assert s3.head_object(Bucket=resources.upload_bucket, Key=image_key)["ContentLength"] > 0
    # trigger: the record, claimed, with the execution it started
    assert record.execution_arn
    assert record.execution_arn.startswith(
        resources.state_machine_arn.replace(":stateMachine:", ":execution:")
    )
    # every stage: COMPLETED in the record
    for stage in StageName:
        info = record.stages.get(stage)
        assert info is not None, stage
        assert info.status is StageStatus.COMPLETED, stage
    # resize, thumbnail: their images in the upload bucket; archive: the archive bucket
    for service, key_field in (("resize", "resizedKey"), ("thumbnail", "thumbnailKey")):
        (call,) = _calls(invocations, service)
        key = call.answer["result"][key_field]
        assert s3.head_object(Bucket=resources.upload_bucket, Key=key)["ContentLength"] > 0
    (archived,) = _calls(invocations, "archive")
    keys = archived.answer["result"]["archivedKeys"]
    assert keys
    for key in keys:
        assert s3.head_object(Bucket=resources.archive_bucket, Key=key)["ContentLength"] > 0
