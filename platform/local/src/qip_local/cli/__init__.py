"""`qip`: run the whole pipeline locally on moto, and look inside it.

Every command prints one clear line on error (exit code 2), never a traceback. `app` (the console
script `qip`) is assembled here: one module per command group registers its commands on it.
"""

import atexit
import importlib
import logging
import os
import sys

from qip_local.cli.common import app

# Registered on `app` in this order, the order `qip --help` lists them.
COMMAND_MODULES = ("process", "serve", "records", "dead_letters", "recipes", "synth")
for _module in COMMAND_MODULES:
    importlib.import_module(f"{__name__}.{_module}")

__all__ = ["app", "main"]


def main() -> None:
    """The `qip` console script: run the app, then leave without tearing the heap down.

    Every command has stopped what it started by the time it returns; what remains is the
    interpreter's teardown, which takes seconds after `qip serve` (moto's objects, freed one
    by one). Exit handlers still run; an exception still ends the normal way, with its traceback.
    """
    try:
        app()
    except SystemExit as leaving:
        code = leaving.code
    else:
        code = 0
    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    atexit._run_exitfuncs()  # what a normal exit runs first (jsii stops its node process, ...)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)
