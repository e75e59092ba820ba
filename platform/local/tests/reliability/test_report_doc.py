"""The committed docs/reliability.md is what `nox -s reports` generates (figures vary by run).

The run's numbers differ from run to run, so this compares what does not: the generated head,
the sections in the generator's order, and the invariants every run asserts (nothing lost, no
duplicate execution or output). It needs no system run.
"""

from __future__ import annotations

import re
from pathlib import Path

REPORT = Path(__file__).resolve().parents[4] / "docs" / "reliability.md"
# The first heading of each section, in the order the report fixture writes them.
SECTIONS = (
    "## Random transient faults",
    "## Permanent faults",
    "## Duplicate and out-of-order delivery",
    "## Hostile input",
    "## Privacy",
)
ZERO_ROWS = (
    "lost (uploads - terminal records - DLQ)",
    "duplicate executions",
    "duplicate outputs (keys beyond resized, thumbnail, 3 archived)",
    "lost",
)


def test_the_report_has_the_generated_head_and_sections_in_order(report_head: str) -> None:
    text = REPORT.read_text()
    assert text.startswith(report_head + "\n")
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings == list(SECTIONS)


def test_the_report_states_nothing_lost_and_nothing_duplicated() -> None:
    rows = dict(re.findall(r"^\| (.+?) \| (.+?) \|$", REPORT.read_text(), flags=re.MULTILINE))
    for name in ZERO_ROWS:
        assert rows.get(name) == "0", name
