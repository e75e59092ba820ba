"""Finding the Lambda runtime's Python: uv first, pyenv's versions next, one clear line if none."""

from __future__ import annotations

import pytest

from qip_platform import bytecode


@pytest.fixture
def fresh_lookup():
    """The interpreter lookup without its per-process cache (restored afterwards)."""
    bytecode.lambda_python.cache_clear()
    yield
    bytecode.lambda_python.cache_clear()


def test_no_interpreter_fails_with_one_line_saying_how_to_get_one(monkeypatch, fresh_lookup):
    monkeypatch.delenv("QIP_LAMBDA_PYTHON", raising=False)
    monkeypatch.setattr(bytecode.shutil, "which", lambda _name: None)  # neither uv nor pyenv
    with pytest.raises(bytecode.LambdaPythonMissingError) as raised:
        bytecode.lambda_python()
    message = str(raised.value)
    assert "\n" not in message
    assert "uv python install 3.13" in message


def test_the_override_wins(monkeypatch, fresh_lookup, tmp_path):
    chosen = tmp_path / "python3.13"
    monkeypatch.setenv("QIP_LAMBDA_PYTHON", str(chosen))
    assert bytecode.lambda_python() == chosen


def test_pyenv_versions_are_offered_to_uv_when_its_shims_hide_them(monkeypatch, fresh_lookup):
    monkeypatch.delenv("QIP_LAMBDA_PYTHON", raising=False)
    asked = []

    def uv_find(env):
        asked.append(env.get("PYENV_VERSION"))
        return None if len(asked) == 1 else bytecode.Path("/found/python3.13")

    monkeypatch.setattr(bytecode, "_uv_find", uv_find)
    monkeypatch.setattr(bytecode, "_pyenv_versions", lambda: ["3.13.0", "3.13.1"])
    assert bytecode.lambda_python() == bytecode.Path("/found/python3.13")
    assert asked[1] == "3.13.0:3.13.1"
