"""The `qip` app with every command registered on it (one module per command group)."""

import importlib

from qip_local.cli.common import app

# Registered on `app` in this order, the order `qip --help` lists them.
COMMAND_MODULES = ("process", "serve", "records", "dead_letters", "recipes", "synth")
for _module in COMMAND_MODULES:
    importlib.import_module(f"qip_local.cli.{_module}")

__all__ = ["COMMAND_MODULES", "app"]
