"""The workflow graph: a layout of the state machine's states and an inline SVG of it.

The layout is computed from the ASL that `definition.build_definition` returns (the same text
CDK deploys and moto runs), so a stage selection without metadata or archive draws its own graph.
The main line (StartAt, following `Next`) is the left column, a Parallel is a box holding its
branches side by side, and the states only reached through a `Catch` (Rejected, HandleError and
what follows them) form the right column. Dashed arrows are catches.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup, escape

BOX_W = 152
BOX_H = 36
ROW_GAP = 24
PAD = 10
BRANCH_GAP = 8
PARALLEL_HEADER = 22
COLUMN_GAP = 44
# Stacked layout (narrow screens): catches run down gutters right of the main line.
GUTTER_GAP = 12

# What each progress value means, in words (the SVG's text alternative uses these).
STATUS_LABELS = {
    "pending": "not reached",
    "running": "running now",
    "succeeded": "succeeded",
    "error": "raised an error",
    "final": "where the execution ended",
}
STATUS_GLYPHS = {"pending": "", "running": "▶", "succeeded": "✓", "error": "✗", "final": "●"}


@dataclass(frozen=True)
class Node:
    """One state's box."""

    name: str
    kind: str
    x: float
    y: float
    w: float
    h: float
    parent: str | None = None

    @property
    def is_group(self) -> bool:
        """A Parallel state, drawn as a box around its branches."""
        return self.kind == "Parallel"


@dataclass(frozen=True)
class Edge:
    """A transition: `next` (solid) or `catch` (dashed, labelled with the errors it catches)."""

    source: str
    target: str
    kind: str
    label: str = ""


@dataclass
class Layout:
    """Where every state goes, and the arrows between them."""

    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    width: float = 0.0
    height: float = 0.0
    # Stacked layouts only: the x of the gutter each catch target's arrows run down.
    gutters: dict[str, float] = field(default_factory=dict)


def _chain(states: Mapping[str, Any], start: str) -> list[str]:
    """States from `start` following `Next` (stops at an end or a state already seen)."""
    chain: list[str] = []
    name: str | None = start
    while name is not None and name in states and name not in chain:
        chain.append(name)
        name = states[name].get("Next")
    return chain


def _walk(states: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every state, including those inside Parallel branches."""
    for name, state in states.items():
        yield name, state
        for branch in state.get("Branches", []):
            yield from _walk(branch["States"])


def _edges(states: Mapping[str, Any]) -> list[Edge]:
    edges: list[Edge] = []
    seen: set[tuple[str, str]] = set()
    for name, state in _walk(states):
        if "Next" in state:
            edges.append(Edge(name, state["Next"], "next"))
            seen.add((name, state["Next"]))
    for name, state in _walk(states):
        for catch in state.get("Catch", []):
            target = catch["Next"]
            if (name, target) in seen:
                continue
            seen.add((name, target))
            errors = catch.get("ErrorEquals", [])
            label = "" if errors == ["States.ALL"] else ", ".join(errors)
            edges.append(Edge(name, target, "catch", label))
    return edges


def workflow_layout(definition: Mapping[str, Any], *, stacked: bool = False) -> Layout:  # noqa: C901 - one layout pass
    """Place every state of an ASL definition: main line left, catches right (or below)."""
    states: Mapping[str, Any] = definition["States"]
    layout = Layout(edges=_edges(states))
    main = _chain(states, definition["StartAt"])
    widest_group = max(
        (
            len(states[name]["Branches"]) * (BOX_W + BRANCH_GAP) + BRANCH_GAP
            for name in main
            if states[name].get("Type") == "Parallel"
        ),
        default=BOX_W,
    )
    main_w = max(BOX_W, widest_group)
    y: float = PAD
    for name in main:
        state = states[name]
        if state.get("Type") == "Parallel":
            y = _place_parallel(layout, name, state, x=PAD, y=y, width=main_w)
        else:
            x = PAD + (main_w - BOX_W) / 2
            layout.nodes[name] = Node(name, state.get("Type", "Task"), x, y, BOX_W, BOX_H)
            y += BOX_H
        y += ROW_GAP
    main_bottom = y

    # Catch targets in the order they are first caught, each with what follows it.
    side_x = PAD + (main_w - BOX_W) / 2 if stacked else PAD + main_w + COLUMN_GAP
    # Stacked: a wider gap, so the error states do not read as steps after the main line.
    side_y: float = main_bottom + ROW_GAP / 2 if stacked else PAD
    for edge in layout.edges:
        if edge.kind != "catch" or edge.target in layout.nodes:
            continue
        source = layout.nodes.get(edge.source)
        if stacked:
            layout.gutters[edge.target] = PAD + main_w + GUTTER_GAP * (len(layout.gutters) + 1)
            side_y += ROW_GAP / 2 if layout.gutters.keys() - {edge.target} else 0
        else:
            side_y = max(side_y, source.y if source is not None else PAD)
        for name in _chain(states, edge.target):
            if name in layout.nodes:
                break
            layout.nodes[name] = Node(
                name, states[name].get("Type", "Task"), side_x, side_y, BOX_W, BOX_H
            )
            side_y += BOX_H + ROW_GAP
    # Anything unreachable still gets drawn (an ASL may hold states nothing points to).
    for name, state in states.items():
        if name not in layout.nodes:
            layout.nodes[name] = Node(name, state.get("Type", "Task"), side_x, side_y, BOX_W, BOX_H)
            side_y += BOX_H + ROW_GAP
    has_side = any(node.x >= side_x for node in layout.nodes.values())
    if stacked:
        layout.width = PAD + main_w + GUTTER_GAP * (len(layout.gutters) + 1) + PAD
    else:
        layout.width = (side_x + BOX_W + PAD) if has_side else (PAD + main_w + PAD)
    layout.height = max(main_bottom, side_y) - ROW_GAP + PAD
    return layout


def _branch_states(branch: Mapping[str, Any]) -> list[str]:
    """A branch's main chain, then the chains its catches lead to (a stage's own failure path)."""
    states: Mapping[str, Any] = branch["States"]
    ordered = _chain(states, branch["StartAt"])
    for name in states:
        ordered.extend(s for s in _chain(states, name) if s not in ordered)
    return ordered


def _place_parallel(
    layout: Layout, name: str, state: Mapping[str, Any], *, x: float, y: float, width: float
) -> float:
    """Place a Parallel box and its branches; returns the y below it."""
    branches = state.get("Branches", [])
    inner_w = len(branches) * (BOX_W + BRANCH_GAP) + BRANCH_GAP
    left = x + (width - inner_w) / 2
    deepest = 0
    for i, branch in enumerate(branches):
        chain = _branch_states(branch)
        bx = left + BRANCH_GAP + i * (BOX_W + BRANCH_GAP)
        by = y + PARALLEL_HEADER
        for child in chain:
            kind = branch["States"][child].get("Type", "Task")
            layout.nodes[child] = Node(child, kind, bx, by, BOX_W, BOX_H, parent=name)
            by += BOX_H + BRANCH_GAP
        deepest = max(deepest, len(chain))
    height = PARALLEL_HEADER + deepest * (BOX_H + BRANCH_GAP) + BRANCH_GAP // 2
    layout.nodes[name] = Node(name, "Parallel", left, y, inner_w, height)
    return y + height


def _anchor_points(source: Node, target: Node, kind: str) -> tuple[float, float, float, float]:
    if kind == "next" and abs(source.x + source.w / 2 - (target.x + target.w / 2)) < 1:
        return (source.x + source.w / 2, source.y + source.h, target.x + target.w / 2, target.y)
    if kind == "next" and target.y > source.y:
        return (source.x + source.w / 2, source.y + source.h, target.x + target.w / 2, target.y)
    return (source.x + source.w, source.y + source.h / 2, target.x, target.y + target.h / 2)


def render_svg(
    layout: Layout,
    progress: Mapping[str, str],
    *,
    title: str,
    description: str,
    id_prefix: str = "workflow",
    css_class: str = "",
) -> Markup:
    """The graph as inline SVG; `progress` maps state name -> pending/running/succeeded/..."""
    ids = {name: f"{id_prefix}-{name}" for name in ("title", "desc", "arrow")}
    parts = _svg_header(layout, ids, title=title, description=description, css_class=css_class)
    # Arrows first, so boxes sit on top of their ends.
    parts += _edge_parts(layout, arrow=f"url(#{ids['arrow']})")
    # Groups first, so their children's boxes are drawn over them.
    ordered = sorted(layout.nodes.values(), key=lambda node: (not node.is_group, node.y, node.x))
    for node in ordered:
        parts += _node_parts(node, progress.get(node.name, "pending"))
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated value is escaped where built


def _svg_header(
    layout: Layout, ids: Mapping[str, str], *, title: str, description: str, css_class: str
) -> list[str]:
    """The opening `<svg>` with its title, description and arrowhead marker."""
    return [
        f'<svg class="workflow {escape(css_class)}" xmlns="http://www.w3.org/2000/svg" '
        f'role="img" viewBox="0 0 {layout.width:.0f} {layout.height:.0f}" '
        f'width="{layout.width:.0f}" height="{layout.height:.0f}" '
        f'aria-labelledby="{ids["title"]} {ids["desc"]}">',
        f'<title id="{ids["title"]}">{escape(title)}</title>',
        f'<desc id="{ids["desc"]}">{escape(description)}</desc>',
        "<defs>"
        f'<marker id="{ids["arrow"]}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'class="workflow__arrowhead"/></marker></defs>',
    ]


def _side_entries(layout: Layout) -> dict[str, list[Edge]]:
    """The catch edges entering each target from the side (via a gutter or from the left)."""
    side_entries: dict[str, list[Edge]] = {}
    for edge in layout.edges:
        source, target = layout.nodes.get(edge.source), layout.nodes.get(edge.target)
        if source is None or target is None or edge.kind != "catch":
            continue
        if edge.target in layout.gutters or target.x > source.x + source.w:
            side_entries.setdefault(edge.target, []).append(edge)
    return side_entries


def _edge_parts(layout: Layout, *, arrow: str) -> list[str]:
    """One `<line>` (or, through a gutter, `<polyline>`) per edge between drawn nodes."""
    parts: list[str] = []
    side_entries = _side_entries(layout)
    for edge in layout.edges:
        source, target = layout.nodes.get(edge.source), layout.nodes.get(edge.target)
        if source is None or target is None:
            continue
        x1, y1, x2, y2 = _anchor_points(source, target, edge.kind)
        siblings = side_entries.get(edge.target, [])
        if edge in siblings and len(siblings) > 1:
            # Several catches into one box: spread their arrowheads along its side.
            y2 = target.y + target.h * (siblings.index(edge) + 1) / (len(siblings) + 1)
        data = f'data-source="{escape(edge.source)}" data-target="{escape(edge.target)}"'
        gutter = layout.gutters.get(edge.target) if edge.kind == "catch" else None
        if gutter is not None:
            # Right to the gutter, down (or up) it, then left into the target's right side.
            x2 = target.x + target.w
            points = (
                f"{x1:.1f},{y1:.1f} {gutter:.1f},{y1:.1f} {gutter:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"
            )
            parts.append(
                f'<polyline class="edge edge--{edge.kind}" points="{points}" fill="none" '
                f'marker-end="{arrow}" {data}/>'
            )
            continue
        parts.append(
            f'<line class="edge edge--{edge.kind}" x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" '
            f'y2="{y2:.1f}" marker-end="{arrow}" {data}/>'
        )
    return parts


def _node_parts(node: Node, status: str) -> list[str]:
    """One state's `<g>`: its box, its name and its status glyph."""
    label = f"{node.name}: {STATUS_LABELS.get(status, status)}"
    current = " is-current" if status in ("running", "final") else ""
    parts = [
        f'<g class="state state--{escape(status)}{current}" data-state="{escape(node.name)}" '
        f'data-status="{escape(status)}">'
        f"<title>{escape(label)}</title>"
        f'<rect x="{node.x:.1f}" y="{node.y:.1f}" width="{node.w:.1f}" height="{node.h:.1f}" '
        f'rx="6"/>'
    ]
    glyph = STATUS_GLYPHS.get(status, "")
    if node.is_group:
        parts.append(
            f'<text x="{node.x + 8:.1f}" y="{node.y + 15:.1f}" class="state__group-name">'
            f"{escape(node.name)} {glyph}</text>"
        )
    else:
        parts.append(
            f'<text x="{node.x + node.w / 2:.1f}" y="{node.y + node.h / 2 + 4.5:.1f}" '
            f'text-anchor="middle">{escape(node.name)}</text>'
        )
        if glyph:
            parts.append(
                f'<text x="{node.x + node.w - 8:.1f}" y="{node.y + 14:.1f}" '
                f'text-anchor="end" class="state__glyph" aria-hidden="true">{glyph}</text>'
            )
    parts.append("</g>")
    return parts
