"""Fixtures for the benchmark tooling's own tests (no timing is asserted anywhere)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

# The benchmark modules are scripts' siblings, not an installed package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _measurement(seconds: float, peak_mib: float) -> dict[str, Any]:
    return {
        "best_seconds": seconds,
        "best_cpu_seconds": seconds,
        "median_seconds": seconds,
        "seconds": [seconds],
        "cpu_seconds": [seconds],
        "peak_growth_kib": peak_mib * 1024,
        "output_bytes": 200_000,
    }


@pytest.fixture
def make_results():
    """Build a results dict shaped like run.py's, with chosen key figures."""

    def build(
        *,
        resize: float = 0.1,
        naive_resize: float = 0.6,
        validate: float = 0.05,
        full_decode: float = 0.3,
        cores_ips: float = 4.0,
        sharp_ips: float = 5.0,
        pipeline_ips: float = 1.0,
    ) -> dict[str, Any]:
        per_case = {
            "validate": _measurement(validate, 4),
            "metadata": _measurement(0.001, 1),
            "resize": _measurement(resize, 20),
            "thumbnail": _measurement(resize / 2, 6),
            "naive_resize": _measurement(naive_resize, 180),
            "naive_thumbnail": _measurement(naive_resize * 0.8, 180),
            "full_decode": _measurement(full_decode, 95),
            "floor": _measurement(full_decode / 3, 10),
        }
        return {
            "machine": {
                "date": "2026-01-01 00:00 UTC",
                "cpu": "Test CPU",
                "cores": 2,
                "memory_gib": 8.0,
                "os": "Linux",
                "load_at_start": [0.5, 0.5, 0.5],
                "load_at_end": [0.6, 0.5, 0.5],
                "python": "3.11",
                "pillow": "13.0.0",
                "libjpeg": "3.0",
                "libjpeg_turbo": True,
                "libwebp": "1.6",
                "moto": "5",
                "boto3": "1",
                "aws_lambda_powertools": "3",
                "pydantic": "2",
                "node": "v20",
                "git_commit": "abc1234",
                "versions_extra": {"sharp": "0.35", "libvips (sharp)": "8.18", "pyvips": None},
            },
            "quick": False,
            "run_seconds": 100.0,
            "inputs": {
                "cases": [
                    {"name": n, "width": 4000, "height": 3000, "bytes": 3_000_000}
                    for n in ("jpeg-12mp", "jpeg-24mp")
                ],
                "batch": {"size": [4000, 3000], "distinct": 4, "images": 8, "mean_bytes": 3e6},
            },
            "stages": {"jpeg-12mp": per_case, "jpeg-24mp": per_case},
            "throughput": {
                "floor": {"images_per_second": 10.0, "seconds": 1.0, "cpu_per_image": 0.1},
                "cores": {"images_per_second": cores_ips, "seconds": 2.0, "cpu_per_image": 0.4},
                "sharp": {
                    "images_per_second": sharp_ips,
                    "seconds": 1.5,
                    "cpu_per_image": 0.2,
                    "sharp": "0.35",
                    "libvips": "8.18",
                },
                "pyvips": {"error": "pyvips is not installed"},
            },
            "pipeline": {
                "cli": {
                    "images": 8,
                    "completed": 8,
                    "statuses": ["COMPLETED"],
                    "errors": [],
                    "startup_seconds": 1.2,
                    "wall_seconds": 4.0,
                    "images_per_second": pipeline_ips,
                    "cpu_seconds": 3.2,
                    "cpu_per_image": 0.4,
                    "cpu_utilisation": 0.8,
                    "latency_p50_batch": 1.0,
                    "single_latencies": [0.3, 0.35, 0.5],
                    "single_latency_median": 0.35,
                },
                "naive": {
                    "images": 8,
                    "wall_seconds": 4.0,
                    "images_per_second": 2.0,
                    "cpu_seconds": 2.8,
                    "cpu_per_image": 0.35,
                },
                "images": 8,
                "completed": 8,
                "statuses": ["COMPLETED"],
                "images_per_second": pipeline_ips,
                "latency_p50": 2.0,
                "latency_p95": 3.0,
                "startup_seconds": 5.0,
                "cpu_utilisation": 1.2,
                "core_wall_per_image": 0.5,
                "core_cpu_per_image": 0.4,
                "handler_calls_per_image": 40,
                "all_calls_per_image": 80,
                "thread_seconds_per_image": {
                    "stage compute (the four cores)": 0.5,
                    "AWS calls inside handlers (moto over HTTP)": 2.0,
                    "SQS poller (receive/delete)": 0.5,
                },
                "critical_path": {"upload": 0.1, "validate handler": 0.3},
                "idle_call_ms": {"sns Publish": 8.0},
                "loaded_call_ms": {"sns Publish": 80.0},
                "calls_per_image": {
                    "poller": {"sqs ReceiveMessage": 12.0},
                    "client": {"dynamodb GetItem": 6.0},
                    "handler:resize": {"s3 GetObject": 1.0, "s3 PutObject": 1.0},
                },
            },
        }

    return build
