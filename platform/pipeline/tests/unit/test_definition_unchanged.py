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
    """sha256 of the built definition as `json.dumps` writes it (key order kept, not sorted)."""
    text = json.dumps(d.build_definition(selection, workflow))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@functools.cache
def _digests() -> dict[str, str]:
    return {
        _case(selection, workflow): _digest(selection, workflow)
        for workflow in Workflow
        for selection in _selections()
    }


RECORDED: dict[str, str] = {
    "EXPRESS:validation": "fa2df08babc0d3b99c45a0101b054e4909dab0e798f29370753758427ff4d530",
    "EXPRESS:validation,metadata": (
        "866bc0bd829855beda10bc15c27c263d267c4f215151deace6002c61f7aad8ae"
    ),
    "EXPRESS:validation,resize": (
        "daa6544541d38d05347482ec8616b5bc876c2e2132d5d01b44b9c02a65eb1050"
    ),
    "EXPRESS:validation,thumbnail": (
        "900e03b860876b99002a8311f767a89f3932f84d61e93b5a2b650446de8a87f9"
    ),
    "EXPRESS:validation,metadata,resize": (
        "e0515f93126aaddaea68933235422c9ff37d827aae81631d6e6fae39b75d94c9"
    ),
    "EXPRESS:validation,metadata,thumbnail": (
        "8f970ee84d41b30d16566f7a245d977393f771fc6bf91a9d61254c28c10f0f12"
    ),
    "EXPRESS:validation,resize,thumbnail": (
        "68a68602f570cada49b22d176d2d5513227350bcc3dc7f001a6264f46ded4f52"
    ),
    "EXPRESS:validation,resize,archive": (
        "16d20e4ac73be1804289508e050df75f94bd85d1db3ab637d0c50fe5b0aa008a"
    ),
    "EXPRESS:validation,thumbnail,archive": (
        "7903410951e52f5dc7665110ebfbc35c3ddfd81bfe211ba5e07acdaf79762bc7"
    ),
    "EXPRESS:validation,metadata,resize,thumbnail": (
        "d02faab28fe834b341ae72ab267f48e38315fc4b6da7b13274eb8ddfcbda1e6d"
    ),
    "EXPRESS:validation,metadata,resize,archive": (
        "90231a6a423f19777db363aae5ee19868c156b69a89d8c19b13dd39ccc2b830b"
    ),
    "EXPRESS:validation,metadata,thumbnail,archive": (
        "72900d1cebdc96e838de192d6eb0c784b87b8e67d474188d09c858d37e9c5c37"
    ),
    "EXPRESS:validation,resize,thumbnail,archive": (
        "ad658d8e2708e411ccaa478310f8705ddb1c4d4c9820efd46e95e1749d671876"
    ),
    "EXPRESS:validation,metadata,resize,thumbnail,archive": (
        "80f8f0bc06778df6f5c0aa5b98c3c307b59dce1d5fe9fd24c46520dc4219d06d"
    ),
    "STANDARD:validation": "e8f01c6ecedb233bf7b7135299ed498304a4e91b9f609808ce8a19b4779cae09",
    "STANDARD:validation,metadata": (
        "df8fa54dcf1d704814328a677480b033d7796483b2b2792155d640e5b24fdb07"
    ),
    "STANDARD:validation,resize": (
        "b94864ba4420b338161beafde88ec14cf6492aeaa9a5ba2b29e18fac3d33a66b"
    ),
    "STANDARD:validation,thumbnail": (
        "6e20ce2242809f52d3811b3e72c80f41846273fafef4fbe272bc0924b8e3ded1"
    ),
    "STANDARD:validation,metadata,resize": (
        "90e27c6864c185fd57956fc1eaf23f83f98cd1bfb4a72c2a02501ff7e57adb4c"
    ),
    "STANDARD:validation,metadata,thumbnail": (
        "4cbcb4d22f6b5e676dcff04b93c5d9215fa924ce46ece577e92b50a67bd60826"
    ),
    "STANDARD:validation,resize,thumbnail": (
        "ca87ffd1d4174149ed45c2e7eb7d69d60afdb0a11c572a6b636087070b457068"
    ),
    "STANDARD:validation,resize,archive": (
        "87b3f49b031761ede67620cf7ef4f803f82199a7a6bfbf1b0ed71d82af32ece2"
    ),
    "STANDARD:validation,thumbnail,archive": (
        "4a2a7ca7bbcc3cdf6f7a757b2372edd1dd5e7e6d4c35066673ac3aa14fa2861f"
    ),
    "STANDARD:validation,metadata,resize,thumbnail": (
        "ead251f353c64d96fda915ffed5f935e950e186ca5fcf0da8fbee8ca8bb3d7d0"
    ),
    "STANDARD:validation,metadata,resize,archive": (
        "0bbebc351d48c3a529a408b666f457abff85e7fed6e924394c771ee74fd39e39"
    ),
    "STANDARD:validation,metadata,thumbnail,archive": (
        "3103fdd951875574ba05d2147b07e65e0a345360ac6f57734582e2a00d5a2fdd"
    ),
    "STANDARD:validation,resize,thumbnail,archive": (
        "1d32e3d3da064ff8555d1e162dd91c87a5e9f75b2ad8c68891c7bae23df3aa65"
    ),
    "STANDARD:validation,metadata,resize,thumbnail,archive": (
        "9d6c329e1985cd458dbec1701f5f38178ee5b35c165958706d84b29921aef2b2"
    ),
}


def test_every_accepted_selection_is_recorded() -> None:
    assert set(_digests()) == set(RECORDED)


@pytest.mark.parametrize("case", sorted(RECORDED))
def test_the_definition_is_byte_identical_to_the_recorded_one(case: str) -> None:
    assert _digests()[case] == RECORDED[case], f"the definition of {case} changed"


if __name__ == "__main__":
    print(json.dumps(_digests(), indent=4))
