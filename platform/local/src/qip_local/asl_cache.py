"""moto's parsed Step Functions programs, cached by the definition (in memory and on disk)."""

# moto is imported only when the cache is used (it is slow to import).
# ruff: noqa: PLC0415

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def _fix_heap_keys(root: Any) -> None:
    """Give every component of a parsed program its heap key now (moto draws it lazily)."""
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent

    seen: set[int] = set()
    pending: list[Any] = [root]
    while pending:
        value = pending.pop()
        if id(value) in seen:
            continue
        seen.add(id(value))
        if isinstance(value, dict):
            pending.extend(value.values())
        elif isinstance(value, list | tuple | set | frozenset):
            pending.extend(value)
        elif hasattr(value, "__dict__") and type(value).__module__.startswith("moto."):
            if isinstance(value, EvalComponent):
                _ = value.heap_key
            pending.extend(vars(value).values())


# Bumped when what a cached program holds changes (its pickles then no longer match).
PROGRAM_FORMAT = 1
# Parsed definitions kept on disk (the newest; each test's names make another definition).
PROGRAMS_KEPT = 64


def program_cache_directory() -> Path:
    """Where parsed definitions are kept between runs: the user's cache, per moto and Python."""
    import moto

    cache = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    version = f"moto-{moto.__version__}-py{sys.version_info[0]}.{sys.version_info[1]}"
    return Path(cache) / "qip" / "asl" / f"{version}-{PROGRAM_FORMAT}"


class ParsedPrograms:
    """moto's parsed Step Functions programs by the definition's SHA-256, in memory and on disk.

    Parsing (moto's ANTLR grammar) costs ~0.45 s of CPU per definition; a program is a tree of
    declarations that evaluation never changes (see `cached_state_machine_programs`), so one
    parse serves every create and execution, and its pickle (~30 kB) serves the next run. Only
    a definition that parsed is ever stored, so a definition found here is a valid one.
    """

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory
        self.parsed = 0  # definitions this instance had to parse (neither in memory nor on disk)
        self._programs: dict[str, Any] = {}
        self._lock = threading.Lock()

    def program(self, definition: str) -> Any:
        """The parsed program of `definition`; a definition that does not parse raises."""
        digest = hashlib.sha256(definition.encode("utf-8")).hexdigest()
        # One parse per definition, even when executions start at once.
        with self._lock:
            program = self._programs.get(digest)
            if program is None:
                program = self._load(digest)
            if program is None:
                program = self._parse(definition)
                self._store(digest, program)
            self._programs[digest] = program
            return program

    def _parse(self, definition: str) -> Any:
        from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

        program = AmazonStateLanguageParser.parse(definition)[0]
        _fix_heap_keys(program)
        self.parsed += 1
        return program

    def _path(self, digest: str) -> Path | None:
        return self.directory / f"{digest}.pickle" if self.directory is not None else None

    def _load(self, digest: str) -> Any:
        path = self._path(digest)
        if path is None:
            return None
        try:
            return pickle.loads(path.read_bytes())  # noqa: S301 - our own cache, written below
        except FileNotFoundError:
            return None
        except Exception:  # a torn or stale file: parse again and overwrite it
            return None

    def _store(self, digest: str, program: Any) -> None:
        path = self._path(digest)
        if path is None:
            return
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            data = pickle.dumps(program, protocol=pickle.HIGHEST_PROTOCOL)
            temporary = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
            temporary.write_bytes(data)
            os.replace(temporary, path)  # readers see the whole file or none
            self._prune()
        except (OSError, pickle.PicklingError, RecursionError, TypeError):
            return  # the cache is an optimisation: without it every run parses

    def _prune(self) -> None:
        assert self.directory is not None
        stored = sorted(self.directory.glob("*.pickle"), key=lambda p: p.stat().st_mtime)
        for old in stored[:-PROGRAMS_KEPT]:
            with contextlib.suppress(OSError):
                old.unlink()


# The programs of this process; on disk unless QIP_ASL_CACHE is "0".
PROGRAMS_ENV = "QIP_ASL_CACHE"
_programs: dict[str, ParsedPrograms] = {}


def parsed_programs() -> ParsedPrograms:
    """This process's `ParsedPrograms` (on disk under `program_cache_directory()`)."""
    use_disk = os.environ.get(PROGRAMS_ENV, "1") != "0"
    key = str(program_cache_directory()) if use_disk else ""
    if key not in _programs:
        _programs[key] = ParsedPrograms(Path(key) if use_disk else None)
    return _programs[key]


@contextlib.contextmanager
def cached_state_machine_programs(programs: ParsedPrograms | None = None) -> Iterator[None]:
    """Let moto's Step Functions parse each definition once: at create, not on every execution.

    The parsed program is a tree of declarations: evaluating it keeps every per-execution
    value in the execution's `Environment` (its frames, heap, variables and history), and no
    component assigns to itself while evaluating except `heap_key`, a random name it draws on
    first use to index that heap (retry counters). Drawn lazily, two executions starting at
    once could draw two names; each cached program therefore draws all of them up front.

    CreateStateMachine still validates: a definition not in the cache is parsed, and one that
    does not parse is refused by moto's own validation, with moto's own error.
    """
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    cache = programs or parsed_programs()
    original_entrypoint = ExecutionWorker._get_evaluation_entrypoint
    original_validate = StepFunctionsParserBackend.__dict__["_validate_definition"]

    def entrypoint(worker: Any) -> Any:
        return cache.program(worker._evaluation_details.state_machine_details.definition)

    def validate(definition: str) -> None:
        try:
            cache.program(definition)
        except Exception:
            original_validate.__func__(definition)  # raises moto's InvalidDefinition
            raise

    ExecutionWorker._get_evaluation_entrypoint = entrypoint  # type: ignore[method-assign,assignment]
    StepFunctionsParserBackend._validate_definition = staticmethod(validate)  # type: ignore[method-assign]
    try:
        yield
    finally:
        ExecutionWorker._get_evaluation_entrypoint = original_entrypoint  # type: ignore[method-assign]
        StepFunctionsParserBackend._validate_definition = original_validate  # type: ignore[method-assign]
