"""Pure view logic: filters, the stage timeline, where an execution is, colour contrast."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

import qip_local.dashboard
from qip_local.dashboard.views import (
    FilterError,
    parse_filters,
    problem_text,
    progress_from_history,
    progress_from_record,
    timeline,
)
from qip_pipeline.definition import ALL_STAGES, build_definition
from qip_shared.enums import ImageStatus, StageName
from qip_shared.record import ImageRecord

DEFINITION = build_definition(ALL_STAGES)
CSS = Path(qip_local.dashboard.__file__).parent / "static" / "dashboard.css"


def history(*steps: tuple[str, str]) -> list[dict]:
    """A history in moto's shape: each step is (event type, state name or "")."""
    events = []
    for i, (kind, name) in enumerate(steps, start=1):
        event: dict = {"id": i, "previousEventId": i - 1, "type": kind}
        if kind.endswith("StateEntered"):
            event["stateEnteredEventDetails"] = {"name": name}
        elif kind.endswith("StateExited"):
            event["stateExitedEventDetails"] = {"name": name}
        events.append(event)
    return events


def task(name: str, *outcomes: str) -> list[tuple[str, str]]:
    steps = [("TaskStateEntered", name)]
    for outcome in outcomes:
        steps += [("LambdaFunctionScheduled", ""), ("LambdaFunctionStarted", ""), (outcome, "")]
    return [*steps, ("TaskStateExited", name)]


def record(status: ImageStatus, stages: dict, **extra) -> ImageRecord:
    return ImageRecord.model_validate(
        {
            "imageKey": "uploads/2026/11/26/0b9c0000-0000-4000-8000-000000000001.jpg",
            "uploadTimestamp": "2026-11-26T07:00:00.000Z",
            "size": 10,
            "contentType": "image/jpeg",
            "status": status.value,
            "stages": stages,
            **extra,
        }
    )


def test_filters_parse_status_and_days_and_refuse_nonsense() -> None:
    filters = parse_filters({"status": "rejected", "since": "2026-11-01", "until": "2026-11-26"})
    assert filters.status is ImageStatus.REJECTED
    assert (filters.since, filters.until) == (date(2026, 11, 1), date(2026, 11, 26))
    assert filters.as_query() == {
        "status": "REJECTED",
        "since": "2026-11-01",
        "until": "2026-11-26",
    }
    assert parse_filters({}).as_query() == {}
    with pytest.raises(FilterError, match="unknown status"):
        parse_filters({"status": "DONE"})
    with pytest.raises(FilterError, match="2026-11-26"):
        parse_filters({"since": "26/11/2026"})
    with pytest.raises(FilterError, match="after"):
        parse_filters({"since": "2026-11-27", "until": "2026-11-26"})


def test_timeline_has_every_selected_stage_with_its_recorded_times() -> None:
    rec = record(
        ImageStatus.PROCESSING,
        {
            "validation": {
                "status": "COMPLETED",
                "timestamp": "2026-11-26T07:00:01.000Z",
                "startedAt": "2026-11-26T07:00:00.000Z",
                "completedAt": "2026-11-26T07:00:01.000Z",
                "durationMs": 1000,
            },
            "metadata": {
                "status": "IN_PROGRESS",
                "timestamp": "2026-11-26T07:00:02.000Z",
                "startedAt": "2026-11-26T07:00:02.000Z",
            },
        },
    )
    now = datetime(2026, 11, 26, 7, 0, 4, tzinfo=UTC)
    rows = timeline(rec, ALL_STAGES, now=now)
    assert [r.stage for r in rows] == [s.value for s in ALL_STAGES]
    assert [r.status for r in rows] == ["COMPLETED", "IN_PROGRESS", "PENDING", "PENDING", "PENDING"]
    assert rows[0].duration_ms == 1000
    assert rows[0].started_at == "2026-11-26T07:00:00.000Z"
    # Bars share one axis from the first start to now: 0..1 s and 2..4 s of 4 s.
    assert (rows[0].bar_start, rows[0].bar_width) == (0.0, 0.25)
    assert (rows[1].bar_start, rows[1].bar_width) == (0.5, 0.5)
    assert rows[2].bar_width == 0


def test_history_of_a_running_parallel_highlights_both_branches() -> None:
    events = history(
        ("ExecutionStarted", ""),
        *task("ValidateImage", "LambdaFunctionSucceeded"),
        *task("ExtractMetadata", "LambdaFunctionSucceeded"),
        ("ParallelStateEntered", "ParallelProcessing"),
        ("ParallelStateStarted", ""),
        ("TaskStateEntered", "ResizeImage"),
        ("LambdaFunctionScheduled", ""),
    )
    events.append(
        {
            "id": 100,
            "previousEventId": 15,
            "type": "TaskStateEntered",
            "stateEnteredEventDetails": {"name": "GenerateThumbnail"},
        }
    )
    progress = progress_from_history(events, DEFINITION)
    assert not progress.finished
    assert progress.states["ValidateImage"] == progress.states["ExtractMetadata"] == "succeeded"
    assert progress.current == ["ParallelProcessing", "ResizeImage", "GenerateThumbnail"]
    assert progress.states["ArchiveImage"] == "pending"
    assert "is in ParallelProcessing" in progress.describe()


def test_history_of_a_rejection_ends_in_rejected_with_validate_in_error() -> None:
    events = history(
        ("ExecutionStarted", ""),
        *task("ValidateImage", "LambdaFunctionFailed"),
        ("SucceedStateEntered", "Rejected"),
        ("SucceedStateExited", "Rejected"),
        ("ExecutionSucceeded", ""),
    )
    progress = progress_from_history(events, DEFINITION)
    assert progress.finished
    assert progress.current == ["Rejected"]
    assert progress.states["ValidateImage"] == "error"
    assert progress.states["ExtractMetadata"] == "pending"


def test_history_with_retries_counts_attempts_and_a_failed_branch() -> None:
    # The shape moto records when GenerateThumbnail fails three times inside the Parallel.
    steps = [
        ("ExecutionStarted", ""),
        *task("ValidateImage", "LambdaFunctionSucceeded"),
        *task("ExtractMetadata", "LambdaFunctionSucceeded"),
        ("ParallelStateEntered", "ParallelProcessing"),
        ("ParallelStateStarted", ""),
    ]
    events = history(*steps)
    parallel_started = len(events)
    events += [
        {
            "id": 20,
            "previousEventId": parallel_started,
            "type": "TaskStateEntered",
            "stateEnteredEventDetails": {"name": "ResizeImage"},
        },
        {"id": 21, "previousEventId": 20, "type": "LambdaFunctionScheduled"},
        {
            "id": 22,
            "previousEventId": parallel_started,
            "type": "TaskStateEntered",
            "stateEnteredEventDetails": {"name": "GenerateThumbnail"},
        },
    ]
    previous = 22
    for i in range(3):
        base = 23 + i * 2
        events += [
            {"id": base, "previousEventId": previous, "type": "LambdaFunctionScheduled"},
            {"id": base + 1, "previousEventId": base, "type": "LambdaFunctionFailed"},
        ]
        previous = base + 1
    events += [
        {"id": 30, "previousEventId": previous, "type": "ParallelStateFailed"},
        {
            "id": 31,
            "previousEventId": 30,
            "type": "ParallelStateExited",
            "stateExitedEventDetails": {"name": "ParallelProcessing"},
        },
        {"id": 32, "previousEventId": 21, "type": "LambdaFunctionSucceeded"},
    ]
    tail = history(
        *task("HandleError", "TaskSucceeded"),
        *task("PublishFailure", "TaskSucceeded"),
        ("FailStateEntered", "ProcessingFailed"),
        ("ExecutionFailed", ""),
    )
    for event in tail:
        event["id"] += 40
        event["previousEventId"] += 40 if event["previousEventId"] else 31
    progress = progress_from_history(events + tail, DEFINITION)
    assert progress.finished
    assert progress.current == ["ProcessingFailed"]
    assert progress.states["GenerateThumbnail"] == "error"
    assert progress.states["ParallelProcessing"] == "error"
    assert progress.states["ResizeImage"] == "succeeded"
    assert progress.states["HandleError"] == progress.states["PublishFailure"] == "succeeded"
    assert progress.attempts == {"GenerateThumbnail": 3}


def test_record_fallback_follows_stages_and_status() -> None:
    done = {"status": "COMPLETED", "timestamp": "2026-11-26T07:00:01.000Z"}
    rec = record(
        ImageStatus.COMPLETED,
        {stage.value: done for stage in StageName},
        executionArn="arn:aws:states:us-east-1:123456789012:execution:qip-pipeline:x",
    )
    progress = progress_from_record(rec, DEFINITION)
    assert progress.current == ["Completed"]
    assert progress.states["ParallelProcessing"] == "succeeded"
    assert progress.states["Rejected"] == "pending"

    running = record(
        ImageStatus.PROCESSING,
        {"validation": done, "metadata": {"status": "IN_PROGRESS", "timestamp": done["timestamp"]}},
    )
    assert progress_from_record(running, DEFINITION).current == ["ExtractMetadata"]

    # Rejected by the trigger: no execution, nothing to highlight.
    intake = record(ImageStatus.REJECTED, {}, rejectionReason="UNSUPPORTED_FORMAT")
    assert progress_from_record(intake, DEFINITION).current == []
    assert problem_text(intake) == "UNSUPPORTED_FORMAT"


def test_problem_text_of_a_failed_record_is_its_error_type_and_message() -> None:
    failed = record(
        ImageStatus.FAILED,
        {},
        errorType="PermanentError",
        errorMessage='{"errorType": "PermanentError", "errorMessage": "disk on fire"}',
    )
    assert problem_text(failed) == "PermanentError: disk on fire"
    assert problem_text(record(ImageStatus.COMPLETED, {})) is None


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    light, dark = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


# Issue 9 "accessible (contrast)": every badge colour pair meets WCAG AA for small text.
def test_badge_and_text_colours_meet_wcag_aa() -> None:
    variables = dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-f]{6});", CSS.read_text()))
    pairs = [
        (variables[f"badge-{name}-fg"], variables[f"badge-{name}-bg"])
        for name in ("completed", "rejected", "failed", "processing", "uploaded")
    ]
    pairs += [(variables["text"], "#ffffff"), (variables["muted"], variables["page"])]
    pairs += [(variables["link"], "#ffffff"), (variables["muted"], variables["badge-uploaded-bg"])]
    for fg, bg in pairs:
        assert contrast(fg, bg) >= 4.5, (fg, bg, round(contrast(fg, bg), 2))
    # Keep the check honest: a pale pair fails it.
    assert contrast("#999999", "#ffffff") < 4.5
