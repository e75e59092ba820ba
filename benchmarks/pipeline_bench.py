"""The whole local pipeline: as `qip process` runs it, instrumented, and a naive script beside it.

    python benchmarks/pipeline_bench.py <files.json> <result.json> [cli|instrumented|naive]

`cli` (the targets): `LocalRuntime(LocalConfig(), separate_process=True)` and
`LocalClient.process(files)` exactly as `qip process` runs them: start-up, throughput, the CPU
of both processes, then single images one at a time on the idle runtime (latency).
`naive`: a naive one-process Pillow script over the same files (open, full decode,
`exif_transpose`, both outputs with LANCZOS, save).
`instrumented` (where time goes): the same system in-process (`server=False`: what the child
of `cli` runs), watched from outside without changing what runs:
- each registered handler is wrapped (via the registry's public `register`) to time it and to
  mark its thread, so AWS calls made *inside* a handler are told apart from the rest;
- the four cores are timed where each handler module looks them up;
- every botocore API call is timed (`BaseClient._make_api_call`), by who made it: a handler,
  the SQS poller, the client (upload, polling for completion) or moto itself (its Step
  Functions interpreter invoking the functions and writing the terminal states).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import json
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

_local = threading.local()
_lock = threading.Lock()
API_CALLS: list[tuple[str, str, str, float]] = []  # (caller, service, operation, seconds)
CORE_TIMES: dict[str, list[tuple[float, float]]] = defaultdict(list)  # stage -> (wall, cpu)
HANDLER_SPANS: list[dict[str, Any]] = []
UPLOAD_SPANS: dict[str, tuple[float, float]] = {}

CORES = {
    "validate": ("qip_validate.handler", "validate_image"),
    "metadata": ("qip_metadata.handler", "extract_metadata"),
    "resize": ("qip_resize.handler", "render_resize"),
    "thumbnail": ("qip_thumbnail.handler", "render_thumbnails"),
}


def _caller() -> str:
    service = getattr(_local, "service", None)
    if service is not None:
        return f"handler:{service}"
    name = threading.current_thread().name
    if name.startswith("sqs-poller"):
        return "poller"
    if name == "MainThread":
        return "client"
    return "moto"


def _instrument_botocore() -> None:
    from botocore.client import BaseClient  # noqa: PLC0415

    original = BaseClient._make_api_call

    @functools.wraps(original)
    def timed(self: Any, operation_name: str, api_params: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(self, operation_name, api_params)
        finally:
            elapsed = time.perf_counter() - started
            service = self.meta.service_model.service_name
            with _lock:
                API_CALLS.append((_caller(), service, operation_name, elapsed))

    BaseClient._make_api_call = timed


def _instrument_cores() -> None:
    for stage, (module_name, attribute) in CORES.items():
        module = importlib.import_module(module_name)
        core = getattr(module, attribute)

        def timed(
            *args: Any, _core: Callable[..., Any] = core, _stage: str = stage, **kw: Any
        ) -> Any:
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return _core(*args, **kw)
            finally:
                sample = (time.perf_counter() - wall, time.thread_time() - cpu)
                with _lock:
                    CORE_TIMES[_stage].append(sample)

        setattr(module, attribute, timed)


def _image_key(service: str, event: Any) -> str | None:
    if not isinstance(event, dict):
        return None
    state = event.get("state") if isinstance(event.get("state"), dict) else event
    if "imageKey" in state:  # a stage task's input is {"state": ..., "execution": ...}
        return str(state["imageKey"])
    with contextlib.suppress(Exception):  # the trigger's SQS batch: an EventBridge event per body
        body = json.loads(event["Records"][0]["body"])
        return str(body["detail"]["object"]["key"])
    return None


def _wrap_handler(service: str, handler: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def timed(event: Any, context: Any) -> Any:
        _local.service = service
        started = time.perf_counter()
        ok = False
        try:
            result = handler(event, context)
            ok = True
            return result
        finally:
            _local.service = None
            span = {
                "service": service,
                "key": _image_key(service, event),
                "start": started,
                "end": time.perf_counter(),
                "ok": ok,
            }
            with _lock:
                HANDLER_SPANS.append(span)

    return timed


def _idle_call_costs(client: Any, keys: list[str], rounds: int = 10) -> dict[str, float]:
    """Mean ms of typical calls on the idle runtime: moto's own cost, with HTTP, no contention."""
    if not keys:
        return {}
    resources = client.resources
    s3, sns, events = client.client("s3"), client.client("sns"), client.client("events")
    dynamodb = client.client("dynamodb")
    key = keys[0]
    body = s3.get_object(Bucket=resources.upload_bucket, Key=key)["Body"].read()
    update = {
        "TableName": resources.table,
        "Key": {"imageKey": {"S": "bench/probe"}},
        "UpdateExpression": "SET probe = :p",
        "ExpressionAttributeValues": {":p": {"S": "x"}},
    }
    calls: dict[str, Callable[[], Any]] = {
        "dynamodb GetItem": functools.partial(client.record_item, key),
        "dynamodb UpdateItem": lambda: dynamodb.update_item(**update),
        "s3 HeadObject": lambda: s3.head_object(Bucket=resources.upload_bucket, Key=key),
        # A new GET (and a full read) on every call, not a bound method of one response.
        f"s3 GetObject ({len(body) // 1000} kB)": lambda: s3.get_object(  # noqa: PLW0108
            Bucket=resources.upload_bucket, Key=key
        )["Body"].read(),
        f"s3 PutObject ({len(body) // 1000} kB)": lambda: s3.put_object(
            Bucket=resources.upload_bucket, Key="bench/probe.jpg", Body=body
        ),
        "sns Publish": lambda: sns.publish(TopicArn=resources.topic_arn, Message="{}"),
        "events PutEvents": lambda: events.put_events(
            Entries=[{"Source": "qip.bench", "DetailType": "probe", "Detail": "{}"}]
        ),
    }
    costs: dict[str, float] = {}
    for name, call in calls.items():
        call()  # warm
        started = time.perf_counter()
        for _ in range(rounds):
            call()
        costs[name] = (time.perf_counter() - started) / rounds * 1000
    return costs


def run(files: list[str], *, timeout: float) -> dict[str, Any]:
    """Process `files` through the local pipeline; return timings and the breakdown inputs."""
    from qip_local.runtime import LocalConfig, LocalRuntime  # noqa: PLC0415
    from qip_pipeline.names import ALL_SERVICES, function_name  # noqa: PLC0415

    _instrument_botocore()
    _instrument_cores()
    started_runtime = time.perf_counter()
    runtime = LocalRuntime(LocalConfig(), server=False)
    with runtime:
        registry = runtime.registry
        assert registry is not None
        assert runtime.resources is not None
        for service in ALL_SERVICES:
            name = function_name(service, runtime.resources.names.prefix)
            handler = registry.handler_for(name)
            if handler is not None:
                registry.register(name, _wrap_handler(service, handler))
        client = runtime.local_client()
        upload = client.upload_bytes

        def timed_upload(data: bytes, **kwargs: Any) -> str:
            begin = time.perf_counter()
            key: str = upload(data, **kwargs)
            UPLOAD_SPANS[key] = (begin, time.perf_counter())
            return key

        client.upload_bytes = timed_upload
        startup = time.perf_counter() - started_runtime
        API_CALLS.clear()  # provisioning is not part of the run
        begin = time.perf_counter()
        cpu_before = resource.getrusage(resource.RUSAGE_SELF)
        outcomes = client.process(files, None, timeout=timeout)
        wall = time.perf_counter() - begin
        cpu_after = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (
            cpu_after.ru_stime - cpu_before.ru_stime
        )
        poller = runtime.poller
        delivered = poller.delivered if poller is not None else None
        measured_calls = list(API_CALLS)  # before the idle probe adds its own
        idle = _idle_call_costs(client, [o.image_key for o in outcomes if o.image_key])
    return {
        "idle_call_ms": idle,
        "switch_interval": sys.getswitchinterval(),
        "startup_seconds": startup,
        "wall_seconds": wall,
        "process_cpu_seconds": cpu,
        "threads_at_end": threading.active_count(),
        "poller_delivered": delivered,
        "outcomes": [
            {
                "key": o.image_key,
                "status": o.status,
                "error": o.error,
                "seconds": o.seconds,
                "durations": o.durations,
            }
            for o in outcomes
        ],
        "uploads": UPLOAD_SPANS,
        "handlers": HANDLER_SPANS,
        "api_calls": measured_calls,
        "cores": dict(CORE_TIMES),
        "begin": begin,
    }


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def summarise(raw: dict[str, Any]) -> dict[str, Any]:
    """Throughput, latency and the per-image breakdown from a raw run."""
    outcomes = raw["outcomes"]
    done = [o for o in outcomes if o["status"] == "COMPLETED"]
    count = max(1, len(outcomes))
    uploads = raw["uploads"]
    settled = [uploads[o["key"]][0] + o["seconds"] for o in outcomes if o["key"] in uploads]
    first = min((span[0] for span in uploads.values()), default=raw["begin"])
    span = (max(settled) - first) if settled else raw["wall_seconds"]
    latencies = [o["seconds"] for o in outcomes]

    calls: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for caller, service, operation, seconds in raw["api_calls"]:
        calls[caller][f"{service} {operation}"].append(seconds)
    handler_seconds: dict[str, float] = defaultdict(float)
    for span_ in raw["handlers"]:
        handler_seconds[span_["service"]] += span_["end"] - span_["start"]
    in_handlers = sum(
        sum(sum(v) for v in ops.values()) for c, ops in calls.items() if c.startswith("handler:")
    )
    core_wall = sum(w for samples in raw["cores"].values() for w, _ in samples)
    core_cpu = sum(c for samples in raw["cores"].values() for _, c in samples)
    invoked = sum(handler_seconds.values()) - handler_seconds.get("upload-url", 0.0)
    lambda_invokes = sum(calls["moto"]["lambda Invoke"]) + sum(calls["poller"]["lambda Invoke"])
    per_image = {
        "stage compute (the four cores)": core_wall,
        "AWS calls inside handlers (moto over HTTP)": in_handlers,
        "handler code around the core (powertools, pydantic, JSON)": sum(handler_seconds.values())
        - core_wall
        - in_handlers,
        "Lambda invoke emulation (HTTP + shim, outside the handler)": max(
            0.0, lambda_invokes - invoked
        ),
        "SQS poller (receive/delete)": sum(
            sum(v) for k, v in calls["poller"].items() if k != "lambda Invoke"
        ),
        "client: upload (upload-url + presigned POST)": sum(
            end - begin for begin, end in uploads.values()
        ),
        "client: polling for completion (GetItem, DescribeExecution)": sum(
            sum(v) for k, v in calls["client"].items() if k != "lambda Invoke"
        ),
    }
    per_image = {name: seconds / count for name, seconds in per_image.items()}

    # The critical path of each image, from its own spans.
    spans: dict[str, dict[str, tuple[float, float]]] = defaultdict(dict)
    for span_ in raw["handlers"]:
        if span_["key"]:
            spans[span_["key"]].setdefault(span_["service"], (span_["start"], span_["end"]))
    segments: dict[str, list[float]] = defaultdict(list)
    for outcome in done:
        key = outcome["key"]
        own = spans.get(key, {})
        if key not in uploads or not all(
            s in own for s in ("trigger", "validate", "metadata", "resize", "thumbnail", "archive")
        ):
            continue
        up_begin, up_end = uploads[key]
        parallel_start = min(own["resize"][0], own["thumbnail"][0])
        parallel_end = max(own["resize"][1], own["thumbnail"][1])
        marks = [
            ("upload", up_begin, up_end),
            ("S3 -> EventBridge -> SQS -> poller (queueing)", up_end, own["trigger"][0]),
            # StartExecution runs the first state before it returns: the two overlap.
            ("trigger handler + StartExecution -> ValidateImage", own["trigger"][0],
             own["validate"][0]),
            ("validate handler", *own["validate"]),
            ("-> ExtractMetadata", own["validate"][1], own["metadata"][0]),
            ("metadata handler", *own["metadata"]),
            ("-> Parallel", own["metadata"][1], parallel_start),
            ("resize || thumbnail handlers", parallel_start, parallel_end),
            ("-> ArchiveImage", parallel_end, own["archive"][0]),
            ("archive handler", *own["archive"]),
            ("MarkCompleted, PublishSuccess, seen by the client", own["archive"][1],
             up_begin + outcome["seconds"]),
        ]  # fmt: skip
        for name, start, end in marks:
            segments[name].append(end - start)
    critical = {name: statistics.mean(values) for name, values in segments.items()}

    loaded: dict[str, float] = {}
    counts: dict[str, dict[str, float]] = {}
    for caller, ops in calls.items():
        counts[caller] = {name: len(v) / count for name, v in ops.items()}
        if caller.startswith("handler:"):
            for name, values in ops.items():
                loaded.setdefault(name, 0.0)
                loaded[name] += sum(values)
    loaded_counts: dict[str, int] = defaultdict(int)
    for caller, ops in calls.items():
        if caller.startswith("handler:"):
            for name, values in ops.items():
                loaded_counts[name] += len(values)
    loaded_ms = {name: loaded[name] / loaded_counts[name] * 1000 for name in loaded}
    return {
        "images": len(outcomes),
        "completed": len(done),
        "statuses": sorted({o["status"] for o in outcomes}),
        "errors": [o["error"] for o in outcomes if o["error"]][:3],
        "startup_seconds": raw["startup_seconds"],
        "wall_seconds": raw["wall_seconds"],
        "span_seconds": span,
        "images_per_second": len(done) / span if span > 0 else 0.0,
        "latency_p50": _percentile(latencies, 0.5),
        "latency_p95": _percentile(latencies, 0.95),
        "process_cpu_seconds": raw["process_cpu_seconds"],
        "cpu_utilisation": raw["process_cpu_seconds"] / raw["wall_seconds"],
        "cpu_per_image": raw["process_cpu_seconds"] / max(1, len(done)),
        "core_wall_per_image": core_wall / count,
        "core_cpu_per_image": core_cpu / count,
        "thread_seconds_per_image": per_image,
        "critical_path": critical,
        "calls_per_image": counts,
        "handler_calls_per_image": sum(
            sum(ops.values()) for c, ops in counts.items() if c.startswith("handler:")
        ),
        "all_calls_per_image": sum(sum(ops.values()) for ops in counts.values()),
        "loaded_call_ms": loaded_ms,
        "idle_call_ms": raw["idle_call_ms"],
        "handler_seconds_per_image": {k: v / count for k, v in handler_seconds.items()},
    }


def _stat_fields(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _descendants(pid: int) -> list[int]:
    """`pid` and the live processes below it (the embedded AWS's handler workers)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                parents[int(entry.name)] = int(_stat_fields(int(entry.name))[1])
    found, frontier = [pid], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found.extend(children)
        frontier = children
    return found


def _process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a live process and its descendants have used so far."""
    ticks = 0
    for process in _descendants(pid):
        with contextlib.suppress(OSError, IndexError):
            fields = _stat_fields(process)
            # Its own and its reaped children's (a worker that exited during the run).
            ticks += sum(int(value) for value in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


SINGLE_IMAGES = 5  # one at a time on the idle runtime, for the latency target
# The latency target's image: a small photo (the batch's first file, downscaled).
SMALL_IMAGE_SIZE = (1600, 1200)


def _small_image(source: str, directory: Path) -> Path:
    """A small JPEG with the content of `source` (the latency target's "small image")."""
    from PIL import Image  # noqa: PLC0415

    with Image.open(source) as image:
        image.draft("RGB", SMALL_IMAGE_SIZE)
        small = image.convert("RGB").resize(SMALL_IMAGE_SIZE)
    target = directory / "small-1600x1200.jpg"
    small.save(target, "JPEG", quality=85)
    return target


def _singles(client: Any, names: list[str], timeout: float) -> list[float]:
    """Upload-to-COMPLETED-seen seconds of each file, one at a time on the idle runtime."""
    seconds = []
    for name in names:
        time.sleep(0.5)  # idle: nothing else in flight
        seconds.append(client.process([name], None, timeout=timeout)[0].seconds)
    return seconds


def run_cli(files: list[str], *, timeout: float) -> dict[str, Any]:
    """`qip process`'s runtime: start-up, the batch (wall, CPU of both processes), latency."""
    from qip_local.runtime import LocalConfig, LocalRuntime  # noqa: PLC0415

    started, started_cpu = time.perf_counter(), _self_cpu()
    with (
        tempfile.TemporaryDirectory() as scratch,
        LocalRuntime(LocalConfig(), separate_process=True) as runtime,
    ):
        startup = time.perf_counter() - started
        child = runtime.child_pid
        assert child is not None
        startup_cpu = _self_cpu() - started_cpu + _process_cpu(child)
        client = runtime.local_client()
        cpu_before = _self_cpu() + _process_cpu(child)
        begin = time.perf_counter()
        outcomes = client.process(files, None, timeout=timeout)
        wall = time.perf_counter() - begin
        cpu = _self_cpu() + _process_cpu(child) - cpu_before
        small = _small_image(files[0], Path(scratch))
        singles = _singles(client, [str(small)] * SINGLE_IMAGES, timeout)
        batch_singles = _singles(client, files[:SINGLE_IMAGES], timeout)
    done = [o for o in outcomes if o.status == "COMPLETED"]
    return {
        "images": len(outcomes),
        "completed": len(done),
        "statuses": sorted({o.status for o in outcomes}),
        "errors": [o.error for o in outcomes if o.error][:3],
        "startup_seconds": startup,
        # Both processes (and the handler workers) from LocalRuntime() to ready.
        "startup_cpu_seconds": startup_cpu,
        "wall_seconds": wall,
        "images_per_second": len(done) / wall if wall > 0 else 0.0,
        "cpu_seconds": cpu,
        "cpu_per_image": cpu / max(1, len(done)),
        "cpu_utilisation": cpu / wall if wall > 0 else 0.0,
        "latency_p50_batch": _percentile([o.seconds for o in outcomes], 0.5),
        "single_image": f"{SMALL_IMAGE_SIZE[0]}x{SMALL_IMAGE_SIZE[1]} JPEG",
        "single_latencies": singles,
        "single_latency_median": statistics.median(singles) if singles else None,
        # The same, one at a time, on the batch's own files (12 MP photos in the full run).
        "single_latencies_batch_files": batch_singles,
        "single_latency_median_batch_files": (
            statistics.median(batch_singles) if batch_singles else None
        ),
    }


def run_naive(files: list[str]) -> dict[str, Any]:
    """A naive one-process Pillow script over the same files: wall and CPU."""
    from workloads import WORKLOADS  # noqa: PLC0415 - a sibling module of the benchmarks

    naive = WORKLOADS["naive_both"]
    naive(Path(files[0]).read_bytes())  # warm: plugin loading is not the script's work
    cpu_before, begin = _self_cpu(), time.perf_counter()
    for name in files:
        naive(Path(name).read_bytes())
    wall = time.perf_counter() - begin
    cpu = _self_cpu() - cpu_before
    return {
        "images": len(files),
        "wall_seconds": wall,
        "images_per_second": len(files) / wall,
        "cpu_seconds": cpu,
        "cpu_per_image": cpu / len(files),
    }


def main() -> int:
    """Command line: file list in, result JSON out (the handlers' logs go to stdout)."""
    files = json.loads(Path(sys.argv[1]).read_text())
    mode = sys.argv[3] if len(sys.argv) > 3 else "instrumented"
    timeout = float(os.environ.get("QIP_BENCH_PIPELINE_TIMEOUT", "900"))
    # Only for the what-if run: Python's default is 0.005 s.
    switch = os.environ.get("QIP_BENCH_SWITCH_INTERVAL")
    if switch:
        sys.setswitchinterval(float(switch))
    if mode == "cli":
        result = run_cli(files, timeout=timeout)
    elif mode == "naive":
        result = run_naive(files)
    else:
        result = run(files, timeout=timeout)
    Path(sys.argv[2]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
