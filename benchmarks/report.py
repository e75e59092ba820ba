"""Write the results of one run as `benchmarks.md` (tables, findings) and `benchmarks.png`.

The chart is drawn with Pillow's ImageDraw (no plotting dependency). Every section copes with
a missing part (skipped, or not installed) and says so rather than inventing a figure.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import render_bench
from PIL import Image, ImageDraw, ImageFont

MiB = 1024 * 1024
# Per-stage time: the process's CPU time (user + sys), best of the warm runs. The workloads are
# single-threaded, so on an idle machine this is their wall time; on a shared one it leaves out
# the time other processes held the core (the wall times are in results.json).
TIME = "best_cpu_seconds"
STAGES = ("validate", "metadata", "resize", "thumbnail")


# -- targets ------------------------------------------------------------------------------------
def _median(results: dict[str, Any], case: str, workload: str) -> float | None:
    found = results.get("stages", {}).get(case, {}).get(workload)
    return None if found is None else float(found[TIME])


def _peak(results: dict[str, Any], case: str, workload: str) -> float | None:
    found = results.get("stages", {}).get(case, {}).get(workload)
    return None if found is None else float(found["peak_growth_kib"]) * 1024


def _ips(results: dict[str, Any], name: str) -> float | None:
    found = results.get("throughput", {}).get(name, {})
    value = found.get("images_per_second")
    return None if value is None else float(value)


def _cpu(results: dict[str, Any], name: str) -> float | None:
    value = results.get("throughput", {}).get(name, {}).get("cpu_per_image")
    return None if value is None else float(value)


# Handler import / `import boto3` on the real artifacts, for the functions that decode no images.
COLD_START_GOAL = 1.3


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of the issue: what was measured, the ratio, the goal, met or not."""
    rows: list[dict[str, Any]] = []

    def add(
        name: str,
        measured: str,
        ratio: float | None,
        goal: str,
        met: bool | None,
        *,
        cpu_ratio: float | None = None,
    ) -> None:
        rows.append(
            {
                "target": name,
                "measured": measured,
                "ratio": ratio,
                "goal": goal,
                "met": met,
                "cpu_ratio": cpu_ratio,
            }
        )

    measured = results.get("stages", {})
    mid = "jpeg-12mp" if "jpeg-12mp" in measured else "jpeg-1mp"
    big = "jpeg-24mp" if "jpeg-24mp" in measured else mid
    ours = [_median(results, mid, w) for w in ("resize", "thumbnail")]
    naive = [_median(results, mid, w) for w in ("naive_resize", "naive_thumbnail")]
    if None not in ours and None not in naive:
        o, n = sum(ours), sum(naive)  # type: ignore[arg-type]
        add(
            f"resize + thumbnail, {mid.split('-')[1].upper()} JPEG: faster than naive",
            f"{o * 1000:.0f} ms vs {n * 1000:.0f} ms",
            n / o,
            ">= 4x",
            n / o >= 4,
        )
    ours_mem = [_peak(results, big, w) for w in ("resize", "thumbnail")]
    naive_mem = [_peak(results, big, w) for w in ("naive_resize", "naive_thumbnail")]
    ours_peak = [m for m in ours_mem if m is not None]
    naive_peak = [m for m in naive_mem if m is not None]
    if len(ours_peak) == 2 and len(naive_peak) == 2:
        peak_ours, peak_naive = max(ours_peak), max(naive_peak)
        add(
            f"peak memory, {big.split('-')[1].upper()} JPEG (resize or thumbnail, worst)",
            f"{peak_ours / MiB:.0f} MiB vs {peak_naive / MiB:.0f} MiB",
            peak_ours / peak_naive if peak_naive else None,
            "<= 1/3 (0.33)",
            (peak_ours / peak_naive) <= 1 / 3 if peak_naive else None,
        )
    checks = [_median(results, big, w) for w in ("validate", "metadata")]
    decode = _median(results, big, "full_decode")
    if None not in checks and decode:
        c = sum(checks)  # type: ignore[arg-type]
        add(
            f"validate + metadata, {big.split('-')[1].upper()} JPEG, vs one full decode",
            f"{c * 1000:.0f} ms vs {decode * 1000:.0f} ms",
            c / decode,
            "< 1/10 (0.10)",
            c / decode < 0.1,
        )
    cores, sharp, floor = _ips(results, "cores"), _ips(results, "sharp"), _ips(results, "floor")
    cores_cpu, sharp_cpu, floor_cpu = (_cpu(results, n) for n in ("cores", "sharp", "floor"))
    if cores is not None and sharp is not None:
        add(
            "throughput of the four cores vs sharp",
            f"{cores:.2f} vs {sharp:.2f} images/s",
            cores / sharp,
            ">= 1",
            # Judged on CPU time when measured: wall ratios compare moments of different load.
            (sharp_cpu / cores_cpu >= 1) if sharp_cpu and cores_cpu else cores >= sharp,
            cpu_ratio=sharp_cpu / cores_cpu if sharp_cpu and cores_cpu else None,
        )
    if cores is not None and floor is not None:
        add(
            "throughput of the four cores vs the floor (one reduced decode)",
            f"{cores:.2f} vs {floor:.2f} images/s",
            cores / floor,
            "(ceiling, for scale)",
            None,
            cpu_ratio=floor_cpu / cores_cpu if floor_cpu and cores_cpu else None,
        )
    pipeline = results.get("pipeline") or {}
    _pipeline_targets(add, pipeline, cores, cores_cpu)
    _race_target(add, results.get("command_race"))
    nox_all = results.get("nox_all_seconds")
    add(
        "`nox -s all` on this machine",
        f"{nox_all / 60:.1f} min" if nox_all else "not measured in this run (`--nox-all-seconds`)",
        None,
        "<= 8 min",
        nox_all <= 8 * 60 if nox_all else None,
    )
    _artifact_target(add, results.get("artifact_coldstart", {}).get("functions", {}))
    return rows


def _race_target(add: Any, race: dict[str, Any] | None) -> None:
    """Issue 16's done-when: the `qip process` command against a naive script's, start-up in."""
    if not race:
        return
    qip, naive = (
        statistics.median(race["qip_wall_seconds"]),
        statistics.median(race["naive_wall_seconds"]),
    )
    add(
        f"`qip process` on {race['images']} 12 MP JPEGs vs a naive Pillow script, both as "
        f"commands (start-up included; {race['qip_completed']} COMPLETED)",
        f"{qip:.1f} s vs {naive:.1f} s (median of {race['rounds']})",
        naive / qip,
        ">= 1",
        naive / qip >= 1 and race["qip_completed"] == race["images"],
    )


def _artifact_target(add: Any, functions: dict[str, Any]) -> None:
    """Cold start of the handlers that decode no images, from their artifacts, vs boto3."""
    plain = {name: e for name, e in functions.items() if not e["image"]}
    if not plain:
        return
    worst_name, worst = max(plain.items(), key=lambda kv: kv[1]["ratio"])
    add(
        "cold start, non-image handlers from their artifacts vs `import boto3` (worst)",
        f"{worst_name}: {worst['xray_on']['cpu'] * 1000:.0f} vs "
        f"{worst['boto3']['cpu'] * 1000:.0f} ms CPU",
        worst["ratio"],
        "<= 1.3x",
        worst["ratio"] <= COLD_START_GOAL,
    )


def _pipeline_targets(
    add: Any, pipeline: dict[str, Any], cores: float | None, cores_cpu: float | None
) -> None:
    """The local pipeline's targets, from the run of `qip process`'s runtime (`cli`)."""
    cli, naive = pipeline.get("cli"), pipeline.get("naive")
    if not cli:
        return
    ips, cpu = float(cli["images_per_second"]), cli.get("cpu_per_image")
    if cores:
        add(
            "local pipeline throughput (`qip process`) vs the four cores'",
            f"{ips:.2f} vs {cores:.2f} images/s",
            ips / cores,
            ">= 1/2 (0.50), CPU time",
            (cores_cpu / cpu >= 0.5) if cores_cpu and cpu else ips / cores >= 0.5,
            cpu_ratio=cores_cpu / cpu if cores_cpu and cpu else None,
        )
    if naive:
        naive_ips = float(naive["images_per_second"])
        with_startup = naive["wall_seconds"] / (cli["wall_seconds"] + cli["startup_seconds"])
        add(
            "local pipeline throughput vs a naive one-process Pillow script",
            f"{ips:.2f} vs {naive_ips:.2f} images/s ({with_startup:.2f}x with start-up)",
            ips / naive_ips,
            ">= 1",
            ips / naive_ips >= 1,
            cpu_ratio=naive["cpu_per_image"] / cpu if cpu else None,
        )
    latency = cli.get("single_latency_median")
    if latency is not None:
        image = cli.get("single_image", "image")
        add(
            "median single-image latency (upload to COMPLETED seen), idle runtime",
            f"{latency:.2f} s ({len(cli['single_latencies'])} x {image})",
            None,
            "<= 0.4 s",
            latency <= 0.4,
        )
    add(
        "runtime start-up (moto up and provisioned, as `qip process`)",
        f"{cli['startup_seconds']:.2f} s"
        + (f" ({cli['startup_cpu_seconds']:.2f} s CPU)" if "startup_cpu_seconds" in cli else ""),
        None,
        "<= 1.5 s",
        cli["startup_seconds"] <= 1.5,
    )


# -- markdown -----------------------------------------------------------------------------------
def _fmt_ratio(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.2f}" if value < 10 else f"{value:.0f}"


def _met(value: bool | None) -> str:
    return {True: "**met**", False: "**not met**", None: "-"}[value]


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return [*lines, ""]


def _machine(results: dict[str, Any]) -> list[str]:
    m = results["machine"]
    extra = m.get("versions_extra", {})
    load = " / ".join(
        f"{name} {', '.join(f'{x:.1f}' for x in m[key])}"
        for name, key in (("start", "load_at_start"), ("end", "load_at_end"))
        if m.get(key)
    )
    jpeg = f"libjpeg-turbo {m['libjpeg']}" if m.get("libjpeg_turbo") else f"libjpeg {m['libjpeg']}"
    versions = [
        f"Python {m['python']}",
        f"Pillow {m['pillow']} ({jpeg}, libwebp {m.get('libwebp')})",
        f"moto {m['moto']}",
        f"boto3 {m['boto3']}",
        f"powertools {m['aws_lambda_powertools']}",
        f"pydantic {m['pydantic']}",
        f"Node.js {m.get('node') or 'absent'}",
        f"sharp {extra.get('sharp') or 'absent'} (libvips {extra.get('libvips (sharp)') or '-'})",
        f"pyvips: {extra.get('pyvips') or 'not installed'}",
    ]
    return [
        f"Measured {m['date']} on {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, "
        f"{m['os']}; commit {m.get('git_commit')}; "
        f"{'**quick smoke run** (small inputs, not representative); ' if results['quick'] else ''}"
        f"whole run {results.get('run_seconds', 0):.0f} s.",
        "",
        f"Versions: {'; '.join(versions)}.",
        "",
        f"Load average (1/5/15 min) {load}: the machine is shared, so every figure is a ratio of "
        "contenders measured in the same run, one after the other.",
        "",
    ]


def _stage_section(results: dict[str, Any]) -> list[str]:
    stages = results.get("stages")
    if not stages:
        return ["## Per stage", "", "Skipped in this run.", ""]
    cases = {c["name"]: c for c in results["inputs"]["cases"]}
    lines = [
        "## Per stage: time and peak memory against the naive reference",
        "",
        "Each cell: one fresh process per workload and input. Time is the process's CPU time "
        "(user + sys) for the workload, best of the warm runs after a cold one: every workload "
        "here is single-threaded, so on an idle machine that is its wall time, and on this "
        "shared machine it leaves out the time other sessions held the core (wall times are "
        "in results.json); peak memory is the growth of the process's resident "
        "high-water mark (`VmHWM`, which sees Pillow's C buffers) over the cold run, from the "
        "resident size just before it. *naive* = open, full decode, `exif_transpose`, LANCZOS, "
        "save (same JPEG settings as the cores); *floor* = one decode at the scale resize needs.",
        "",
    ]
    header = ["input", "size"]
    workloads = [
        "validate",
        "metadata",
        "resize",
        "thumbnail",
        "naive_resize",
        "naive_thumbnail",
        "full_decode",
        "floor",
    ]
    rows = []
    for name, per in stages.items():
        case = cases.get(name, {})
        size = f"{case.get('width')}x{case.get('height')}, {case.get('bytes', 0) / 1e6:.1f} MB"
        cells = [name, size]
        for w in workloads:
            found = per.get(w)
            cells.append(
                "-"
                if found is None
                else f"{found[TIME] * 1000:.0f} ms / {found['peak_growth_kib'] / 1024:.0f} MiB"
            )
        rows.append(cells)
    lines += _table(header + workloads, rows)
    ratio_rows = []
    for name, per in stages.items():
        if not all(w in per for w in ("resize", "thumbnail", "naive_resize", "naive_thumbnail")):
            continue
        speed_r = per["naive_resize"][TIME] / per["resize"][TIME]
        speed_t = per["naive_thumbnail"][TIME] / per["thumbnail"][TIME]
        mem_r = per["resize"]["peak_growth_kib"] / max(1, per["naive_resize"]["peak_growth_kib"])
        mem_t = per["thumbnail"]["peak_growth_kib"] / max(
            1, per["naive_thumbnail"]["peak_growth_kib"]
        )
        checks = per["validate"][TIME] + per["metadata"][TIME]
        ratio_rows.append(
            [
                name,
                f"{speed_r:.1f}x",
                f"{speed_t:.1f}x",
                f"{mem_r:.2f}",
                f"{mem_t:.2f}",
                f"{checks / per['full_decode'][TIME]:.2f}",
            ]
        )
    lines += [
        "Ratios (same run): speed-up = naive time / core time; memory = core peak / naive peak.",
        "",
    ]
    lines += _table(
        [
            "input",
            "resize speed-up",
            "thumbnail speed-up",
            "resize memory",
            "thumbnail memory",
            "(validate + metadata) / full decode",
        ],
        ratio_rows,
    )
    return lines


def _throughput_section(results: dict[str, Any]) -> list[str]:
    contenders = results.get("throughput")
    if not contenders:
        return ["## Throughput", "", "Skipped in this run.", ""]
    batch = results["inputs"]["batch"]
    w, h = batch["size"]
    lines = [
        "## Throughput: the four cores vs the floor, sharp and pyvips",
        "",
        f"{batch['images']} JPEGs of {w}x{h} ({w * h / 1e6:.0f} MP, mean "
        f"{batch['mean_bytes'] / 1e6:.1f} MB; {batch['distinct']} distinct generated files, "
        "cycled), the same list for every contender, two images in flight (one per core), "
        "each file read from disk by the contender. *cores* = validate, metadata, resize, "
        "thumbnail from the bytes each, as four Lambdas do (three decodes: 1/8 grey, the resize "
        "scale, the thumbnail scale) in 2 worker processes; *floor* = one decode at the resize "
        "scale and nothing else, same pool; *sharp* = one Node process, `metadata()` then one "
        "shrink-on-load decode to the 1024x768 box, both JPEGs derived from those pixels; "
        "*pyvips* = the same recipe in 2 worker processes.",
        "",
    ]
    rows = []
    cores = _ips(results, "cores")
    for name in ("floor", "cores", "sharp", "pyvips"):
        found = contenders.get(name)
        if found is None:
            continue  # not run (e.g. `--pipeline-only` runs the cores alone)
        if "error" in found:
            rows.append([name, "-", "-", "-", "-", found["error"]])
            continue
        ips = float(found["images_per_second"])
        rows.append(
            [
                name,
                f"{ips:.2f}",
                f"{found['seconds']:.1f} s",
                _fmt_ratio(ips / cores) if cores else "-",
                f"{found['cpu_per_image']:.3f}" if "cpu_per_image" in found else "-",
                found.get("version")
                or (
                    f"sharp {found['sharp']}, libvips {found['libvips']}"
                    if "sharp" in found
                    else ""
                ),
            ]
        )
    lines += _table(
        ["contender", "images/s", "batch time", "vs cores", "CPU s per image", "notes"], rows
    )
    return lines


def _cli_section(p: dict[str, Any]) -> list[str]:
    cli, naive = p.get("cli"), p.get("naive")
    if not cli:
        return []
    rows = [
        ["images completed", f"{cli['completed']}/{cli['images']} ({', '.join(cli['statuses'])})"],
        [
            "start-up (child process: imports, moto, provisioning)",
            f"{cli['startup_seconds']:.2f} s",
        ],
        ["batch: first upload to last completion seen", f"{cli['wall_seconds']:.1f} s"],
        ["throughput", f"{cli['images_per_second']:.2f} images/s"],
        ["CPU per image (both processes)", f"{cli['cpu_per_image'] * 1000:.0f} ms"],
        ["CPU / wall during the batch", f"{cli['cpu_utilisation']:.2f} cores"],
        ["latency p50 in the batch (queueing included)", f"{cli['latency_p50_batch']:.1f} s"],
        [
            "single images on the idle runtime (upload to COMPLETED seen)",
            ", ".join(f"{x:.2f}" for x in cli["single_latencies"])
            + f" s ({cli.get('single_image', 'image')})",
        ],
    ]
    if cli.get("single_latencies_batch_files"):
        rows.append(
            [
                "single images on the idle runtime, the batch's own files",
                ", ".join(f"{x:.2f}" for x in cli["single_latencies_batch_files"]) + " s",
            ]
        )
    if naive:
        rows += [
            ["naive one-process Pillow script, same files", f"{naive['wall_seconds']:.1f} s"],
            ["naive script throughput", f"{naive['images_per_second']:.2f} images/s"],
            ["naive script CPU per image", f"{naive['cpu_per_image'] * 1000:.0f} ms"],
        ]
    return [
        "## Whole local pipeline, as `qip process` runs it",
        "",
        "`LocalRuntime(separate_process=True)`: moto, its Step Functions, the handlers and the SQS "
        "poller in a child process (in-process moto there, no HTTP between them); this process "
        "uploads through upload-url and the presigned POST and watches the records while "
        "uploading. Beside it, in the same run and on the same files, a naive one-process Pillow "
        "script (open, full decode, `exif_transpose`, both outputs with LANCZOS, save).",
        "",
        *_table(["figure", "value"], rows),
    ]


def _pipeline_section(results: dict[str, Any]) -> list[str]:
    p = results.get("pipeline")
    if not p:
        return ["## Whole local pipeline", "", "Skipped in this run.", ""]
    lines = _cli_section(p)
    if "calls_per_image" not in p:
        return lines
    cores = _ips(results, "cores")
    lines += [
        "## Where the local pipeline's time goes (instrumented, in-process)",
        "",
        f"{p['images']} images of the batch above uploaded through upload-url and the presigned "
        f"POST, then S3 -> EventBridge -> SQS -> trigger -> Step Functions -> the five stages, "
        f"in one process (`LocalRuntime(server=False)`: what the child of `qip process` runs), "
        "with every handler, core and AWS call timed from outside. "
        f"Completed: {p['completed']}/{p['images']} ({', '.join(p['statuses'])}).",
        "",
        *_table(
            ["figure", "value"],
            [
                [
                    "throughput (first upload to last completion)",
                    f"{p['images_per_second']:.2f} images/s",
                ],
                [
                    "vs the cores' throughput (same run)",
                    _fmt_ratio(p["images_per_second"] / cores) if cores else "-",
                ],
                [
                    "latency p50 / p95 (upload start to completion seen)",
                    f"{p['latency_p50']:.1f} s / {p['latency_p95']:.1f} s",
                ],
                [
                    "runtime start-up (moto server, provisioning; not counted)",
                    f"{p['startup_seconds']:.1f} s",
                ],
                [
                    "process CPU / wall during the run",
                    f"{p['cpu_utilisation']:.2f} cores of {results['machine']['cores']}",
                ],
                [
                    "process CPU per image (all threads: emulation, runtime, handlers)",
                    f"{p.get('cpu_per_image', 0) * 1000:.0f} ms",
                ],
                [
                    "core compute per image: wall / CPU (in threads)",
                    f"{p['core_wall_per_image'] * 1000:.0f} ms / "
                    f"{p['core_cpu_per_image'] * 1000:.0f} ms",
                ],
                [
                    "emulated AWS calls per image: in handlers / all",
                    f"{p['handler_calls_per_image']:.0f} / {p['all_calls_per_image']:.0f}",
                ],
            ],
        ),
        "Where an image's time goes, thread-seconds per image (threads overlap, so these add up "
        "to more than the wall time; this is the work the one process has to fit on its cores):",
        "",
    ]
    breakdown = p["thread_seconds_per_image"]
    total = sum(breakdown.values())
    lines += _table(
        ["part", "s per image", "share"],
        [
            [name, f"{seconds:.3f}", f"{seconds / total:.0%}" if total else "-"]
            for name, seconds in sorted(breakdown.items(), key=lambda kv: -kv[1])
        ],
    )
    lines += [
        "The critical path of one image (mean over completed images; includes queueing behind "
        "the other images):",
        "",
    ]
    lines += _table(
        ["segment", "mean s"], [[name, f"{s:.2f}"] for name, s in p["critical_path"].items()]
    )
    idle = p.get("idle_call_ms", {})
    loaded = p.get("loaded_call_ms", {})
    rows = []
    for name, ms in idle.items():
        op = name.split(" (")[0]
        rows.append([name, f"{ms:.1f}", f"{loaded[op]:.0f}" if op in loaded else "-"])
    lines += [
        "moto's own cost per call (same process, over HTTP, measured on the idle runtime right "
        "after the run) against the mean seen by the handlers during the run:",
        "",
        *_table(["call", "idle ms", "during the run ms"], rows),
    ]
    counts = p["calls_per_image"]
    rows = [
        [
            caller,
            f"{sum(ops.values()):.1f}",
            ", ".join(f"{k} {v:g}" for k, v in sorted(ops.items())),
        ]
        for caller, ops in sorted(counts.items())
    ]
    lines += [
        "Emulated AWS calls per image, by caller:",
        "",
        *_table(["caller", "calls", "which"], rows),
    ]
    return lines


def _coldstart_section(results: dict[str, Any]) -> list[str]:
    c = results.get("coldstart")
    if not c:
        return ["## Cold start proxy", "", "Skipped in this run.", ""]
    boto = c.get("boto3 alone", {})
    lines = [
        "## Cold start proxy: import time of each handler module",
        "",
        "`python -X importtime -c 'import <module>'`, best of the runs, in a fresh interpreter. "
        "*source*: no bytecode anywhere (every module compiled at import: what the deployed "
        "bundles and layers give today, since neither ships `.pyc`); *bytecode*: a warm "
        "`.pyc` cache (outside the repo). Ratio = handler / `import boto3` in the same condition.",
        "",
    ]
    rows = []
    for name, entry in c.items():
        heavy = ", ".join(
            f"{k} {v * 1000:.0f}" for k, v in list(entry.get("packages", {}).items())[:5]
        )
        rows.append(
            [
                name,
                f"{entry['source'] * 1000:.0f} ms" if "source" in entry else "-",
                f"{entry['source'] / boto['source']:.1f}" if "source" in boto else "-",
                f"{entry['bytecode'] * 1000:.0f} ms",
                f"{entry['bytecode'] / boto['bytecode']:.1f}" if boto else "-",
                ", ".join(entry.get("flagged", [])) or "none",
                heavy,
            ]
        )
    lines += _table(
        [
            "module",
            "source",
            "x boto3",
            "bytecode",
            "x boto3",
            "imports it should not",
            "heaviest packages (self ms, bytecode)",
        ],
        rows,
    )
    return lines


def _artifact_coldstart_section(results: dict[str, Any]) -> list[str]:
    a = results.get("artifact_coldstart")
    if not a:
        return ["## Cold start on the real artifacts", "", "Skipped in this run.", ""]
    lines = [
        "## Cold start on the real artifacts (python3.13)",
        "",
        "Each function's bundle and layers as built for deployment (x86_64 wheels, the arm64 "
        "pins; cpython-313 unchecked-hash bytecode), unpacked as Lambda lays them out and "
        "imported by `python3.13 -I -S -B` with Lambda's `sys.path` (boto3 from uv.lock in "
        f"`var/runtime`); best of {a['repeat']} fresh interpreters, CPU ms (wall ms). "
        "*init* = importing the handler module; *X-Ray off* = `POWERTOOLS_TRACE_DISABLED=true`; "
        "*source* = the same tree without `__pycache__`. Ratios: init (X-Ray on, as deployed) "
        "/ `import boto3` in the same interpreter; goal <= 1.3x for the non-image functions.",
        "",
    ]

    def ms(value: dict[str, float]) -> str:
        return f"{value['cpu'] * 1000:.0f} ({value['wall'] * 1000:.0f})"

    rows = [
        [
            name,
            ms(e["boto3"]),
            ms(e["xray_on"]),
            ms(e["xray_off"]),
            ms(e["source"]),
            f"{e['ratio']:.2f}",
            f"{e['ratio_xray_off']:.2f}",
            "-" if e["image"] else _met(e["ratio"] <= COLD_START_GOAL),
        ]
        for name, e in a["functions"].items()
    ]
    lines += _table(
        [
            "function",
            "import boto3",
            "init, X-Ray on",
            "init, X-Ray off",
            "init from source",
            "x boto3",
            "x boto3, X-Ray off",
            "<= 1.3x",
        ],
        rows,
    )
    return lines


def _sizes_section(results: dict[str, Any]) -> list[str]:
    s = results.get("sizes")
    if not s:
        return ["## Deployment size", "", "Skipped in this run.", ""]
    limits = s["limits"]
    lines = [
        "## Deployment size against the Lambda limits",
        "",
        f"Built with the platform's own `bundle_service` and `build_layer` ({s['architecture']}, "
        f"layers cached in `{s['layer_cache']}`). Limits: {limits['zipped_upload'] / MiB:.0f} MiB "
        f"zipped per upload, {limits['unzipped_total'] / MiB:.0f} MiB unzipped for a function "
        "and all its layers.",
        "",
    ]
    if s.get("layer_error"):
        lines += [f"Layers not measured: {s['layer_error']}", ""]
    rows = []
    for name, layer in s["layers"].items():
        rows.append(
            [
                f"layer `{name}`",
                f"{layer['unzipped'] / MiB:.1f} MiB",
                f"{layer['zipped'] / MiB:.1f} MiB",
                "-",
                "-",
            ]
        )
    for name, fn in s["functions"].items():
        rows.append(
            [
                f"function `{name}`",
                f"{fn['unzipped'] / 1024:.0f} KiB",
                f"{fn['zipped'] / 1024:.0f} KiB",
                f"{fn['total_unzipped'] / MiB:.1f} MiB (+{', '.join(fn['layers'])})",
                f"{fn['total_unzipped'] / limits['unzipped_total']:.0%}",
            ]
        )
    lines += _table(["package", "unzipped", "zipped", "with its layers", "of 250 MiB"], rows)
    return lines


def _cost_section(results: dict[str, Any]) -> list[str]:
    c = results.get("cost")
    if not c:
        return ["## Cost model", "", "Not computed in this run.", ""]
    lines = [
        "## Cost model per 1,000 images",
        "",
        "Lambda duration per function = measured single-core compute of the 12 MP JPEG "
        "(best time above) scaled by 1769 MB / memory below one full vCPU, + a fixed 10 ms, + the "
        "function's AWS calls per image (counted in the local run) at 12 ms each, + S3 bytes "
        "at 80 MB/s. Memory sizes are the constructs' defaults, arm64 prices, us-east-1, "
        "no free tier; the state machine is Express (the stack's default).",
        "",
    ]
    rows = [
        [
            f["service"],
            f"{f['memory_mb']} MB",
            f"{f['compute_seconds'] * 1000:.0f} ms",
            f"{f['io_seconds'] * 1000:.0f} ms",
            f"${f['dollars'] * 1000:.4f}",
        ]
        for f in c["functions"]
    ]
    lines += _table(["function", "memory", "compute", "AWS I/O", "$ per 1,000"], rows)
    rows = [[name, f"${value:.4f}"] for name, value in c["per_thousand"].items()]
    rows.append(["**total per 1,000 images**", f"**${c['per_thousand_total']:.3f}**"])
    lines += _table(["item", "$ per 1,000 images"], rows)
    lines += [
        "At the design's volume (1,000 images a day, 30 days): "
        f"**${c['monthly_at_design_volume']:.2f} a month** of requests and compute, beside "
        f"the design's ~${c['design_monthly']:.2f} "
        f"(which also counts $1.00 of data transfer and $0.50 of storage). Storage grows: "
        f"${c['storage_month_per_thousand']:.3f} per 1,000 stored images a month (upload + "
        f"archive copy + outputs), ${c['monthly_storage_after_one_month']:.2f} a month after "
        "the first month. A Standard workflow instead of Express would add "
        f"${c['standard_instead_per_thousand']:.3f} per 1,000 images (10 transitions each).",
        "",
    ]
    return lines


def _encoders_section(results: dict[str, Any]) -> list[str]:
    """Output formats at matched SSIM, the chosen settings, and resize with the richest recipe."""
    enc = results.get("encoders")
    if not enc:
        return []
    target = enc["target_ssim"]
    lines = [
        "## Output encoders at matched visual quality",
        "",
        f"{enc['images']} renders (display 1024x768 and thumbnail 200x200 of "
        f"{', '.join(enc['photos'])}, from the corpus) encoded from the same resampled pixels. "
        f"Target: the mean luma SSIM of JPEG q{enc['jpeg']['quality']}, {target:.4f}. The chosen "
        "quality is the lowest reaching it; AVIF's speed the fastest within "
        "3 % of the smallest output at that quality. Times: best of the runs, summed over "
        "the renders (CPU time, all threads).",
        "",
    ]
    chosen, shipped = enc["chosen"], enc["shipped_settings"]
    lines += _table(
        ["setting", "chosen by this run", "shipped (`qip_shared.imaging`)"],
        [
            ["WebP quality", chosen["webp_quality"], shipped["webp_quality"]],
            ["AVIF quality", chosen["avif_quality"], shipped["avif_quality"]],
            ["AVIF speed", chosen["avif_speed"], shipped["avif_speed"]],
        ],
    )
    jpeg_bytes = enc["shipped"]["jpeg"]["bytes"]
    rows = [
        [
            name,
            f"{row['ssim']:.4f}",
            f"{row['min_ssim']:.4f}",
            f"{row['bytes'] / 1024:.0f}",
            f"{row['bytes'] / jpeg_bytes:.2f}",
            f"{row['encode_ms']:.0f}",
        ]
        for name, row in enc["shipped"].items()
    ]
    lines += ["Shipped settings:", ""]
    lines += _table(
        ["format", "mean SSIM", "min SSIM", "KiB (all renders)", "bytes vs JPEG", "encode ms"],
        rows,
    )
    for title, key, label in (
        ("WebP quality sweep", "webp_sweep", "q"),
        ("AVIF quality sweep (speed 6)", "avif_sweep", "q"),
        (f"AVIF speed sweep (q{chosen['avif_quality']})", "avif_speeds", "speed"),
    ):
        sweep = enc.get(key) or {}
        if not sweep:
            continue
        lines += [f"{title}:", ""]
        lines += _table(
            [label, "mean SSIM", "KiB", "encode ms", "on target"],
            [
                [
                    setting,
                    f"{row['ssim']:.4f}",
                    f"{row['bytes'] / 1024:.0f}",
                    f"{row['encode_ms']:.0f}",
                    "yes" if row["ssim"] >= target else "no",
                ]
                for setting, row in sorted(sweep.items(), key=lambda item: int(item[0]))
            ],
        )
    stage = enc["resize_stage"]
    formats = "; ".join(
        f"{v['name']} {v['width']}x{v['height']} {v['fit']} ({', '.join(v['formats'])})"
        for v in stage["variants"]
    )
    lines += [
        f"Resize stage with the richest shipped recipe (`{stage['recipe']}`, version "
        f"{stage['recipe_version']}: {formats}), `render_resize` on {stage['images']} 12 MP "
        f"JPEGs one at a time, decoded once at {stage['decode_size_12mp'][0]}x"
        f"{stage['decode_size_12mp'][1]}:",
        "",
    ]
    lines += _table(
        ["p50 ms", "p95 ms", "max ms", "CPU p50 ms", "CPU p95 ms", "mean output KiB per variant"],
        [
            [
                f"{stage['p50_ms']:.0f}",
                f"{stage['p95_ms']:.0f}",
                f"{stage['max_ms']:.0f}",
                f"{stage['cpu_p50_ms']:.0f}",
                f"{stage['cpu_p95_ms']:.0f}",
                ", ".join(f"{k} {v / 1024:.0f}" for k, v in stage["mean_output_bytes"].items()),
            ]
        ],
    )
    return lines


def render_markdown(results: dict[str, Any], findings: Sequence[str] = ()) -> str:
    """The whole report as Markdown."""
    lines = ["# QIP benchmarks", "", "Generated by `nox -s bench` (`python benchmarks/run.py`)."]
    lines += ["Do not edit by hand: rerun.", ""]
    lines += _machine(results)
    lines += [
        "## Targets",
        "",
        "Per-stage figures are CPU times (see below). Throughput ratios are images/s of wall "
        "time, as asked, with the same ratio computed from CPU seconds per image beside them; "
        "the result is judged on the CPU-time ratio where there is one, because two wall-time "
        "runs made one after the other on a shared machine see different load (the load "
        "average is printed above), while CPU seconds per image do not depend on it.",
        "",
    ]
    rows = [
        [
            t["target"],
            t["measured"],
            _fmt_ratio(t["ratio"]),
            _fmt_ratio(t["cpu_ratio"]) if t.get("cpu_ratio") is not None else "-",
            t["goal"],
            _met(t["met"]),
        ]
        for t in targets(results)
    ]
    lines += _table(["target", "measured", "ratio", "CPU-time ratio", "goal", "result"], rows)
    lines += ["![benchmarks chart](benchmarks.png)", ""]
    if findings:
        lines += ["## Findings: gaps, causes, fixes", "", *findings, ""]
    lines += _stage_section(results)
    lines += _throughput_section(results)
    lines += _pipeline_section(results)
    lines += _coldstart_section(results)
    lines += _artifact_coldstart_section(results)
    lines += _sizes_section(results)
    lines += _cost_section(results)
    lines += _encoders_section(results)
    lines += render_bench.section(results)
    return "\n".join(lines).rstrip() + "\n"


# -- chart --------------------------------------------------------------------------------------
PALETTE = {"ours": (33, 102, 172), "ref": (214, 96, 77), "other": (120, 120, 120)}
STACK = [
    (33, 102, 172),
    (103, 169, 207),
    (209, 229, 240),
    (253, 219, 199),
    (239, 138, 98),
    (178, 24, 43),
    (90, 90, 90),
]


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (OSError, TypeError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _bars(
    draw: ImageDraw.ImageDraw,
    box: tuple[int, int, int, int],
    title: str,
    bars: Sequence[tuple[str, float, tuple[int, int, int]]],
    unit: str,
) -> None:
    """Horizontal bars with labels and values inside `box`."""
    left, top, right, bottom = box
    draw.text((left, top), title, fill="black", font=_font(20))
    if not bars:
        draw.text((left, top + 40), "not measured in this run", fill="gray", font=_font(16))
        return
    label_width = 230
    top += 40
    row = min(44, (bottom - top) // max(1, len(bars)))
    peak = max(value for _, value, _ in bars) or 1.0
    span = right - left - label_width - 110
    for i, (label, value, colour) in enumerate(bars):
        y = top + i * row
        draw.text((left, y + 6), label, fill="black", font=_font(15))
        length = max(1, int(span * value / peak))
        draw.rectangle(
            (left + label_width, y + 4, left + label_width + length, y + row - 8), fill=colour
        )
        draw.text(
            (left + label_width + length + 8, y + 6),
            f"{value:.3g} {unit}",
            fill="black",
            font=_font(15),
        )


def _stacked(
    draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], title: str, parts: dict[str, float]
) -> None:
    left, top, right, _bottom = box
    draw.text((left, top), title, fill="black", font=_font(20))
    if not parts:
        draw.text((left, top + 40), "not measured in this run", fill="gray", font=_font(16))
        return
    total = sum(parts.values()) or 1.0
    x = left
    width = right - left
    y0, y1 = top + 44, top + 94
    ordered = sorted(parts.items(), key=lambda kv: -kv[1])
    for i, (_name, value) in enumerate(ordered):
        w = int(width * value / total)
        draw.rectangle((x, y0, x + w, y1), fill=STACK[i % len(STACK)])
        x += w
    for i, (name, value) in enumerate(ordered):
        y = y1 + 14 + i * 26
        draw.rectangle((left, y + 3, left + 16, y + 19), fill=STACK[i % len(STACK)])
        draw.text(
            (left + 24, y),
            f"{name}: {value:.2f} s ({value / total:.0%})",
            fill="black",
            font=_font(15),
        )


def render_chart(results: dict[str, Any]) -> Image.Image:
    """Four panels: 12 MP time, big-JPEG memory, throughput, pipeline breakdown."""
    image = Image.new("RGB", (1600, 1000), "white")
    draw = ImageDraw.Draw(image)
    m = results["machine"]
    draw.text(
        (30, 12),
        f"QIP benchmarks, {m['date']}, {m['cpu']} x{m['cores']}, Pillow {m['pillow']}"
        + (" (quick smoke run)" if results.get("quick") else ""),
        fill="black",
        font=_font(22),
    )
    stages = results.get("stages", {})
    mid = "jpeg-12mp" if "jpeg-12mp" in stages else "jpeg-1mp"
    twelve = stages.get(mid, {})
    time_bars = []
    for label, workload, colour in (
        ("resize (core)", "resize", "ours"),
        ("resize (naive)", "naive_resize", "ref"),
        ("thumbnail (core)", "thumbnail", "ours"),
        ("thumbnail (naive)", "naive_thumbnail", "ref"),
        ("validate+metadata", None, "ours"),
        ("one full decode", "full_decode", "ref"),
    ):
        if workload is None:
            if "validate" in twelve and "metadata" in twelve:
                ms = (twelve["validate"][TIME] + twelve["metadata"][TIME]) * 1000
                time_bars.append((label, ms, PALETTE[colour]))
        elif workload in twelve:
            time_bars.append((label, twelve[workload][TIME] * 1000, PALETTE[colour]))
    _bars(
        draw,
        (30, 60, 790, 500),
        f"{mid}: CPU time per image (ms, lower is better)",
        time_bars,
        "ms",
    )
    big_name = "jpeg-24mp" if "jpeg-24mp" in stages else "jpeg-12mp"
    big = stages.get(big_name, {})
    mem_bars = [
        (label, big[w]["peak_growth_kib"] / 1024, PALETTE[c])
        for label, w, c in (
            ("resize (core)", "resize", "ours"),
            ("resize (naive)", "naive_resize", "ref"),
            ("thumbnail (core)", "thumbnail", "ours"),
            ("thumbnail (naive)", "naive_thumbnail", "ref"),
        )
        if w in big
    ]
    _bars(
        draw,
        (820, 60, 1580, 500),
        f"{big_name}: peak memory (MiB, lower is better)",
        mem_bars,
        "MiB",
    )
    tp_bars = []
    for label, name, colour in (
        ("floor (1 decode)", "floor", "other"),
        ("QIP cores", "cores", "ours"),
        ("sharp", "sharp", "ref"),
        ("pyvips", "pyvips", "ref"),
    ):
        ips = _ips(results, name)
        if ips is not None:
            tp_bars.append((label, ips, PALETTE[colour]))
    pipeline = results.get("pipeline") or {}
    if pipeline.get("cli"):
        cli_ips = float(pipeline["cli"]["images_per_second"])
        tp_bars.append(("local pipeline", cli_ips, PALETTE["ours"]))
    if pipeline.get("naive"):
        naive_ips = float(pipeline["naive"]["images_per_second"])
        tp_bars.append(("naive script", naive_ips, PALETTE["ref"]))
    _bars(draw, (30, 540, 790, 980), "Throughput (images/s, higher is better)", tp_bars, "img/s")
    parts = pipeline.get("thread_seconds_per_image", {})
    short = {name.split(" (")[0]: value for name, value in parts.items()}
    _stacked(draw, (820, 540, 1580, 980), "Pipeline: thread-seconds per image", short)
    return image


def write(results: dict[str, Any], out: Path, findings: Sequence[str] = ()) -> tuple[Path, Path]:
    """Write `benchmarks.md` and `benchmarks.png` into `out`; return both paths."""
    out.mkdir(parents=True, exist_ok=True)
    markdown = out / "benchmarks.md"
    chart = out / "benchmarks.png"
    markdown.write_text(render_markdown(results, findings))
    render_chart(results).save(chart, optimize=True)
    return markdown, chart
