"""The workflow graph is drawn from `build_definition`'s states, for every stage selection."""

from __future__ import annotations

import itertools
import re
import xml.etree.ElementTree as ET

import pytest

from qip_local.dashboard.graph import BOX_H, render_svg, workflow_layout
from qip_pipeline.definition import ALL_STAGES, build_definition
from qip_shared.enums import StageName

SVG = "{http://www.w3.org/2000/svg}"


def valid_selections() -> list[tuple[StageName, ...]]:
    """Every selection the platform accepts (validation always; archive needs an output)."""
    optional = [s for s in ALL_STAGES if s is not StageName.VALIDATION]
    found = []
    for n in range(len(optional) + 1):
        for extra in itertools.combinations(optional, n):
            chosen = {StageName.VALIDATION, *extra}
            outputs = chosen & {StageName.RESIZE, StageName.THUMBNAIL}
            if StageName.ARCHIVE in chosen and not outputs:
                continue
            found.append(tuple(s for s in ALL_STAGES if s in chosen))
    return found


def all_states(definition: dict) -> set[str]:
    names = set()
    for name, state in definition["States"].items():
        names.add(name)
        for branch in state.get("Branches", []):
            names |= set(branch["States"])
    return names


def transitions(definition: dict) -> set[tuple[str, str]]:
    pairs = set()

    def walk(states: dict) -> None:
        for name, state in states.items():
            if "Next" in state:
                pairs.add((name, state["Next"]))
            for catch in state.get("Catch", []):
                pairs.add((name, catch["Next"]))
            for branch in state.get("Branches", []):
                walk(branch["States"])

    walk(definition["States"])
    return pairs


def overlaps(a, b) -> bool:
    return a.x < b.x + b.w and b.x < a.x + a.w and a.y < b.y + b.h and b.y < a.y + a.h


# Issue 9: "the workflow graph drawn from the state-machine definition" — checked exhaustively.
@pytest.mark.parametrize("stacked", [False, True], ids=["wide", "stacked"])
@pytest.mark.parametrize("stages", valid_selections(), ids=lambda s: "+".join(x.value for x in s))
def test_every_state_and_transition_of_the_definition_is_drawn(stages, stacked) -> None:
    definition = build_definition(stages)
    layout = workflow_layout(definition, stacked=stacked)

    assert set(layout.nodes) == all_states(definition)
    assert {(e.source, e.target) for e in layout.edges} == transitions(definition)
    boxes = [n for n in layout.nodes.values() if not n.is_group]
    for a, b in itertools.combinations(boxes, 2):
        assert not overlaps(a, b), (a.name, b.name)
    for node in layout.nodes.values():
        assert node.x >= 0
        assert node.x + node.w <= layout.width
        assert node.y >= 0
        assert node.y + node.h <= layout.height
        if node.parent is not None:
            group = layout.nodes[node.parent]
            assert group.x <= node.x
            assert node.x + node.w <= group.x + group.w
            assert group.y <= node.y
            assert node.y + node.h <= group.y + group.h


def test_main_line_runs_top_to_bottom_and_catch_targets_sit_to_its_right() -> None:
    layout = workflow_layout(build_definition(ALL_STAGES))
    main = ["ValidateImage", "ExtractMetadata", "ParallelProcessing", "ArchiveImage"]
    ys = [layout.nodes[name].y for name in [*main, "PublishSuccess"]]
    assert ys == sorted(ys)
    assert len(set(ys)) == len(ys)
    right_edge = max(layout.nodes[name].x + layout.nodes[name].w for name in main)
    for name in ("Rejected", "HandleError", "PublishFailure", "ProcessingFailed"):
        assert layout.nodes[name].x > right_edge
    # The branches of the Parallel sit side by side.
    resize, thumb = layout.nodes["ResizeImage"], layout.nodes["GenerateThumbnail"]
    assert resize.y == thumb.y
    assert resize.h == thumb.h == BOX_H
    catch = {(e.source, e.target): e for e in layout.edges if e.kind == "catch"}
    assert catch[("ValidateImage", "Rejected")].label == "InvalidImageError"
    # Each stage's failure first names the stage (by design of the per-stage Catch).
    assert catch[("ArchiveImage", "ArchiveImageFailed")].label == ""


def test_svg_marks_each_state_with_its_progress_and_escapes_text() -> None:
    definition = build_definition(ALL_STAGES)
    progress = {
        "ValidateImage": "succeeded",
        "ExtractMetadata": "succeeded",
        "ParallelProcessing": "running",
        "ResizeImage": "running",
        "GenerateThumbnail": "succeeded",
    }
    svg = str(
        render_svg(
            workflow_layout(definition),
            progress,
            title="Workflow of <script>x</script>.png",
            description="a & b",
        )
    )
    root = ET.fromstring(svg)  # well-formed XML, so the browser parses it as one SVG
    assert root.get("role") == "img"
    assert root.find(f"{SVG}title").text == "Workflow of <script>x</script>.png"
    assert "<script>" not in svg
    groups = {g.get("data-state"): g for g in root.iter(f"{SVG}g")}
    assert set(groups) == all_states(definition)
    for name, group in groups.items():
        expected = progress.get(name, "pending")
        assert group.get("data-status") == expected
        assert ("is-current" in group.get("class")) == (expected == "running")
        assert group.find(f"{SVG}title").text.startswith(f"{name}: ")
    lines = list(root.iter(f"{SVG}line"))
    assert len(lines) == len(transitions(definition))
    assert all(re.fullmatch(r"url\(#workflow-arrow\)", line.get("marker-end")) for line in lines)


def test_stacked_layout_for_phones_puts_error_states_below_and_routes_catches_in_gutters() -> None:
    definition = build_definition(ALL_STAGES)
    wide, stacked = workflow_layout(definition), workflow_layout(definition, stacked=True)
    assert stacked.width < 0.8 * wide.width
    bottom = stacked.nodes["PublishSuccess"].y + BOX_H
    main_right = max(n.x + n.w for n in stacked.nodes.values() if n.y < bottom)
    for name in ("Rejected", "HandleError", "PublishFailure", "ProcessingFailed"):
        assert stacked.nodes[name].y > bottom
    main_catch_targets = {
        e.target
        for e in stacked.edges
        if e.kind == "catch" and stacked.nodes[e.source].parent is None
    }
    assert set(stacked.gutters) == main_catch_targets
    assert {"Rejected", "ValidateImageFailed", "ArchiveImageFailed"} <= main_catch_targets
    assert all(main_right < x < stacked.width for x in stacked.gutters.values())
    svg = ET.fromstring(
        str(render_svg(stacked, {}, title="t", description="d", id_prefix="narrow"))
    )
    polylines = list(svg.iter(f"{SVG}polyline"))
    # Catches to the main line's error states run in gutters (a branch's own stay inside it).
    catches = [e for e in stacked.edges if e.kind == "catch" and e.target in stacked.gutters]
    assert len(polylines) == len(catches)
    for line in polylines:
        points = [tuple(map(float, p.split(","))) for p in line.get("points").split()]
        assert len(points) == 4
        # Out to the gutter and back: the middle segment is vertical, at the target's gutter.
        assert points[1][0] == points[2][0] == stacked.gutters[line.get("data-target")]
        assert line.get("marker-end") == "url(#narrow-arrow)"
    assert svg.get("aria-labelledby") == "narrow-title narrow-desc"
