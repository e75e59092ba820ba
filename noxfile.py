"""Sessions for the QIP workspace.

Per-package sessions are generated from PACKAGES (one loop, not nine copies): each installs only
what its package needs with `uv sync --locked --package <name>` and runs only its tests.
`nox -s all` runs the whole suite (lint, every package, the whole-system tests) in one
environment: it is the README's test command and what CI runs.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from dataclasses import dataclass
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
# The whole-system suites `nox -s all` runs after the packages' own tests.
SYSTEM_SUITES = (
    ("system", SYSTEM_DIR),
    ("reliability", RELIABILITY_DIR),
    ("dashboard", DASHBOARD_DIR),
    ("artifacts", ARTIFACTS_DIR),
)
# Wall seconds of each suite on the 2-core machine, one suite at a time (pytest's own figures of
# the last serial green run, mypy cold as in a fresh clone): the lanes start the longest first,
# so that they end close together. A suite missing here starts last.
SUITE_SECONDS: dict[str, float] = {
    "system": 254,
    "local": 123,
    "reliability": 73,
    "mypy": 65,
    "platform": 39,
    "validate": 20,
    "trigger": 17,
    "artifacts": 16,
    "dashboard": 16,
    "shared": 12,
    "images-api": 12,
    "metadata": 11,
    "archive": 10,
    "thumbnail": 8,
    "resize": 7,
    "sweeper": 6,
    "upload-url": 5,
    "lint": 4,
    "pipeline": 1,
    "versions": 1,
}
# pytest's closing line, e.g. "== 1 failed, 8 passed, 2 warnings in 254.35s (0:04:14) ==".
PYTEST_SUMMARY = re.compile(r"^=* ?(\d+ \w+(?:, \d+ \w+)*) in [0-9.]+s\b", re.MULTILINE)


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
    for command in (*_lint_commands(), _mypy_command()):
        session.run(*command)


def _lint_commands() -> tuple[tuple[str, ...], ...]:
    """The size check, ruff (lint + format) and actionlint, in that order."""
    return (
        ("python", SIZES_SCRIPT),
        ("ruff", "check", "."),
        ("ruff", "format", "--check", "."),
        ("actionlint", ".github/workflows/ci.yml"),
    )


def _mypy_command() -> tuple[str, ...]:
    """mypy over every package's sources (strict on shared/ and every core.py)."""
    sources = ["shared/src", *sorted(str(p) for p in ROOT.glob("services/*/src"))]
    sources += sorted(str(p) for p in ROOT.glob("platform/*/src"))
    return ("mypy", *sources)


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
    """Everything CI checks: lint, versions, each package's tests and the whole-system suites.

    Each suite runs as its own process (one pytest per package, as before); `lanes` of them run
    at a time (default: one per core, `QIP_LANES` overrides), the longest measured first. Each
    suite's output is printed whole when it ends, then a table of every suite's outcome.
    """
    _sync(session, "--all-packages", "--all-extras")
    lanes = int(os.environ.get("QIP_LANES") or os.cpu_count() or 1)
    outcomes = _run_in_lanes(session, _all_suites(session.posargs), lanes)
    _print_outcomes(session, outcomes)
    failed = [o.suite.name for o in outcomes if o.returncode != 0]
    if failed:
        session.error(f"tests failed in: {', '.join(failed)}")


@dataclass(frozen=True)
class Suite:
    """One independent check of `nox -s all`: its commands run in order, stopping at a failure."""

    name: str
    commands: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Outcome:
    """How a suite ended: the first non-zero exit code (0: passed), wall and CPU seconds, output."""

    suite: Suite
    returncode: int
    seconds: float
    cpu_seconds: float
    output: str


def _all_suites(posargs: list[str]) -> list[Suite]:
    """Every suite of `nox -s all`, the longest (by SUITE_SECONDS) first."""
    suites = [
        Suite("lint", _lint_commands()),
        Suite("mypy", (_mypy_command(),)),
        Suite("versions", (("python", VERSIONS_SCRIPT),)),
    ]
    tests = [(name, _test_dirs(name)) for name in PACKAGES]
    # Reliability runs at its default size here (40 images, report untouched); the validate
    # suite already runs the fuzz target for its default few seconds.
    tests += [(name, (directory,)) for name, directory in SYSTEM_SUITES]
    for name, dirs in tests:
        existing = tuple(d for d in dirs if (ROOT / d).exists())
        if existing:
            suites.append(Suite(name, (("pytest", *existing, *posargs),)))
    return sorted(suites, key=lambda suite: -SUITE_SECONDS.get(suite.name, 0.0))


def _run_in_lanes(session: nox.Session, suites: list[Suite], lanes: int) -> list[Outcome]:
    """Run the suites, `lanes` at a time, each lane taking the next suite when one ends."""
    pending = list(suites)
    outcomes: list[Outcome] = []
    lock = threading.Lock()
    env = _command_env(session)
    logs = Path(session.virtualenv.location) / "suite-logs"
    logs.mkdir(exist_ok=True)

    def lane() -> None:
        while True:
            with lock:
                if not pending:
                    return
                suite = pending.pop(0)
                session.log(f"--> {suite.name} started")
            try:
                outcome = _run_suite(suite, env, logs / f"{suite.name}.log")
            except Exception as error:  # reported as the suite's failure, as any other
                outcome = Outcome(suite, 1, 0.0, 0.0, f"the suite could not run: {error!r}\n")
            with lock:
                outcomes.append(outcome)
                _print_suite(session, outcome)

    threads = [threading.Thread(target=lane, daemon=True) for _ in range(max(1, lanes))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def _command_env(session: nox.Session) -> dict[str, str]:
    """The environment `session.run` gives a command: the session's variables, its bin first."""
    env = dict(os.environ)
    for name, value in session.env.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    env["PATH"] = os.pathsep.join([session.bin, env.get("PATH", "")])
    env["VIRTUAL_ENV"] = session.virtualenv.location
    return env


def _run_suite(suite: Suite, env: dict[str, str], log: Path) -> Outcome:
    """Run a suite's commands in order into its log; stop at the first that fails."""
    started = time.monotonic()
    returncode, cpu = 0, 0.0
    with log.open("w") as out:
        for command in suite.commands:
            out.write(f"$ {' '.join(command)}\n")
            out.flush()
            try:
                process = subprocess.Popen(
                    command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
                )
            except OSError as error:  # not installed, not executable: the suite fails, says why
                out.write(f"{command[0]}: {error}\n")
                returncode = 127
                break
            # wait4: the exit status and the CPU seconds of the command and what it waited for.
            _pid, status, usage = os.wait4(process.pid, 0)
            returncode = process.returncode = os.waitstatus_to_exitcode(status)
            cpu += usage.ru_utime + usage.ru_stime
            if returncode != 0:
                break
    return Outcome(suite, returncode, time.monotonic() - started, cpu, log.read_text())


def _print_suite(session: nox.Session, outcome: Outcome) -> None:
    """One suite's whole output between two marker lines."""
    session.log(f"==> {outcome.suite.name}")
    print(outcome.output, end="" if outcome.output.endswith("\n") else "\n", flush=True)
    state = "passed" if outcome.returncode == 0 else f"FAILED (exit {outcome.returncode})"
    session.log(f"<== {outcome.suite.name} {state} in {outcome.seconds:.0f} s")


def _print_outcomes(session: nox.Session, outcomes: list[Outcome]) -> None:
    """A table (each suite's outcome, wall and CPU seconds, pytest counts), then the totals."""
    session.log(f"{'suite':<12} {'outcome':<7} {'wall s':>6} {'cpu s':>6}  tests")
    totals = {"passed": 0, "failed": 0, "skipped": 0}
    for outcome in sorted(outcomes, key=lambda o: -o.seconds):
        state = "passed" if outcome.returncode == 0 else "FAILED"
        summary = PYTEST_SUMMARY.findall(outcome.output)
        counts = summary[-1] if summary else ""
        for number, kind in re.findall(r"(\d+) (\w+)", counts):
            # A test whose setup or teardown failed counts as failed.
            counted = "failed" if kind in ("error", "errors") else kind
            if counted in totals:
                totals[counted] += int(number)
        session.log(
            f"{outcome.suite.name:<12} {state:<7} {outcome.seconds:>6.0f} "
            f"{outcome.cpu_seconds:>6.0f}  {counts}"
        )
    skipped = f", {totals['skipped']} skipped" if totals["skipped"] else ""
    print(f"tests: {totals['passed']} passed, {totals['failed']} failed{skipped}", flush=True)
