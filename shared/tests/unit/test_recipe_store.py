"""The recipe's home: one SSM parameter, read once per process and cached briefly."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from qip_shared.errors import PermanentError, RetryableError
from qip_shared.recipe import DEFAULT_RECIPE, Recipe
from qip_shared.recipe_store import RecipeCache, read_recipe, write_recipe

PARAMETER = "/qip/recipe"


class FakeSsm:
    """The two SSM calls the store makes, counting reads."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.reads = 0
        self.error: str | None = None

    def get_parameter(self, Name: str) -> dict[str, Any]:  # noqa: N803
        self.reads += 1
        if self.error:
            raise ClientError({"Error": {"Code": self.error, "Message": "x"}}, "GetParameter")
        if Name not in self.values:
            raise ClientError({"Error": {"Code": "ParameterNotFound", "Message": "x"}}, "Get")
        return {"Parameter": {"Name": Name, "Value": self.values[Name]}}

    def put_parameter(self, Name: str, Value: str, Type: str, Overwrite: bool) -> None:  # noqa: N803
        assert (Type, Overwrite) == ("String", True)
        self.values[Name] = Value


def version(name: str) -> Recipe:
    return DEFAULT_RECIPE.model_copy(update={"version": name})


def test_no_parameter_configured_means_the_default_recipe_without_a_call() -> None:
    assert RecipeCache("").get(None) == DEFAULT_RECIPE


def test_read_once_then_cached_until_the_ttl_or_another_version_is_wanted() -> None:
    ssm, now = FakeSsm(), [0.0]
    write_recipe(ssm, PARAMETER, version("1"))
    cache = RecipeCache(PARAMETER, ttl_seconds=60, clock=lambda: now[0])
    assert cache.get(ssm).version == "1"
    write_recipe(ssm, PARAMETER, version("2"))
    now[0] = 59
    assert cache.get(ssm).version == "1"  # a warm function trusts its copy for a while
    assert cache.get(ssm, "1").version == "1"
    assert ssm.reads == 1
    assert cache.get(ssm, "2").version == "2"  # a backfill asks for the new one: re-read
    assert ssm.reads == 2
    write_recipe(ssm, PARAMETER, version("3"))
    now[0] = 59 + 61
    assert cache.get(ssm).version == "3"
    assert ssm.reads == 3


def test_missing_invalid_and_throttled_reads_are_the_shared_errors() -> None:
    ssm = FakeSsm()
    with pytest.raises(PermanentError) as missing:
        read_recipe(ssm, PARAMETER)
    assert missing.value.code == "RECIPE_NOT_FOUND"
    ssm.values[PARAMETER] = '{"version": "1", "variants": []}'
    with pytest.raises(PermanentError) as invalid:
        read_recipe(ssm, PARAMETER)
    assert invalid.value.code == "BAD_RECIPE"
    ssm.error = "ThrottlingException"
    with pytest.raises(RetryableError):
        read_recipe(ssm, PARAMETER)
