"""Measure one workload on one file in this (fresh) process: time and peak resident memory.

    python benchmarks/measure.py <workload> <file> [--repeat N]

Prints one JSON object. Peak memory is the growth of the process's resident high-water mark
(`VmHWM`, which sees Pillow's C allocations that tracemalloc does not) over the first run,
measured from the resident size just before it; the first run is therefore cold, and the
timing is taken from the runs after it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from workloads import WORKLOADS


def _status_kib(field: str) -> int:
    """A `/proc/self/status` memory field in KiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where the kernel refuses."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        return False
    return True


def measure(workload: str, path: Path, repeat: int) -> dict[str, object]:
    """Run `workload` on the file once cold (memory), then `repeat` times warm (time)."""
    run = WORKLOADS[workload]
    data = path.read_bytes()
    reset = _reset_peak()
    before = _status_kib("VmRSS")
    baseline_hwm = _status_kib("VmHWM")
    started = time.perf_counter()
    output = run(data)
    cold = time.perf_counter() - started
    peak = _status_kib("VmHWM")
    # Without the reset, the high-water mark of the imports is the floor we can see above.
    grown = peak - (before if reset else max(before, baseline_hwm))
    seconds, cpu_seconds = [], []
    for _ in range(repeat):
        started, cpu = time.perf_counter(), time.process_time()
        run(data)
        seconds.append(time.perf_counter() - started)
        cpu_seconds.append(time.process_time() - cpu)
    encoded = getattr(output, "data", output)
    return {
        "workload": workload,
        "output_bytes": len(encoded) if isinstance(encoded, bytes) else None,
        "file": str(path),
        "cold_seconds": cold,
        "seconds": seconds or [cold],
        "cpu_seconds": cpu_seconds or [cold],
        "rss_before_kib": before,
        "peak_kib": peak,
        "peak_growth_kib": max(0, grown),
        "peak_reset": reset,
    }


def main() -> int:
    """Command line (one measurement, JSON on stdout)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("workload", choices=sorted(WORKLOADS))
    parser.add_argument("file", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(measure(args.workload, args.file, args.repeat)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
