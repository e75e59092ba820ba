"""The synthesized definition of every selection and workflow, byte for byte, as it was recorded.

A refactoring of the builders leaves these digests alone; a deliberate change of the machine
updates them (`uv run python` of this file prints them).
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json

import pytest

from qip_pipeline import definition as d
from qip_shared.enums import StageName
from qip_shared.limits import Workflow

OPTIONAL = [stage for stage in StageName if stage is not StageName.VALIDATION]


def _selections() -> list[tuple[StageName, ...]]:
    """Every selection the pipeline accepts (validation plus any valid mix of the others)."""
    found = []
    for size in range(len(OPTIONAL) + 1):
        for extra in itertools.combinations(OPTIONAL, size):
            try:
                found.append(d.parse_stages((StageName.VALIDATION, *extra)))
            except d.StageSelectionError:
                continue
    return found


def _case(selection: tuple[StageName, ...], workflow: Workflow) -> str:
    return f"{workflow.value}:{','.join(stage.value for stage in selection)}"


def _digest(selection: tuple[StageName, ...], workflow: Workflow) -> str:
    """sha256 (128 bits) of the definition as `json.dumps` writes it (key order kept, unsorted)."""
    text = json.dumps(d.build_definition(selection, workflow))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


@functools.cache
def _digests() -> dict[str, str]:
    return {
        _case(selection, workflow): _digest(selection, workflow)
        for workflow in Workflow
        for selection in _selections()
    }


RECORDED: dict[str, str] = {
    "EXPRESS:validation": "ac475433ac2deff38c4b3af55977e02a",
    "EXPRESS:validation,metadata": "f3af3c68005f07c54831470fa327d8e1",
    "EXPRESS:validation,resize": "e11561e1b6f687171bff84dc31232ef2",
    "EXPRESS:validation,thumbnail": "f83d609b90dbffceb2d1179a9e46c5f5",
    "EXPRESS:validation,metadata,resize": "291d5b8d63f6513b0c69ceef0ef93d6c",
    "EXPRESS:validation,metadata,thumbnail": "613107e28dd2e602e3fadc8247f2464f",
    "EXPRESS:validation,resize,thumbnail": "ecbe2f30ac8bb88120c122028621709f",
    "EXPRESS:validation,resize,archive": "c2b804bd75b68d05bbc494173800bcb6",
    "EXPRESS:validation,thumbnail,archive": "097099ff814c58976996ecc1bb0dff67",
    "EXPRESS:validation,metadata,resize,thumbnail": "c0dc2e301a2e7d5456e88a8e81465130",
    "EXPRESS:validation,metadata,resize,archive": "6f6ad2a47e7258b70fa7206b01998191",
    "EXPRESS:validation,metadata,thumbnail,archive": "6539446fb20336a4b9dc1a5f04152fc3",
    "EXPRESS:validation,resize,thumbnail,archive": "e5ff83686af9b972f4706f5a3010c947",
    "EXPRESS:validation,metadata,resize,thumbnail,archive": "d07d712f0b123dc67f06696849f6cf6d",
    "STANDARD:validation": "3caeed2f2d898e41f03a8b7ab1ed4603",
    "STANDARD:validation,metadata": "33c00dcc1babf599692cfbe907e7ba15",
    "STANDARD:validation,resize": "57ac981fb2edf33a50964cb0d75561df",
    "STANDARD:validation,thumbnail": "8b84034cdd4f646e79690d508e3d34df",
    "STANDARD:validation,metadata,resize": "5d9a11eba600336d885a2cfc5804aea7",
    "STANDARD:validation,metadata,thumbnail": "4b8c3e06128d4d2b3f117acb2f710b86",
    "STANDARD:validation,resize,thumbnail": "97b7b436d6ad072963e859a5dcc3cc8e",
    "STANDARD:validation,resize,archive": "036d1570cfb8f8b1b53af61c07df105d",
    "STANDARD:validation,thumbnail,archive": "c6f376038c5f8da185f098ac41ce6330",
    "STANDARD:validation,metadata,resize,thumbnail": "873e09ef1b135513b8a735f34c99467c",
    "STANDARD:validation,metadata,resize,archive": "b066bdbd2aaf66e0f284c351f08a209a",
    "STANDARD:validation,metadata,thumbnail,archive": "27c34b1f37fb0507585baf2c9de8dd9e",
    "STANDARD:validation,resize,thumbnail,archive": "d8c1c96b9e29eb516a0d8e62ef602a83",
    "STANDARD:validation,metadata,resize,thumbnail,archive": "f051cc63935f47ac309ea534c512a861",
}


def test_every_accepted_selection_is_recorded() -> None:
    assert set(_digests()) == set(RECORDED)


@pytest.mark.parametrize("case", sorted(RECORDED))
def test_the_definition_is_byte_identical_to_the_recorded_one(case: str) -> None:
    assert _digests()[case] == RECORDED[case], (
        f"the definition of {case} changed: a refactoring must leave it alone; a deliberate "
        "change records the new digests (`uv run python` of this file prints them)"
    )


if __name__ == "__main__":
    print(json.dumps(_digests(), indent=4))
