"""The ingest screen: declared size and type first, then the magic bytes."""

from __future__ import annotations

from dataclasses import dataclass

from qip_shared.enums import ImageFormat, RejectionReason
from qip_shared.signatures import ACCEPTED_NAMES, sniff_format


@dataclass(frozen=True)
class Rejection:
    """Why an upload is refused at ingest: a stable reason code and a human message."""

    reason: RejectionReason
    message: str


def screen_declared(size: int, content_type: str, max_bytes: int) -> Rejection | None:
    """Refuse on what S3 says about the object (size, declared type), before reading it."""
    if size > max_bytes:
        return Rejection(
            RejectionReason.TOO_LARGE, f"object is {size} bytes; the limit is {max_bytes}"
        )
    if size == 0:
        return Rejection(RejectionReason.UNSUPPORTED_FORMAT, "object is empty")
    if ImageFormat.from_content_type(content_type) is None:
        shown = content_type[:100] or "none"
        return Rejection(
            RejectionReason.UNSUPPORTED_FORMAT, f"content type {shown!r} is not an accepted image"
        )
    return None


def screen_content(head: bytes) -> Rejection | None:
    """Refuse when the first bytes are not an accepted format's signature (or ftyp brand)."""
    if sniff_format(head) is None:
        return Rejection(
            RejectionReason.UNSUPPORTED_FORMAT,
            f"file signature is not {ACCEPTED_NAMES}",
        )
    return None


def screen(size: int, content_type: str, head: bytes, max_bytes: int) -> Rejection | None:
    """The ingest verdict: a rejection, or None to accept (validate decodes later)."""
    return screen_declared(size, content_type, max_bytes) or screen_content(head)
