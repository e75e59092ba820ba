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
    "EXPRESS:validation": "e8de80e3eea0ccdf8d863de1ab625a22",
    "EXPRESS:validation,metadata": "b80a759114c7c751860a65ae11ebee33",
    "EXPRESS:validation,resize": "6e3f43931752235fe3ddd5412bc3fe6b",
    "EXPRESS:validation,thumbnail": "f0a3c80076eedf59a7918f1c0a19ec2e",
    "EXPRESS:validation,metadata,resize": "7168e1bf3f075886ba677f91c6288df8",
    "EXPRESS:validation,metadata,thumbnail": "15176383190eb6e18de5f665212d7bfb",
    "EXPRESS:validation,resize,thumbnail": "7fbe18c75cebfcc222db479c4ef55073",
    "EXPRESS:validation,resize,archive": "599d7a3473cb2b9d0f8779feab00066a",
    "EXPRESS:validation,thumbnail,archive": "169419f9eff41d8d58cedb4d933ab253",
    "EXPRESS:validation,metadata,resize,thumbnail": "f136973079b5fbd32c859489f3c94c84",
    "EXPRESS:validation,metadata,resize,archive": "3cad26f228c45f9d18b43c50a604e353",
    "EXPRESS:validation,metadata,thumbnail,archive": "aad84e54c11c4cc486d778b8e528196b",
    "EXPRESS:validation,resize,thumbnail,archive": "ee69c4c301f363f42dd3dfb9550e1999",
    "EXPRESS:validation,metadata,resize,thumbnail,archive": "e23e4722cbfc5cdeddba4f88a65ece8c",
    "STANDARD:validation": "919176b1c3bae31883b50b42595658d3",
    "STANDARD:validation,metadata": "f0040232377c4a54405af009b860122b",
    "STANDARD:validation,resize": "7a00b0472a3d3bfce4d0c2a50e7928e3",
    "STANDARD:validation,thumbnail": "74b9fa53b5bef7cb0fd3e608f0c685ac",
    "STANDARD:validation,metadata,resize": "712f2d0e8ae812433cbb4afcfd3c44a8",
    "STANDARD:validation,metadata,thumbnail": "257b99ce5c0938672449478dafa964c3",
    "STANDARD:validation,resize,thumbnail": "a9293b87b42b97ab5b7f51eaa1c4f4f8",
    "STANDARD:validation,resize,archive": "3e506392115fd8254248a9256ddba333",
    "STANDARD:validation,thumbnail,archive": "1dfcd2b332b0a9e456b8616bd5908aee",
    "STANDARD:validation,metadata,resize,thumbnail": "ca8ee29b4ec74241bacb8e4fe772e543",
    "STANDARD:validation,metadata,resize,archive": "44913110fd3a93b7449a0c8551a37699",
    "STANDARD:validation,metadata,thumbnail,archive": "d74f7230d82a57f9c6b386f14dc277a1",
    "STANDARD:validation,resize,thumbnail,archive": "40b86be25ea6113144b11229105b7173",
    "STANDARD:validation,metadata,resize,thumbnail,archive": "8adb999f9566cb69849fd5a87efd2ca3",
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
