"""Run the whole system locally on moto: no AWS account, no Docker.

`LocalRuntime` starts the embedded AWS (in-process or as a server), provisions the stack's
resources and the state machine, and runs the handlers through the Lambda shim; `LocalClient`
uploads through the real path and watches records.
"""

from qip_local.client import LocalClient, Outcome, UploadRefusedError
from qip_local.provision import Resources, provision, state_machine_definition
from qip_local.runtime import LocalConfig, LocalRuntime
from qip_local.shim import FunctionRegistry, lambda_shim, scaled_retry_sleeps

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
