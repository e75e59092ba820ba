"""Run the whole system locally on moto: no AWS account, no Docker.

`LocalRuntime` starts the embedded AWS (in-process or as a server), provisions the stack's
resources and the state machine, and runs the handlers through the Lambda shim; `LocalClient`
uploads through the real path and watches records.

The names below are imported on first use (PEP 562): importing the package, as `qip` and the
embedded AWS's process do before anything else, loads neither boto3 nor moto.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qip_local.client import LocalClient, Outcome, UploadRefusedError
    from qip_local.provision import Resources, provision, state_machine_definition
    from qip_local.runtime import LocalConfig, LocalRuntime
    from qip_local.shim import FunctionRegistry, lambda_shim, scaled_retry_sleeps

# Each public name and the module it comes from.
_EXPORTS = {
    "FunctionRegistry": "qip_local.shim",
    "LocalClient": "qip_local.client",
    "LocalConfig": "qip_local.runtime",
    "LocalRuntime": "qip_local.runtime",
    "Outcome": "qip_local.client",
    "Resources": "qip_local.provision",
    "UploadRefusedError": "qip_local.client",
    "lambda_shim": "qip_local.shim",
    "provision": "qip_local.provision",
    "scaled_retry_sleeps": "qip_local.shim",
    "state_machine_definition": "qip_local.provision",
}

__all__ = [
    "FunctionRegistry",
    "LocalClient",
    "LocalConfig",
    "LocalRuntime",
    "Outcome",
    "Resources",
    "UploadRefusedError",
    "lambda_shim",
    "provision",
    "scaled_retry_sleeps",
    "state_machine_definition",
]


def __getattr__(name: str) -> Any:
    """Import a public name's module when the name is first asked for."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
