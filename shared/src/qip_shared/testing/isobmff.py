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


def exp_golomb(value: int) -> str:
    """The ue(v) bits of `value`."""
    code = format(value + 1, "b")
    return "0" * (len(code) - 1) + code


def hvcc(width: int, height: int, *, sub_layers: int = 0, chroma: int = 1) -> bytes:
    """An `hvcC` property whose one SPS codes a `width` x `height` picture."""
    bits = "0000" + format(sub_layers, "03b") + "1" + "1" + "0" * 95  # ids, PTL (one bit set)
    bits += "11" * sub_layers + "00" * (8 - sub_layers if sub_layers else 0)
    bits += ("1" + "0" * 87 + "1" + "0" * 7) * sub_layers  # each sub-layer's profile and level
    bits += exp_golomb(0) + exp_golomb(chroma) + ("0" if chroma == 3 else "")
    bits += exp_golomb(width) + exp_golomb(height) + "1"
    bits += "0" * (-len(bits) % 8)
    rbsp = int(bits, 2).to_bytes(len(bits) // 8, "big")
    # Emulation prevention: no 00 00 0x (x <= 3) may appear in the NAL unit.
    escaped = bytearray()
    zeros = 0
    for byte in rbsp:
        if zeros >= 2 and byte <= 3:
            escaped.append(3)
            zeros = 0
        escaped.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    nal = bytes([33 << 1, 1]) + bytes(escaped)
    array = bytes([0x80 | 33]) + struct.pack(">HH", 1, len(nal)) + nal
    return box(b"hvcC", bytes([1]) + b"\0" * 21 + bytes([1]) + array)
