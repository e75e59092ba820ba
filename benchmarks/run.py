"""Run every QIP benchmark side by side and write docs/benchmarks.md and docs/benchmarks.png.

    python benchmarks/run.py --out docs/            # the full run (< 10 minutes on 2 cores)
    python benchmarks/run.py --quick --out /tmp/b   # a smoke run (< 1 minute)

Inputs are generated (photo-like, deterministic) into a cache folder outside the repo
(`--work`, default ~/.cache/qip-bench); sharp is used when installed under `--sharp-prefix`
(`npm install --prefix ~/.cache/qip-bench/sharp sharp@0.35.5`), pyvips when it imports.
Every figure is measured in this run; the raw results go to `<work>/results.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import artifact_coldstart  # noqa: E402
import coldstart  # noqa: E402 - the sibling modules, after the path tweak above
import command_race  # noqa: E402
import cost  # noqa: E402
import findings  # noqa: E402
import imagegen  # noqa: E402
import pipeline_bench  # noqa: E402
import render_bench  # noqa: E402
import report  # noqa: E402
import sizes  # noqa: E402
import stages  # noqa: E402
import throughput  # noqa: E402


def log(message: str) -> None:
    """Progress on stderr (stdout stays clean)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _command_output(*command: str) -> str | None:
    if shutil.which(command[0]) is None:
        return None
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    return done.stdout.strip() or None


def machine_info() -> dict[str, Any]:
    """CPU, cores, memory, OS, load, and the versions of everything measured."""
    from PIL import features  # noqa: PLC0415

    cpu = "unknown"
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as info:
        mem_kib = int(info.readline().split()[1])
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "os": f"{platform.system()} {platform.release()}",
        "load_at_start": os.getloadavg(),
        "python": platform.python_version(),
        "pillow": _version("pillow"),
        "libjpeg": features.version("jpg"),
        "libjpeg_turbo": bool(features.check_feature("libjpeg_turbo")),
        "libwebp": features.version("webp"),
        "moto": _version("moto"),
        "boto3": _version("boto3"),
        "aws_lambda_powertools": _version("aws-lambda-powertools"),
        "pydantic": _version("pydantic"),
        "node": _command_output("node", "--version"),
        "git_commit": _command_output("git", "-C", str(REPO), "rev-parse", "--short", "HEAD"),
    }


def _pipeline_part(mode: str, list_file: Path, work: Path) -> dict[str, Any]:
    """One mode of `pipeline_bench.py` in its own process (its logs go to a file)."""
    result_file = work / f"pipeline-{mode}.json"
    log_file = work / f"pipeline-{mode}.log"
    command = [
        sys.executable,
        str(HERE / "pipeline_bench.py"),
        str(list_file),
        str(result_file),
        mode,
    ]
    with log_file.open("w") as output:
        done = subprocess.run(command, stdout=output, stderr=subprocess.STDOUT, check=False)  # noqa: S603
    if done.returncode != 0:
        tail = log_file.read_text()[-2000:]
        raise RuntimeError(f"pipeline benchmark ({mode}) failed (log {log_file}):\n{tail}")
    raw: dict[str, Any] = json.loads(result_file.read_text())
    return raw


def run_pipeline(files: list[Path], work: Path, *, only_targets: bool = False) -> dict[str, Any]:
    """The pipeline as `qip process` runs it and a naive script, side by side; then where the
    time goes (instrumented, in-process), unless `only_targets`."""
    list_file = work / "pipeline-files.json"
    list_file.write_text(json.dumps([str(f) for f in files]))
    cli = _pipeline_part("cli", list_file, work)
    naive = _pipeline_part("naive", list_file, work)
    summary: dict[str, Any] = {}
    if not only_targets:
        summary = pipeline_bench.summarise(_pipeline_part("instrumented", list_file, work))
    summary["cli"] = cli
    summary["naive"] = naive
    return summary


def _handler_modules() -> dict[str, str]:
    from qip_pipeline.names import ALL_SERVICES  # noqa: PLC0415

    modules = {"boto3 alone": "boto3"}
    modules.update({s: f"qip_{s.replace('-', '_')}.handler" for s in ALL_SERVICES})
    return modules


def run_coldstart(*, quick: bool, cache: Path) -> dict[str, Any]:
    """Import times per handler, and what each imports that it should not."""
    from qip_platform.versions import needs_pillow  # noqa: PLC0415

    conditions = ("bytecode",) if quick else ("source", "bytecode")
    # Quick: one timed import per module, from the run's own (already warm) bytecode cache.
    results = coldstart.measure_imports(
        _handler_modules(),
        repeat=1 if quick else 2,
        conditions=conditions,
        warm=not quick,
        cache=cache if quick else None,
    )
    for name, entry in results.items():
        if name != "boto3 alone":
            entry["flagged"] = coldstart.flag_imports(name, entry["imported"], needs_pillow(name))
        entry.pop("imported", None)
    measured: dict[str, Any] = results
    return measured


def run_cost(
    stage_results: dict[str, Any], pipeline: dict[str, Any] | None, batch_case: imagegen.Case
) -> dict[str, Any]:
    """The cost model fed with this run's 12 MP core times and the pipeline's call counts."""
    from qip_pipeline.names import ALL_SERVICES  # noqa: PLC0415

    measured = stage_results.get("jpeg-12mp") or stage_results.get("jpeg-1mp", {})
    core_seconds = {
        stage: measured[stage]["best_cpu_seconds"]
        for stage in ("validate", "metadata", "resize", "thumbnail")
        if stage in measured
    }
    calls: dict[str, dict[str, float]] = {}
    if pipeline is not None:
        calls = {
            caller: ops
            for caller, ops in pipeline["calls_per_image"].items()
            if caller.startswith("handler:") or caller == "moto"
        }
    resized = measured.get("resize", {})
    output_bytes = int(resized.get("output_bytes", 250_000))
    modelled: dict[str, Any] = cost.model(
        core_seconds=core_seconds,
        calls_per_image=calls,
        memory_mb=cost.memory_sizes(REPO / "services", ALL_SERVICES),
        image_bytes=batch_case.bytes,
        output_bytes=output_bytes,
    )
    return modelled


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs", help="report folder")
    parser.add_argument("--quick", action="store_true", help="smoke run: small, < 1 minute")
    parser.add_argument("--work", type=Path, default=Path.home() / ".cache" / "qip-bench")
    parser.add_argument("--sharp-prefix", type=Path, default=None, help="npm prefix of sharp")
    parser.add_argument("--images", type=int, default=None, help="throughput batch size")
    parser.add_argument("--pipeline-images", type=int, default=None)
    parser.add_argument("--distinct", type=int, default=None, help="distinct files in the batch")
    parser.add_argument("--race-images", type=int, default=None, help="files in the command race")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--from-results", type=Path, default=None, help="only re-render a results.json"
    )
    parser.add_argument(
        "--pipeline-only",
        action="store_true",
        help="only the local pipeline's targets (qip process's runtime vs a naive script)",
    )
    parser.add_argument(
        "--nox-all-seconds",
        type=float,
        default=None,
        help="wall time of `nox -s all` measured on this machine, for the targets table",
    )
    parser.add_argument("--skip", default="", help="comma list: stages,throughput,pipeline,"
                        "coldstart,artifacts,sizes,encoders")  # fmt: skip
    args = parser.parse_args(argv)
    if args.from_results is not None:
        stored = json.loads(args.from_results.read_text())
        report.write(stored, args.out, findings.findings(stored))
        return 0
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    if args.pipeline_only:
        skip |= {"stages", "coldstart", "sizes", "encoders"}
    quick = args.quick
    started = time.perf_counter()
    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    sharp_prefix = args.sharp_prefix or work / "sharp"
    images = args.images or (12 if quick else 200)
    pipeline_images = args.pipeline_images or (3 if quick else 100)
    distinct = args.distinct or (4 if quick else 40)
    batch_size = (1152, 864) if quick else (4000, 3000)
    repeat = 1 if quick else 5

    # Children (measurements, workers, the pipeline) reuse compiled bytecode from a private
    # cache outside the repo; the cold-start probe sets its own conditions.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    info = machine_info()
    results: dict[str, Any] = {"machine": info, "quick": quick, "skipped": sorted(skip)}
    if args.nox_all_seconds is not None:
        results["nox_all_seconds"] = args.nox_all_seconds
    log("generating inputs (cached in %s)" % (work / "images"))
    cases = imagegen.stage_cases(work / "images", quick=quick)
    batch_cases = imagegen.batch(work / "images", batch_size, distinct)
    files = [batch_cases[i % len(batch_cases)].path for i in range(images)]
    results["inputs"] = {
        "cases": [c.to_json() for c in cases],
        "batch": {
            "size": batch_size,
            "distinct": len(batch_cases),
            "images": images,
            "mean_bytes": statistics.mean(c.bytes for c in batch_cases),
        },
    }

    if "stages" not in skip:
        log(f"per-stage: {len(cases)} inputs x {len(stages.STAGE_WORKLOADS)} workloads")
        results["stages"] = stages.measure_stages(cases, repeat=repeat)

    if "render" not in skip:
        log("render-ready record: analysis cost, duplicate rates, focal point")
        results["render"] = render_bench.measure(cases, REPO / "corpus", quick=quick)

    if "throughput" not in skip:
        contenders: dict[str, Any] = {}
        log(f"throughput: {images} images, {args.workers} workers")
        for name in ("cores",) if args.pipeline_only else ("floor", "cores"):
            contenders[name] = throughput.python_throughput(name, files, workers=args.workers)
        if args.pipeline_only:
            pass  # the cores alone: the yardstick of the pipeline's CPU-time target
        elif throughput.sharp_module_dir(sharp_prefix) is not None:
            try:
                contenders["sharp"] = throughput.sharp_throughput(
                    sharp_prefix, files, in_flight=args.workers
                )
            except RuntimeError as err:
                contenders["sharp"] = {"error": str(err)[:300]}
        else:
            contenders["sharp"] = {"error": f"sharp is not installed under {sharp_prefix}"}
        vips = throughput.pyvips_available()
        if args.pipeline_only:
            pass
        elif vips is not None:
            try:
                contenders["pyvips"] = throughput.python_throughput(
                    "pyvips", files, workers=args.workers
                )
                contenders["pyvips"]["version"] = vips
            except Exception as err:  # an optional contender must not sink the whole run
                contenders["pyvips"] = {"error": f"pyvips failed: {err}"[:300]}
        else:
            contenders["pyvips"] = {"error": "pyvips is not installed (bench dependency group)"}
        results["throughput"] = contenders

    pipeline: dict[str, Any] | None = None
    if "pipeline" not in skip:
        log(f"local pipeline: {pipeline_images} images")
        pipeline_files = [batch_cases[i % len(batch_cases)].path for i in range(pipeline_images)]
        pipeline = run_pipeline(pipeline_files, work, only_targets=args.pipeline_only)
        results["pipeline"] = pipeline
        race_files = [c.path for c in batch_cases[: args.race_images or (3 if quick else 24)]]
        log(f"issue 16's done-when: `qip process` vs a naive script on {len(race_files)} files")
        results["command_race"] = command_race.race(race_files, rounds=1 if quick else 3)

    if "coldstart" not in skip:
        log("cold start: import times")
        results["coldstart"] = run_coldstart(quick=quick, cache=work / "pycache")

    if "artifacts" not in skip:
        log("cold start on the real artifacts: python3.13 over each unpacked bundle and layers")
        from qip_pipeline.names import ALL_SERVICES  # noqa: PLC0415

        results["artifact_coldstart"] = artifact_coldstart.measure(
            ALL_SERVICES, work, repeat=2 if quick else 5
        )

    if "encoders" not in skip:
        stage_files = [c.path for c in batch_cases[: 2 if quick else 20]]
        log(f"encoders at matched SSIM; resize with the richest recipe ({len(stage_files)} images)")
        import encoders  # noqa: PLC0415 - needs numpy (the bench dependency group)

        results["encoders"] = encoders.measure(stage_files, quick=quick)

    if "sizes" not in skip:
        log("deployment sizes")
        from qip_pipeline.names import ALL_SERVICES  # noqa: PLC0415

        results["sizes"] = sizes.measure_sizes(ALL_SERVICES, work / "layers", "arm64")

    if "stages" not in skip:
        results["cost"] = run_cost(results["stages"], pipeline, batch_cases[0])

    info["load_at_end"] = os.getloadavg()
    info["versions_extra"] = {
        "sharp": results.get("throughput", {}).get("sharp", {}).get("sharp"),
        "libvips (sharp)": results.get("throughput", {}).get("sharp", {}).get("libvips"),
        "pyvips": results.get("throughput", {}).get("pyvips", {}).get("version"),
    }
    results["run_seconds"] = time.perf_counter() - started
    (work / "results.json").write_text(json.dumps(results, indent=1, default=str))
    args.out.mkdir(parents=True, exist_ok=True)
    report.write(results, args.out, findings.findings(results))
    log(f"done in {results['run_seconds']:.0f} s: {args.out / 'benchmarks.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
