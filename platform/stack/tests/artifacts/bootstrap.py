"""Lambda's Python bootstrap in miniature, run as `python3.13 -I -S -B bootstrap.py <spec.json>`.

Standard library only. Isolated mode ignores PYTHONPATH and `-S` skips site-packages, so the
import path is set here, as Lambda's own bootstrap sets it: the function's code, the layers, the
interpreter's standard library, then the runtime's boto3. Imports the handler, invokes it once
with the spec's event and a Lambda-like context, and writes the answer as JSON to the spec's
`result` file; the handler's stdout (its logs) is left alone, as on Lambda.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
import traceback
import uuid
from pathlib import Path
from typing import Any


class LambdaContext:
    """The context attributes Lambda passes and powertools reads."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.function_name = spec["function_name"]
        self.function_version = "$LATEST"
        self.invoked_function_arn = spec["function_arn"]
        self.memory_limit_in_mb = spec["memory_mb"]
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "2026/12/06/[$LATEST]artifacts"
        self._deadline = time.monotonic() + spec["timeout_seconds"]

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds before the function's timeout."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def main() -> int:
    """Set the path, import, invoke, write the answer."""
    spec = json.loads(Path(sys.argv[1]).read_text())
    # Under -I -S, sys.path is this script's directory followed by the standard library only.
    stdlib = sys.path[1:]
    sys.path[:] = [*spec["task_path"], *stdlib, *spec["runtime_path"]]
    answer: dict[str, Any] = {}
    module_name, _, attribute = spec["handler"].rpartition(".")
    started = time.perf_counter()
    try:
        handler = getattr(importlib.import_module(module_name), attribute)
        answer["initMs"] = (time.perf_counter() - started) * 1000
        invoked = time.perf_counter()
        result = handler(spec["event"], LambdaContext(spec))
        answer["invokeMs"] = (time.perf_counter() - invoked) * 1000
        answer.update(ok=True, result=result)
    except Exception as exc:  # reported as Lambda reports an unhandled error
        answer.update(
            ok=False,
            errorType=type(exc).__name__,
            errorMessage=str(exc),
            stackTrace=traceback.format_exc(),
        )
    sys.stdout.flush()
    answer["sysPath"] = sys.path
    # This script itself is `__main__` (and `__mp_main__` once multiprocessing is imported).
    modules = [m for n, m in list(sys.modules.items()) if n not in ("__main__", "__mp_main__")]
    answer["modules"] = sorted({str(getattr(m, "__file__", None)) for m in modules} - {"None"})
    answer["version"] = list(sys.version_info[:3])
    Path(spec["result"]).write_text(json.dumps(answer, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
