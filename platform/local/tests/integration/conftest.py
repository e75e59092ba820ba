"""Fixtures of the platform's local-runtime tests."""

from __future__ import annotations

import importlib
import sys

# pytest's importlib mode registers the repository's `platform/` folder as the module
# `platform` (the parent of these test modules), shadowing the standard library module that
# botocore reads at import; put the standard one back before anything imports botocore.
if getattr(sys.modules.get("platform"), "__file__", None) is None:
    _folder = sys.modules.pop("platform")
    importlib.import_module("platform")
