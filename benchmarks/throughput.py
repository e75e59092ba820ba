"""Throughput over a batch of files: our cores and the floor in worker processes, sharp, pyvips.

Every contender gets the same file list and the same parallelism (two images in flight, one
per core), reads each file from disk itself, and produces the same outputs (a 1024x768-fit
JPEG and a 200x200 centre-crop JPEG, after checking the header).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from workloads import WORKLOADS

HERE = Path(__file__).resolve().parent
SHARP_SCRIPT = HERE / "sharp_bench.cjs"

_workload_name = ""


def _init_worker(name: str) -> None:
    global _workload_name  # noqa: PLW0603 - one workload per pool process
    _workload_name = name


def _run_file(path: str) -> tuple[float, float]:
    started, cpu = time.perf_counter(), time.process_time()
    WORKLOADS[_workload_name](Path(path).read_bytes())
    return time.perf_counter() - started, time.process_time() - cpu


def python_throughput(name: str, files: list[Path], *, workers: int) -> dict[str, Any]:
    """Images/s of a workload over `files` in `workers` processes (pool warmed up first)."""
    # fork: the workers inherit the imports, like warm Lambda containers.
    context = multiprocessing.get_context("fork")
    with context.Pool(workers, initializer=_init_worker, initargs=(name,)) as pool:
        # Warm-up: one image per worker, so lazy imports and plugin loading are not timed.
        pool.map(_run_file, [str(files[0])] * workers, chunksize=1)
        started = time.perf_counter()
        per_image = pool.map(_run_file, [str(f) for f in files], chunksize=1)
        elapsed = time.perf_counter() - started
    return {
        "name": name,
        "images": len(files),
        "workers": workers,
        "seconds": elapsed,
        "images_per_second": len(files) / elapsed,
        "mean_image_seconds": sum(w for w, _ in per_image) / len(per_image),
        "cpu_per_image": sum(c for _, c in per_image) / len(per_image),
    }


def pyvips_available() -> str | None:
    """The libvips version when pyvips imports, else None."""
    try:
        import pyvips  # noqa: PLC0415 - optional
    except (ImportError, OSError):
        return None
    libvips = ".".join(str(pyvips.version(i)) for i in range(3))
    return f"pyvips {pyvips.__version__}, libvips {libvips}"


def sharp_module_dir(prefix: Path) -> Path | None:
    """The installed sharp package under an npm `--prefix`, or None."""
    candidate = prefix / "node_modules" / "sharp"
    return candidate if (candidate / "package.json").is_file() else None


def sharp_throughput(prefix: Path, files: list[Path], *, in_flight: int) -> dict[str, Any]:
    """Images/s of sharp in one Node process with `in_flight` images at a time."""
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is not on PATH")
    list_file = files[0].parent / "sharp-files.json"
    list_file.write_text(json.dumps([str(f) for f in files]))
    command = [node, str(SHARP_SCRIPT), str(prefix), str(list_file), str(in_flight)]
    env = {**os.environ, "UV_THREADPOOL_SIZE": str(max(4, in_flight))}
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)  # noqa: S603
    if done.returncode != 0:
        raise RuntimeError(f"sharp benchmark failed:\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["name"] = "sharp"
    result["images_per_second"] = result["images"] / result["seconds"]
    result["cpu_per_image"] = result["cpu_seconds"] / result["images"]
    return result
