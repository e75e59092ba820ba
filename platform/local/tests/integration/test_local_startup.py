"""Start-up speed-ups keep behaviour: the definition's parse cache, the shared botocore loader."""

from __future__ import annotations

import gc
import hashlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import moto.core.utils
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from moto.stepfunctions.parser.models import StepFunctionsParserBackend

from qip_local.asl_cache import (
    PROGRAMS_ENV,
    ParsedPrograms,
    cached_state_machine_programs,
    parsed_programs,
    program_cache_directory,
)
from qip_local.lifecycle import paused_garbage_collection, shared_botocore_loader
from qip_local.runtime import MOTO_CONFIG

ROLE = "arn:aws:iam::123456789012:role/sfn"


def _definition(result: str) -> str:
    return json.dumps(
        {
            "StartAt": "Answer",
            "States": {"Answer": {"Type": "Pass", "Result": {"answer": result}, "End": True}},
        }
    )


INVALID = json.dumps({"StartAt": "Missing", "States": {"Answer": {"Type": "Nope", "End": 1}}})


@pytest.fixture
def sfn() -> Iterator[Any]:
    """A Step Functions client on moto that executes state machines."""
    with mock_aws(config=MOTO_CONFIG):  # type: ignore[call-overload]
        yield boto3.client("stepfunctions", region_name="us-east-1")


def _create(sfn: Any, name: str, definition: str) -> str:
    arn: str = sfn.create_state_machine(name=name, definition=definition, roleArn=ROLE)[
        "stateMachineArn"
    ]
    return arn


def _run(sfn: Any, arn: str) -> dict[str, Any]:
    execution = sfn.start_execution(stateMachineArn=arn, name="run", input="{}")["executionArn"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        described: dict[str, Any] = sfn.describe_execution(executionArn=execution)
        if described["status"] != "RUNNING":
            return described
        time.sleep(0.02)
    raise AssertionError("the execution did not finish")


def test_create_parses_once_and_executions_reuse_the_program(sfn: Any, tmp_path: Path) -> None:
    programs = ParsedPrograms(tmp_path)
    with cached_state_machine_programs(programs):
        first = _create(sfn, "first", _definition("a"))
        assert programs.parsed == 1
        _create(sfn, "same", _definition("a"))
        described = _run(sfn, first)
        assert programs.parsed == 1  # neither the second create nor the execution parsed
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == {"answer": "a"}


def test_a_changed_definition_is_parsed_again(sfn: Any, tmp_path: Path) -> None:
    programs = ParsedPrograms(tmp_path)
    with cached_state_machine_programs(programs):
        _create(sfn, "a", _definition("a"))
        changed = _create(sfn, "b", _definition("b"))
        assert programs.parsed == 2
        described = _run(sfn, changed)
    assert json.loads(described["output"]) == {"answer": "b"}
    assert len(list(tmp_path.glob("*.pickle"))) == 2


def test_the_cache_still_rejects_an_invalid_definition(sfn: Any, tmp_path: Path) -> None:
    with pytest.raises(ClientError) as uncached:
        _create(sfn, "invalid", INVALID)
    programs = ParsedPrograms(tmp_path)
    with cached_state_machine_programs(programs):
        _create(sfn, "valid", _definition("a"))
        with pytest.raises(ClientError) as refused:
            _create(sfn, "invalid", INVALID)
    # moto's own refusal, word for word (moto answers its InvalidDefinition with no code).
    assert refused.value.response["Error"] == uncached.value.response["Error"]
    assert "ASLParserException" in refused.value.response["Error"]["Message"]
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert len(list(tmp_path.glob("*.pickle"))) == 1  # only the valid one is kept
    names = [m["name"] for m in sfn.list_state_machines()["stateMachines"]]
    assert names == ["valid"]


def test_a_program_from_disk_runs_without_parsing(sfn: Any, tmp_path: Path) -> None:
    with cached_state_machine_programs(ParsedPrograms(tmp_path)):
        _create(sfn, "earlier-run", _definition("kept"))
    later = ParsedPrograms(tmp_path)  # a new process, as far as the cache can tell
    with cached_state_machine_programs(later):
        arn = _create(sfn, "later-run", _definition("kept"))
        described = _run(sfn, arn)
    assert later.parsed == 0
    assert json.loads(described["output"]) == {"answer": "kept"}


def test_a_torn_cache_file_is_parsed_again_and_replaced(sfn: Any, tmp_path: Path) -> None:
    with cached_state_machine_programs(ParsedPrograms(tmp_path)):
        _create(sfn, "first", _definition("a"))
    (stored,) = tmp_path.glob("*.pickle")
    stored.write_bytes(stored.read_bytes()[:100])
    programs = ParsedPrograms(tmp_path)
    with cached_state_machine_programs(programs):
        arn = _create(sfn, "second", _definition("a"))
        described = _run(sfn, arn)
    assert programs.parsed == 1
    assert described["status"] == "SUCCEEDED"
    assert ParsedPrograms(tmp_path).program(_definition("a")) is not None


def test_patches_are_undone(tmp_path: Path) -> None:
    before = (
        ExecutionWorker._get_evaluation_entrypoint,
        StepFunctionsParserBackend.__dict__["_validate_definition"],
        botocore.session.create_loader,
        moto.core.utils.create_loader,
    )
    with cached_state_machine_programs(ParsedPrograms(tmp_path)), shared_botocore_loader():
        assert botocore.session.create_loader is not before[2]
    after = (
        ExecutionWorker._get_evaluation_entrypoint,
        StepFunctionsParserBackend.__dict__["_validate_definition"],
        botocore.session.create_loader,
        moto.core.utils.create_loader,
    )
    assert after == before


def test_sessions_share_one_loader_and_clients_still_work() -> None:
    def loader() -> Any:
        return boto3.Session(region_name="us-east-1")._session.get_component("data_loader")

    assert loader() is not loader()
    with shared_botocore_loader(), mock_aws():
        assert loader() is loader()
        assert moto.core.utils.create_loader() is moto.core.utils.create_loader()
        sqs = boto3.Session(region_name="us-east-1").client("sqs")
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="hello")
        got = sqs.receive_message(QueueUrl=url)["Messages"]
    assert [m["Body"] for m in got] == ["hello"]


def test_garbage_collection_is_paused_during_start_and_restored() -> None:
    assert gc.isenabled()
    with paused_garbage_collection():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with paused_garbage_collection():
            assert not gc.isenabled()
        assert not gc.isenabled()  # as it was
    finally:
        gc.enable()


def test_a_frozen_heap_is_left_out_of_later_collections() -> None:
    before = gc.get_freeze_count()
    try:
        with paused_garbage_collection(freeze=True):
            kept = [[] for _ in range(1000)]  # lists are tracked by the collector
        assert gc.get_freeze_count() >= before + len(kept)
        assert gc.isenabled()
    finally:
        gc.unfreeze()


def test_only_the_newest_definitions_are_kept_on_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("qip_local.asl_cache.PROGRAMS_KEPT", 2)
    programs = ParsedPrograms(tmp_path)

    def stored(result: str) -> Path:
        digest = hashlib.sha256(_definition(result).encode()).hexdigest()
        return tmp_path / f"{digest}.pickle"

    for age, result in ((300, "a"), (200, "b")):
        programs.program(_definition(result))
        past = time.time() - age
        os.utime(stored(result), (past, past))
    programs.program(_definition("c"))
    assert sorted(p.name for p in tmp_path.glob("*.pickle")) == sorted(
        stored(r).name for r in ("b", "c")
    )


def test_the_disk_cache_can_be_turned_off(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert parsed_programs().directory == program_cache_directory()
    assert program_cache_directory().is_relative_to(tmp_path / "qip" / "asl")
    monkeypatch.setenv(PROGRAMS_ENV, "0")
    in_memory = parsed_programs()
    assert in_memory.directory is None
    in_memory.program(_definition("memory only"))
    assert not list(tmp_path.rglob("*.pickle"))
