"""The accepted image formats recognised by their leading bytes: magic numbers and ISO-BMFF brands.

One definition for the trigger's screen and validate's check, so the two never disagree.
"""

from __future__ import annotations

from qip_shared.enums import ImageFormat
from qip_shared.isobmff import ftyp_format

SNIFF_BYTES = 64
"""Leading bytes enough to decide: the longest magic, or an `ftyp` box with a dozen brands."""

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"
GIF_MAGICS = (b"GIF87a", b"GIF89a")
ACCEPTED_NAMES = "JPEG, PNG, GIF, WebP, HEIC/HEIF or AVIF"


def sniff_format(head: bytes) -> ImageFormat | None:
    """The accepted format the first bytes announce, or None for anything else."""
    if head.startswith(JPEG_MAGIC):
        return ImageFormat.JPEG
    if head.startswith(PNG_MAGIC):
        return ImageFormat.PNG
    if head[:6] in GIF_MAGICS:
        return ImageFormat.GIF
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return ImageFormat.WEBP
    return ftyp_format(head)
