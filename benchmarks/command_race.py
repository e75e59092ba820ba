"""Issue 16's "done when": `qip process` on N photo-like 12 MP JPEGs, start-up included, against a
naive one-process Pillow script on the same files, both run as the commands a user types.

    python benchmarks/command_race.py <dir-of-jpegs> [rounds]    # prints the result as JSON

Each round runs both commands in fresh interpreters, one after the other (alternating which goes
first), and times them from spawn to exit: interpreter start, imports, the embedded AWS's start-up
and provisioning, every upload, the pipeline, the copies of the outputs, and shutdown, against
the script's imports, full decodes, both outputs with LANCZOS and its writes. The medians are
compared; CPU (user + system of the command and its children) is reported beside them.
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

# The naive script, as its own file would read (run with `python -c`, the file list in argv).
NAIVE_SCRIPT = """
import sys
from pathlib import Path
from PIL import Image, ImageOps

out = Path(sys.argv[1])
for name in sys.argv[2:]:
    image = ImageOps.exif_transpose(Image.open(name))
    image = image.convert("RGB")
    display = image.copy()
    display.thumbnail((1024, 768), Image.Resampling.LANCZOS)
    display.save(out / (Path(name).stem + "-display.jpg"), quality=85)
    thumb = ImageOps.fit(image, (200, 200), Image.Resampling.LANCZOS)
    thumb.save(out / (Path(name).stem + "-thumb.jpg"), quality=85)
"""


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(command: list[str]) -> tuple[float, float, str]:
    """Wall and CPU seconds of one command (with its children), and its stdout."""
    cpu_before, begin = _children_cpu(), time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603 - our own argv
    wall = time.perf_counter() - begin
    if done.returncode != 0:
        raise RuntimeError(f"{command[:4]} exited {done.returncode}: {done.stderr[-600:]}")
    return wall, _children_cpu() - cpu_before, done.stdout


def _qip(files: list[Path], out: Path) -> list[str]:
    return [sys.executable, "-m", "qip_local.cli", "process", *map(str, files), "--out", str(out),
            "--json"]  # fmt: skip


def _naive(files: list[Path], out: Path) -> list[str]:
    return [sys.executable, "-c", NAIVE_SCRIPT, str(out), *map(str, files)]


def race(files: list[Path], rounds: int = 3) -> dict[str, Any]:
    """Both commands `rounds` times, alternating; medians, CPU, and whether qip completed all."""
    walls: dict[str, list[float]] = {"qip": [], "naive": []}
    cpus: dict[str, list[float]] = {"qip": [], "naive": []}
    statuses: list[str] = []
    for index in range(rounds):
        order = ("qip", "naive") if index % 2 == 0 else ("naive", "qip")
        for name in order:
            with tempfile.TemporaryDirectory(prefix=f"qip-race-{name}-") as out:
                command = _qip(files, Path(out)) if name == "qip" else _naive(files, Path(out))
                wall, cpu, stdout = _timed(command)
                if name == "qip":
                    statuses = [entry["status"] for entry in json.loads(stdout)]
                elif len(list(Path(out).iterdir())) != 2 * len(files):
                    raise RuntimeError("the naive script did not write both outputs per file")
            walls[name].append(wall)
            cpus[name].append(cpu)
    qip_wall, naive_wall = statistics.median(walls["qip"]), statistics.median(walls["naive"])
    return {
        "images": len(files),
        "rounds": rounds,
        "qip_wall_seconds": walls["qip"],
        "naive_wall_seconds": walls["naive"],
        "qip_cpu_seconds": cpus["qip"],
        "naive_cpu_seconds": cpus["naive"],
        "qip_completed": statuses.count("COMPLETED"),
        "ratio": naive_wall / qip_wall,
    }


def main() -> int:
    """Command line: a folder of JPEGs (all of them are raced), optional number of rounds."""
    files = sorted(Path(sys.argv[1]).glob("*.jpg"))
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    print(json.dumps(race(files, rounds)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
