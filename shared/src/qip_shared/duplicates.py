"""Finding the original of a duplicate upload without a Scan (issue 18): contract and rules.

Exact copies share `contentSha256` (an index on it). Near copies have perceptual hashes within
`NEAR_COPY_MAX_DISTANCE` bits; the 64-bit hash is stored as `HASH_BANDS` 16-bit bands, each an
indexed attribute, so candidates are the images sharing at least one band (any pair within
`HASH_BANDS - 1` bits always does), and the Hamming distance decides. The threshold is the one
`benchmarks/duplicates.py` measured on the corpus and its resized, re-encoded and cropped copies.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

HASH_BANDS = 4
"""The 64-bit perceptual hash is split into this many bands, each an indexed attribute."""
NEAR_COPY_MAX_DISTANCE = 10
"""Two perceptual hashes at most this many bits apart are near copies. Measured (`nox -s bench`,
render part): no false match at any threshold up to 16 over ~70,000 pairs of different pictures,
whose closest pair is 16 bits apart; 10 keeps 6 bits of margin, and missed matches fall little
beyond it."""
BAND_ATTRIBUTES = tuple(f"perceptualHashBand{i}" for i in range(HASH_BANDS))


def hamming(first: str, second: str) -> int:
    """How many bits two hex hashes differ in."""
    return (int(first, 16) ^ int(second, 16)).bit_count()


def hash_bands(perceptual_hash: str) -> tuple[str, ...]:
    """The hash split into HASH_BANDS equal hex bands, in order."""
    width = len(perceptual_hash) // HASH_BANDS
    return tuple(perceptual_hash[i * width : (i + 1) * width] for i in range(HASH_BANDS))


def band_fields(perceptual_hash: str) -> dict[str, str]:
    """The record attributes (one per band) the near-copy indexes are built on."""
    return dict(zip(BAND_ATTRIBUTES, hash_bands(perceptual_hash), strict=True))


@dataclass(frozen=True)
class Candidate:
    """A COMPLETED image an index returned for this one."""

    image_key: str
    upload_timestamp: str
    perceptual_hash: str | None = None
    exact: bool = False

    @classmethod
    def from_item(cls, item: dict[str, Any], *, exact: bool) -> Candidate:
        """From a DynamoDB index item (low-level attribute values)."""
        phash = item.get("perceptualHash", {}).get("S")
        return cls(item["imageKey"]["S"], item["uploadTimestamp"]["S"], phash, exact)


def is_copy(candidate: Candidate, perceptual_hash: str | None) -> bool:
    """An exact copy, or a near copy within NEAR_COPY_MAX_DISTANCE bits."""
    if candidate.exact:
        return True
    if perceptual_hash is None or candidate.perceptual_hash is None:
        return False
    return hamming(candidate.perceptual_hash, perceptual_hash) <= NEAR_COPY_MAX_DISTANCE


def choose_original(
    image_key: str, candidates: Iterable[Candidate], perceptual_hash: str | None
) -> str | None:
    """The key of the earliest uploaded copy among `candidates` (never the image itself)."""
    copies = [c for c in candidates if c.image_key != image_key and is_copy(c, perceptual_hash)]
    if not copies:
        return None
    return min(copies, key=lambda c: (c.upload_timestamp, c.image_key)).image_key
