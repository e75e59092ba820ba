"""`qip`: run the whole pipeline locally on moto, and look inside it.

Every command prints one clear line on error (exit code 2), never a traceback. `app` (the console
script `qip`) is assembled in `qip_local.cli.commands`: one module per command group registers
its commands on it. This module imports nothing heavy: `main` first starts the embedded AWS's
process when the command will need one (`qip_local.launcher`), then imports the app.
"""

from __future__ import annotations

import atexit
import importlib
import logging
import os
import sys
from typing import Any

from qip_local import launcher

__all__ = ["app", "main"]


def __getattr__(name: str) -> Any:
    """`app` and the command modules, all registered on it, on first use."""
    commands = importlib.import_module("qip_local.cli.commands")
    if name == "app":
        return commands.app
    if name in commands.COMMAND_MODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    """The `qip` console script: run the app, then leave without tearing the heap down.

    A local `qip process` starts the embedded AWS's process before anything else, so its
    start-up overlaps this one's imports; a process the command did not use is stopped.
    Every command has stopped what it started by the time it returns; what remains is the
    interpreter's teardown, which takes seconds after `qip serve` (moto's objects, freed one
    by one). Exit handlers still run; an exception still ends the normal way, with its traceback.
    """
    launcher.prestart(sys.argv[1:])
    try:
        importlib.import_module("qip_local.cli.commands").app()
    except SystemExit as leaving:
        code = leaving.code
    else:
        code = 0
    finally:
        launcher.stop_unused()
    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    atexit._run_exitfuncs()  # what a normal exit runs first (jsii stops its node process, ...)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)
