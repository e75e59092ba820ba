"""Per-stage measurements: every workload on every input, each in a fresh subprocess."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from imagegen import Case

HERE = Path(__file__).resolve().parent
STAGE_WORKLOADS = (
    "validate",
    "metadata",
    "resize",
    "thumbnail",
    "naive_resize",
    "naive_thumbnail",
    "full_decode",
    "floor",
)


def run_measure(workload: str, path: Path, repeat: int) -> dict[str, Any]:
    """One measurement in a new interpreter (so the peak memory is this workload's alone)."""
    command = [
        sys.executable,
        str(HERE / "measure.py"),
        workload,
        str(path),
        "--repeat",
        str(repeat),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise RuntimeError(f"{workload} on {path.name} failed:\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["median_seconds"] = statistics.median(result["seconds"])
    # The best run is the one least disturbed by other load on a shared machine.
    result["best_seconds"] = min(result["seconds"])
    result["best_cpu_seconds"] = min(result["cpu_seconds"])
    return result


def measure_stages(cases: list[Case], *, repeat: int) -> dict[str, dict[str, dict[str, Any]]]:
    """case name -> workload -> measurement."""
    results: dict[str, dict[str, dict[str, Any]]] = {}
    for case in cases:
        results[case.name] = {
            workload: run_measure(workload, case.path, repeat) for workload in STAGE_WORKLOADS
        }
    return results
