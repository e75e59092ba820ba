"""Settings shared by every test suite of the workspace."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# pytest's importlib mode names modules under the repo's `platform/` folder `platform.tests...`
# and, finding the standard library's `platform` without `__path__`, would replace it with the
# folder. Giving the stdlib module an empty `__path__` makes pytest keep it as the parent.
if not hasattr(platform, "__path__"):
    platform.__path__ = []  # type: ignore[attr-defined]

# Every test runs against local fakes: never let a stray client reach a real account.
for _name, _value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "QIP",
    "POWERTOOLS_DEV": "false",
}.items():
    os.environ[_name] = _value
os.environ.pop("AWS_PROFILE", None)

# The design asks for at least 100 examples per property; CI machines are slow, so no deadline.
settings.register_profile(
    "ci", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("quick", max_examples=20, deadline=None)
# CI (GitHub sets CI=true) runs the design's 100 examples; a local run is quick.
# HYPOTHESIS_PROFILE picks either explicitly.
_default_profile = "ci" if os.environ.get("CI", "").lower() in {"1", "true", "yes"} else "quick"
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", _default_profile))

REPO_ROOT = Path(__file__).resolve().parent
CORPUS_DIR = Path(os.environ.get("QIP_CORPUS_DIR", REPO_ROOT / "corpus"))


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """The image corpus in the repository (`corpus/`; `QIP_CORPUS_DIR` overrides)."""
    if not (CORPUS_DIR / "manifest.json").is_file():
        pytest.fail(f"corpus not found at {CORPUS_DIR} (set QIP_CORPUS_DIR)")
    return CORPUS_DIR
