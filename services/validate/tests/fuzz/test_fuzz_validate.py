"""A bounded fuzzing session over validate's core: mutated corpus files (bit flips, overwrites,
insertions, deletions, truncation, splices, header-field bumps) never crash `validate_image`;
the only failure it may raise is the typed `InvalidImageError`, and what it accepts is sane.

Time-boxed: `QIP_FUZZ_SECONDS` (default 5 here; `nox -s fuzz` runs longer), in rounds of
`QIP_FUZZ_EXAMPLES` hypothesis examples, each round with its own seed (`QIP_FUZZ_SEED` + n).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from qip_shared.enums import ImageFormat, RejectionReason
from qip_shared.errors import InvalidImageError
from qip_validate.core import validate_image

FUZZ_SECONDS = float(os.environ.get("QIP_FUZZ_SECONDS", "5"))
EXAMPLES_PER_ROUND = int(os.environ.get("QIP_FUZZ_EXAMPLES", "200"))
FIRST_SEED = int(os.environ.get("QIP_FUZZ_SEED", "0"))
# A lower pixel cap than production keeps a mutated header's honest decode small on CI.
LIMITS = {"max_bytes": 10 * 1024 * 1024, "max_pixels": 16_000_000}
HEADER_BYTES = 96  # most format decisions are made in the first bytes
MUTATIONS = ("flip", "set", "insert", "delete", "truncate", "splice", "bump", "repeat")


@pytest.fixture(scope="module")
def seeds(corpus_dir: Path) -> list[bytes]:
    """Every corpus file (valid images, bombs, corrupt files, non-images) as a starting point."""
    files = sorted(p for p in corpus_dir.iterdir() if p.name not in ("manifest.json", "README.md"))
    return [p.read_bytes() for p in files]


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """A corpus file with 1-8 random mutations, mostly in its header."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 8))):
        size = len(data)
        if size == 0:
            data += draw(st.binary(min_size=1, max_size=32))
            continue
        head = st.integers(0, min(size, HEADER_BYTES) - 1)
        where = draw(head | st.integers(0, size - 1))
        kind = draw(st.sampled_from(MUTATIONS))
        if kind == "flip":
            data[where] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set":
            data[where] = draw(st.sampled_from([0x00, 0xFF, 0x7F, 0x80, 0x01]))
        elif kind == "insert":
            data[where:where] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del data[where : where + draw(st.integers(1, 16))]
        elif kind == "truncate":
            del data[where:]
        elif kind == "splice":
            other = draw(st.sampled_from(seeds))
            start = draw(st.integers(0, max(0, len(other) - 1)))
            data[where : where + 64] = other[start : start + 64]
        elif kind == "bump":
            # Width/height/length fields: a 2- or 4-byte big or little endian maximum.
            data[where : where + 2] = draw(st.sampled_from([b"\xff\xff", b"\x00\x00", b"\x7f\xff"]))
        else:
            chunk = bytes(data[where : where + draw(st.integers(1, 64))])
            data[where:where] = chunk * draw(st.integers(2, 50))
    return bytes(data)


def test_mutated_corpus_files_never_crash_validate(seeds: list[bytes]) -> None:
    # Issue 8 (fuzzing): hostile bytes end in a typed rejection or a sane acceptance, never a
    # crash; a property of the stage, not one of the design's 12 numbered properties.
    tally = {"accepted": 0, "rejected": 0}
    reasons: set[RejectionReason] = set()

    def check(data: bytes) -> None:
        try:
            result = validate_image(data, **LIMITS)
        except InvalidImageError as rejection:
            reasons.add(rejection.reason)
            tally["rejected"] += 1
            return
        tally["accepted"] += 1
        assert result.format in set(ImageFormat)
        assert result.width >= 1
        assert result.height >= 1
        assert result.frames >= 1
        assert result.pixels <= LIMITS["max_pixels"]

    deadline = time.monotonic() + FUZZ_SECONDS
    rounds = 0
    while rounds == 0 or time.monotonic() < deadline:
        run = settings(
            max_examples=EXAMPLES_PER_ROUND,
            deadline=None,
            database=None,
            phases=[Phase.generate, Phase.shrink],
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )(seed(FIRST_SEED + rounds)(given(data=mutated(seeds))(check)))
        run()
        rounds += 1
    print(
        f"\nfuzzed validate for {FUZZ_SECONDS:.0f}s: {rounds} rounds, "
        f"{tally['accepted']} accepted, {tally['rejected']} rejected, 0 crashes"
    )
    assert tally["rejected"] > 0
    assert reasons <= set(RejectionReason)
