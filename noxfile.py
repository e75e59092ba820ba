"""Sessions for the QIP workspace.

Per-package sessions are generated from PACKAGES (one loop, not nine copies): each installs only
what its package needs with `uv sync --locked --package <name>` and runs only its tests.
`nox -s all` runs the whole suite (lint, every package, the whole-system tests) in one
environment: it is the README's test command and what CI runs.
"""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.default_venv_backend = "uv"
nox.options.error_on_missing_interpreters = True
nox.options.sessions = ["all"]

ROOT = Path(__file__).parent
# session suffix -> (distribution name, directory, extras its tests need)
PACKAGES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "shared": ("qip-shared", "shared", ("imaging",)),
    "validate": ("qip-validate", "services/validate", ("cdk",)),
    "metadata": ("qip-metadata", "services/metadata", ("cdk",)),
    "resize": ("qip-resize", "services/resize", ("cdk",)),
    "thumbnail": ("qip-thumbnail", "services/thumbnail", ("cdk",)),
    "archive": ("qip-archive", "services/archive", ("cdk",)),
    "trigger": ("qip-trigger", "services/trigger", ("cdk",)),
    "upload-url": ("qip-upload-url", "services/upload-url", ("cdk",)),
    "sweeper": ("qip-sweeper", "services/sweeper", ("cdk",)),
    "images-api": ("qip-images-api", "services/images-api", ("cdk",)),
    "pipeline": ("qip-pipeline", "platform/pipeline", ()),
    "local": ("qip-local", "platform/local", ()),
    "platform": ("qip-platform", "platform/stack", ()),
}
# The local package's whole-system suites run in sessions of their own.
LOCAL_UNIT_DIRS = ("platform/local/tests/unit", "platform/local/tests/integration")
SYSTEM_DIR = "platform/local/tests/system"
DASHBOARD_DIR = "platform/local/tests/dashboard"
RELIABILITY_DIR = "platform/local/tests/reliability"
SECURITY_DIR = "platform/stack/tests/security"
# The platform package's own tests; its artifact tests run in `test-artifacts`.
STACK_UNIT_DIRS = ("platform/stack/tests/unit", "platform/stack/tests/infra", SECURITY_DIR)
ARTIFACTS_DIR = "platform/stack/tests/artifacts"
FUZZ_DIR = "services/validate/tests/fuzz"
# Standard-library checks of the whole repository (CI runs them before installing anything).
VERSIONS_SCRIPT = "platform/stack/src/qip_platform/bumps.py"
SIZES_SCRIPT = "platform/stack/src/qip_platform/sizes.py"
BENCH_CACHE = Path.home() / ".cache" / "qip-bench"


def _sync(session: nox.Session, *args: str) -> None:
    """Install exactly what the lock file says into this session's environment."""
    env = {
        "UV_PROJECT_ENVIRONMENT": session.virtualenv.location,
        # CDK imports are 4x slower without bytecode, and this machine disables writing it.
        "UV_COMPILE_BYTECODE": "1",
    }
    session.run_install("uv", "sync", "--locked", "--inexact", *args, env=env, silent=True)


def _pytest(session: nox.Session, *paths: str) -> None:
    existing = [p for p in paths if (ROOT / p).exists()]
    if not existing:
        session.skip(f"no tests under {', '.join(paths)}")
    session.run("pytest", *existing, *session.posargs)


def _test_dirs(name: str) -> tuple[str, ...]:
    directory = PACKAGES[name][1]
    if name == "local":
        return LOCAL_UNIT_DIRS
    if name == "platform":
        return STACK_UNIT_DIRS
    return (f"{directory}/tests",)


def _make_test_session(name: str) -> None:
    dist, _directory, extras = PACKAGES[name]

    def session_fn(session: nox.Session) -> None:
        _sync(session, "--package", dist, *(f"--extra={e}" for e in extras))
        _pytest(session, *_test_dirs(name))

    session_fn.__doc__ = f"Run the {dist} tests in an environment with only {dist}'s dependencies."
    nox.session(name=f"test-{name}", reuse_venv=True)(session_fn)


for _name in PACKAGES:
    _make_test_session(_name)


@nox.session(reuse_venv=True)
def lint(session: nox.Session) -> None:
    """ruff (lint + format check) and mypy (strict on shared/ and every core.py)."""
    _sync(session, "--all-packages", "--all-extras")
    _lint(session)


def _lint(session: nox.Session) -> None:
    session.run("python", SIZES_SCRIPT)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("actionlint", ".github/workflows/ci.yml")
    sources = ["shared/src", *sorted(str(p) for p in ROOT.glob("services/*/src"))]
    sources += sorted(str(p) for p in ROOT.glob("platform/*/src"))
    session.run("mypy", *sources)


@nox.session(reuse_venv=True)
def synth(session: nox.Session) -> None:
    """Build the layers, synthesize offline (cdk-nag on), cfn-lint, check every asset's bytecode.

    Extra CDK context goes after `--`: `nox -s synth -- -c stages=validate,resize,archive`.
    """
    _sync(session, "--package", "qip-platform")
    session.env["JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"] = "20"
    session.run("python", "-m", "qip_platform.layers", "--architecture", "arm64")
    session.run(
        "python", "-m", "qip_platform.app", "--outdir", "platform/stack/cdk.out", *session.posargs
    )
    # W3005 (DependsOn already implied by GetAtt) comes from CDK's own output, not from us.
    session.run(
        "cfn-lint", "platform/stack/cdk.out/QipStack.template.json", "--ignore-checks", "W3005"
    )
    # Every bundle and layer: cpython-313 bytecode for each module, no test or CDK code.
    session.run("python", "-m", "qip_platform.artifacts", "platform/stack/cdk.out")


@nox.session(venv_backend="none")
def versions(session: nox.Session) -> None:
    """Fail when a package whose code (or a dependency's) changed since a base did not bump.

    The base goes after `--` (CI passes it); default: the merge-base with origin/main, and
    without one the check is skipped with a message. A bump also needs a CHANGELOG.md line.
    """
    session.run("python3", VERSIONS_SCRIPT, *session.posargs)


@nox.session(venv_backend="none")
def affected(session: nox.Session) -> None:
    """Packages changed since a git ref (default origin/main), dependents included."""
    refs = session.posargs or ["origin/main"]
    session.run("python3", "platform/stack/src/qip_platform/affected.py", *refs)


@nox.session(name="test-artifacts", reuse_venv=True)
def test_artifacts(session: nox.Session) -> None:
    """What ships runs: each function's real bundle and layers, on python3.13, on the local AWS.

    Builds the bundles and the x86_64 layers (cached by lock hash), unpacks them as Lambda does
    and runs every handler in an isolated 3.13 interpreter against a moto server; prints sizes.
    """
    _sync(session, "--package", "qip-platform")
    _pytest(session, ARTIFACTS_DIR)


@nox.session(name="test-system", reuse_venv=True)
def test_system(session: nox.Session) -> None:
    """Whole-system tests: the design's properties, the corpus and the load test on moto."""
    _sync(session, "--package", "qip-local")
    _pytest(session, SYSTEM_DIR)


@nox.session(name="test-reliability", reuse_venv=True)
def test_reliability(session: nox.Session) -> None:
    """Faults, duplicates, hostile input and privacy on the local system, at 200 images."""
    _sync(session, "--package", "qip-platform")
    session.env.setdefault("QIP_RELIABILITY_IMAGES", "200")
    _pytest(session, RELIABILITY_DIR, SECURITY_DIR)


@nox.session(reuse_venv=True)
def reports(session: nox.Session) -> None:
    """Regenerate docs/reliability.md (a 200-image run) and docs/security.md from their checks.

    Tests never write them; `test_report_doc.py` and `test_docs_security_md_is_the_generated_report`
    check that the committed reports match what this session writes.
    """
    _sync(session, "--package", "qip-platform")
    session.env["QIP_RELIABILITY_IMAGES"] = "200"
    session.env["QIP_RELIABILITY_REPORT"] = str(ROOT / "docs" / "reliability.md")
    session.env["QIP_SECURITY_REPORT"] = str(ROOT / "docs" / "security.md")
    _pytest(session, RELIABILITY_DIR, SECURITY_DIR)


@nox.session(reuse_venv=True)
def fuzz(session: nox.Session) -> None:
    """Mutated corpus files through validate's core for a bounded time (QIP_FUZZ_SECONDS)."""
    _sync(session, "--package", "qip-validate")
    session.env.setdefault("QIP_FUZZ_SECONDS", "120")
    _pytest(session, FUZZ_DIR, "-s")


@nox.session(name="test-dashboard", reuse_venv=True)
def test_dashboard(session: nox.Session) -> None:
    """The live dashboard: app tests, and browser tests in Debian's headless Chromium.

    The browser tests skip, saying why, when /usr/bin/chromium is missing
    (`apt-get install -y chromium`; `.ci/run` installs it).
    """
    _sync(session, "--package", "qip-local")
    _pytest(session, DASHBOARD_DIR)


@nox.session(reuse_venv=True)
def bench(session: nox.Session) -> None:
    """Benchmarks: write docs/benchmarks.md and docs/benchmarks.png.

    `nox -s bench -- --quick --out /tmp/qip-bench-quick` is a smoke run of about a minute.
    sharp (the Node.js library the spec was written for) is installed here only, outside the repo.
    """
    _sync(session, "--all-packages", "--all-extras", "--group", "bench")
    session.run(
        "npm",
        "install",
        "--prefix",
        str(BENCH_CACHE / "sharp"),
        "--no-audit",
        "--no-fund",
        "sharp@0.35.5",
        external=True,
    )
    session.run(
        "python", "benchmarks/run.py", "--out", "docs", "--work", str(BENCH_CACHE), *session.posargs
    )


@nox.session(name="all", reuse_venv=True)
def all_(session: nox.Session) -> None:
    """Everything CI checks: lint, each package's tests (one process each), whole-system tests."""
    _sync(session, "--all-packages", "--all-extras")
    failed = []
    try:
        _lint(session)
    except nox.command.CommandFailed:
        failed.append("lint")
    try:
        session.run("python", VERSIONS_SCRIPT)
    except nox.command.CommandFailed:
        failed.append("versions")
    for name in PACKAGES:
        dirs = [d for d in _test_dirs(name) if (ROOT / d).exists()]
        if not dirs:
            continue
        session.log(f"==> {name}")
        try:
            session.run("pytest", *dirs, *session.posargs)
        except nox.command.CommandFailed:
            failed.append(name)
    # Reliability runs at its default size here (40 images, report untouched); the validate
    # suite above already ran the fuzz target for its default few seconds.
    suites = (
        ("system", SYSTEM_DIR),
        ("reliability", RELIABILITY_DIR),
        ("dashboard", DASHBOARD_DIR),
        ("artifacts", ARTIFACTS_DIR),
    )
    for name, directory in suites:
        if not (ROOT / directory).exists():
            continue
        session.log(f"==> {name}")
        try:
            session.run("pytest", directory, *session.posargs)
        except nox.command.CommandFailed:
            failed.append(name)
    if failed:
        session.error(f"tests failed in: {', '.join(failed)}")
