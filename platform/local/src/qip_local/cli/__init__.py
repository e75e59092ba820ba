"""`qip`: run the whole pipeline locally on moto, and look inside it.

Every command prints one clear line on error (exit code 2), never a traceback. `app` (the console
script `qip`) is assembled here: one module per command group registers its commands on it.
"""

import importlib

from qip_local.cli.common import app

# Registered on `app` in this order, the order `qip --help` lists them.
COMMAND_MODULES = ("process", "serve", "records", "dead_letters", "recipes", "synth")
for _module in COMMAND_MODULES:
    importlib.import_module(f"{__name__}.{_module}")

__all__ = ["app"]
