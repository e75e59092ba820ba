"""Builders of HEIF/AVIF (ISO-BMFF) headers box by box, for tests of the header reader and gates."""

from __future__ import annotations

import struct


def box(kind: bytes, payload: bytes = b"") -> bytes:
    """A plain box: 32-bit size, type, payload."""
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def full_box(kind: bytes, payload: bytes, version: int = 0, flags: int = 0) -> bytes:
    """A FullBox: version and 24-bit flags before the payload."""
    return box(kind, bytes([version]) + flags.to_bytes(3, "big") + payload)


def ispe(width: int, height: int) -> bytes:
    """An image spatial extent property."""
    return full_box(b"ispe", struct.pack(">II", width, height))


def irot(angle: int) -> bytes:
    """An image rotation property (anticlockwise quarter turns)."""
    return box(b"irot", bytes([angle]))


def imir(axis: int) -> bytes:
    """An image mirror property (axis 0: top-bottom, 1: left-right)."""
    return box(b"imir", bytes([axis]))


def clap(width: int, height: int) -> bytes:
    """A clean aperture (centred crop) of whole pixels."""
    return box(b"clap", struct.pack(">IIIIiIiI", width, 1, height, 1, 0, 1, 0, 1))


def ftyp(major: bytes, *compatible: bytes) -> bytes:
    """A file type box: major brand, minor version 0, compatible brands."""
    return box(b"ftyp", major + b"\0\0\0\0" + b"".join(compatible))


def heif_file(*properties: bytes, brand: bytes = b"heic", ipma_version: int = 0) -> bytes:
    """A HEIF header: ftyp, meta (hdlr, pitm, iprp with ipco and ipma), an empty mdat.

    Every property is associated with the primary item (id 1), in order.
    """
    props = properties or (ispe(64, 48),)
    indices = bytes([len(props), *range(1, len(props) + 1)])
    return ftyp(brand, b"mif1", brand) + meta(props, {1: indices}, ipma_version=ipma_version)


def meta(
    properties: tuple[bytes, ...],
    associations: dict[int, bytes],
    *,
    primary: int = 1,
    ipma_version: int = 0,
) -> bytes:
    """A meta box (and an empty mdat): `associations` maps an item id to its count and indices."""
    id_format = ">H" if ipma_version == 0 else ">I"
    entries = b"".join(struct.pack(id_format, item) + raw for item, raw in associations.items())
    ipma = full_box(b"ipma", struct.pack(">I", len(associations)) + entries, version=ipma_version)
    iprp = box(b"iprp", box(b"ipco", b"".join(properties)) + ipma)
    hdlr = full_box(b"hdlr", b"\0\0\0\0pict" + b"\0" * 13)
    pitm = full_box(b"pitm", struct.pack(">H", primary))
    return full_box(b"meta", hdlr + pitm + iprp) + box(b"mdat")


def rewrite_ispe(data: bytes, width: int, height: int) -> bytes:
    """`data` with every `ispe` box claiming `width` x `height` (the payload left as it is)."""
    out = bytearray(data)
    at = out.find(b"ispe")
    while at != -1:
        out[at + 8 : at + 16] = struct.pack(">II", width, height)
        at = out.find(b"ispe", at + 4)
    return bytes(out)
