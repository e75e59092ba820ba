"""HEIF/AVIF (ISO-BMFF) headers, no decoding: the `ftyp` brands and the primary image's geometry.

Pure and Pillow-free, so the trigger can screen brands and validate can cap pixels from the `ispe`
box before any decoder sees the bytes. Every box size is checked against the bytes that hold it:
a box that overruns its parent, a truncated field or a missing primary image raises
`HeifHeaderError`, never an IndexError.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

from qip_shared.av1 import max_frame_size
from qip_shared.bits import BitstreamError
from qip_shared.enums import ImageFormat
from qip_shared.hevc import picture_size

# HEVC-coded image and sequence brands (what phones write), then AV1's, then the generic ones.
HEIC_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis"})
AVIF_BRANDS = frozenset({b"avif", b"avis"})
STRUCTURAL_BRANDS = frozenset({b"mif1", b"msf1"})
IMAGE_BRANDS = HEIC_BRANDS | AVIF_BRANDS | STRUCTURAL_BRANDS
CONTAINER_FORMATS = frozenset({ImageFormat.HEIC, ImageFormat.HEIF, ImageFormat.AVIF})

# HEVC pictures are coded in whole minimum coding blocks (8 to 64 pixels) and cropped back.
HEVC_PADDING = 63
# A hostile file can hold millions of tiny boxes or associations; no real image comes near.
MAX_BOXES = 10_000
MAX_ASSOCIATIONS = 100_000
_MAX_DEPTH = 4

# Transforms as 2x2 integer matrices on (x, y) with y pointing down, applied to the stored image.
Matrix = tuple[int, int, int, int]
_IDENTITY: Matrix = (1, 0, 0, 1)
_ROTATE_CCW: dict[int, Matrix] = {
    0: _IDENTITY,
    1: (0, 1, -1, 0),
    2: (-1, 0, 0, -1),
    3: (0, -1, 1, 0),
}
# imir axis 0 exchanges top and bottom, 1 left and right (as libheif and libavif read it).
_MIRROR: dict[int, Matrix] = {0: (1, 0, 0, -1), 1: (-1, 0, 0, 1)}
# The EXIF orientation (1-8) that displays a stored image by the same transform.
_EXIF_ORIENTATION: dict[Matrix, int] = {
    _IDENTITY: 1,
    (-1, 0, 0, 1): 2,
    (-1, 0, 0, -1): 3,
    (1, 0, 0, -1): 4,
    (0, 1, 1, 0): 5,
    (0, -1, 1, 0): 6,
    (0, -1, -1, 0): 7,
    (0, 1, -1, 0): 8,
}


class HeifHeaderError(ValueError):
    """The container is malformed: a box overruns, a field is cut short, or no primary image."""


@dataclass(frozen=True)
class Box:
    """One box: its four-character type and where its payload lies in the data."""

    kind: bytes
    start: int
    end: int


@dataclass(frozen=True)
class HeifHeader:
    """The primary image as the header describes it: coded size, shown size, orientation."""

    # The `ispe` size: the coded canvas every decoder allocates, so the one the pixel cap counts.
    width: int
    height: int
    # The size a viewer shows: after clap (crop), irot and imir, in their association order.
    displayed_width: int
    displayed_height: int
    # irot/imir of the primary item as one matrix, in their association order.
    transform: Matrix = _IDENTITY
    bit_depth: int | None = None
    # What the codec itself codes (AV1 sequence header, HEVC SPS): what its decoder allocates.
    coded_frame: tuple[int, int] | None = None
    # The codec's padding allowance: HEVC codes whole minimum blocks, cropped back by the SPS.
    coded_padding: int = 0

    @property
    def codes_another_size(self) -> bool:
        """Whether the codec's own header disagrees with `ispe` (beyond block padding)."""
        if self.coded_frame is None:
            return False
        return not all(
            claimed <= coded <= claimed + self.coded_padding
            for coded, claimed in zip(self.coded_frame, (self.width, self.height), strict=True)
        )

    @property
    def pixels(self) -> int:
        """Width x height of the coded primary image."""
        return self.width * self.height

    @property
    def orientation(self) -> int:
        """The EXIF orientation (1-8) equivalent to the primary item's irot/imir."""
        return _EXIF_ORIENTATION[self.transform]

    @property
    def displayed_size(self) -> tuple[int, int]:
        """Width and height as shown (after clap, irot and imir)."""
        return (self.displayed_width, self.displayed_height)

    @property
    def stored_size(self) -> tuple[int, int]:
        """The shown picture before its rotation: what EXIF-oriented formats call width x height."""
        swapped = self.transform[0] == 0  # a quarter turn
        shown = self.displayed_size
        return (shown[1], shown[0]) if swapped else shown


def ftyp_brands(head: bytes) -> list[bytes]:
    """The major brand, then the compatible brands within `head`; [] when there is no ftyp box."""
    if len(head) < 12 or head[4:8] != b"ftyp":
        return []
    size = int.from_bytes(head[:4], "big")
    if size < 16:
        return []
    end = min(size, len(head))
    compatible = [head[pos : pos + 4] for pos in range(16, end - 3, 4)]
    return [head[8:12], *compatible]


def ftyp_format(head: bytes) -> ImageFormat | None:
    """HEIC, HEIF or AVIF as the `ftyp` brands say (the major brand first), else None."""
    brands = ftyp_brands(head)
    if not brands or not IMAGE_BRANDS.intersection(brands):
        return None
    # The major brand decides when it names a codec; else the first codec brand listed does.
    for brand in brands:
        if brand in AVIF_BRANDS:
            return ImageFormat.AVIF
        if brand in HEIC_BRANDS:
            return ImageFormat.HEIC
    return ImageFormat.HEIF


def iter_boxes(data: bytes, start: int, end: int) -> Iterator[Box]:
    """The boxes laid end to end in `data[start:end]`; HeifHeaderError when one overruns."""
    pos = start
    for _ in range(MAX_BOXES):
        if pos >= end:
            return
        if end - pos < 8:
            raise HeifHeaderError(f"a box header at byte {pos} is cut short")
        size = _uint(data, pos, 4, end)
        kind = data[pos + 4 : pos + 8]
        header = 8
        if size == 1:
            size = _uint(data, pos + 8, 8, end)
            header = 16
        elif size == 0:  # the box runs to the end of its parent
            size = end - pos
        if kind == b"uuid":
            header += 16
        if size < header or size > end - pos:
            raise HeifHeaderError(
                f"box {kind!r} at byte {pos} claims {size} bytes; {end - pos} remain"
            )
        yield Box(kind, pos + header, pos + size)
        pos += size
    raise HeifHeaderError(f"more than {MAX_BOXES} boxes")


def read_heif_header(data: bytes) -> HeifHeader:
    """The primary image's `ispe` size, irot/imir and bit depth, read from the `meta` box."""
    meta = _find(iter_boxes(data, 0, len(data)), b"meta")
    if meta is None:
        raise HeifHeaderError("no meta box: no primary image")
    children = list(iter_boxes(data, meta.start + 4, meta.end))  # meta is a FullBox
    pitm = _find(iter(children), b"pitm")
    iprp = _find(iter(children), b"iprp")
    if pitm is None or iprp is None:
        raise HeifHeaderError("the meta box names no primary item or has no properties")
    primary = _uint(data, pitm.start + 4, 2 if data[pitm.start] == 0 else 4, pitm.end)
    properties = _primary_properties(data, iprp, primary)
    header = _header_from(data, properties)
    try:
        return _with_coded_frame(header, data, properties, children, primary)
    except BitstreamError as exc:
        raise HeifHeaderError(f"the coded stream's header: {exc}") from None


def _with_coded_frame(
    header: HeifHeader, data: bytes, properties: list[Box], children: list[Box], primary: int
) -> HeifHeader:
    """The header with the size its codec configuration codes (av1C, hvcC), when it has one."""
    for box in properties:
        if box.kind == b"hvcC":
            frame = picture_size(data[box.start : box.end])
            return replace(header, coded_frame=frame, coded_padding=HEVC_PADDING)
        if box.kind == b"av1C":
            # The sequence header sits in configOBUs, else at the start of the item's data.
            obus = data[box.start + 4 : box.end] or _item_data(data, children, primary)
            return replace(header, coded_frame=max_frame_size(obus) if obus else None)
    return header


def _item_data(data: bytes, meta_children: list[Box], item: int) -> bytes | None:
    """The first extent of `item`'s data as `iloc` places it (in the file or `idat`), or None."""
    iloc = next((box for box in meta_children if box.kind == b"iloc"), None)
    if iloc is None:
        return None
    version, end = data[iloc.start], iloc.end
    sizes = _uint(data, iloc.start + 4, 2, end)
    offset_size, length_size, base_size = sizes >> 12, (sizes >> 8) & 15, (sizes >> 4) & 15
    index_size = sizes & 15 if version in (1, 2) else 0
    id_size = 2 if version < 2 else 4
    count = _uint(data, iloc.start + 6, id_size, end)
    pos = iloc.start + 6 + id_size
    for _ in range(count):
        item_id = _uint(data, pos, id_size, end)
        pos += id_size
        method = _uint(data, pos, 2, end) & 15 if version in (1, 2) else 0
        pos += 2 + (2 if version in (1, 2) else 0)  # construction method, data reference
        base = _sized(data, pos, base_size, end)
        extents = _uint(data, pos + base_size, 2, end)
        pos += base_size + 2
        first: tuple[int, int] | None = None
        for _ in range(extents):
            pos += index_size
            extent = (
                _sized(data, pos, offset_size, end),
                _sized(data, pos + offset_size, length_size, end),
            )
            first = first or extent
            pos += offset_size + length_size
        if item_id == item:
            return _extent_bytes(data, meta_children, method, base, first)
    return None


def _extent_bytes(
    data: bytes, meta_children: list[Box], method: int, base: int, extent: tuple[int, int] | None
) -> bytes | None:
    """The bytes of one extent: construction method 0 is a file offset, 1 an `idat` offset."""
    idat = next((box for box in meta_children if box.kind == b"idat"), None)
    if extent is None or method not in (0, 1) or (method == 1 and idat is None):
        return None
    origin = idat.start if method == 1 and idat is not None else 0
    start = origin + base + extent[0]
    if start >= len(data):
        raise HeifHeaderError(f"the primary item's data starts at byte {start}, past the end")
    return data[start : start + extent[1]] if extent[1] else data[start:]


def _sized(data: bytes, pos: int, size: int, end: int) -> int:
    """An iloc field of 0, 4 or 8 bytes (0 bytes is the value 0)."""
    if size not in (0, 4, 8):
        raise HeifHeaderError(f"an item location field of {size} bytes")
    return _uint(data, pos, size, end) if size else 0


def _primary_properties(data: bytes, iprp: Box, primary: int) -> list[Box]:
    """The property boxes associated with the primary item, in their association order."""
    boxes = list(iter_boxes(data, iprp.start, iprp.end))
    ipco = _find(iter(boxes), b"ipco")
    if ipco is None:
        raise HeifHeaderError("no property container (ipco)")
    container = list(iter_boxes(data, ipco.start, ipco.end))
    indices: list[int] = []
    for ipma in (box for box in boxes if box.kind == b"ipma"):
        indices += _associations(data, ipma, primary)
    # Index 0 means "no property"; an index past the container is a lie.
    if any(index > len(container) for index in indices):
        raise HeifHeaderError("an item property index points past the property container")
    return [container[index - 1] for index in indices if index]


def _associations(data: bytes, ipma: Box, item: int) -> list[int]:
    """The property indices the `ipma` box associates with `item`."""
    version, flags = data[ipma.start], _uint(data, ipma.start + 1, 3, ipma.end)
    id_size, index_size = (2 if version < 1 else 4), (2 if flags & 1 else 1)
    index_mask = 0x7FFF if index_size == 2 else 0x7F  # the top bit flags "essential"
    count = _uint(data, ipma.start + 4, 4, ipma.end)
    pos = ipma.start + 8
    found: list[int] = []
    total = 0
    for _ in range(count):
        entry_item = _uint(data, pos, id_size, ipma.end)
        associations = _uint(data, pos + id_size, 1, ipma.end)
        pos += id_size + 1
        total += associations
        if total > MAX_ASSOCIATIONS:
            raise HeifHeaderError(f"more than {MAX_ASSOCIATIONS} property associations")
        if entry_item == item:
            found += [
                _uint(data, pos + n * index_size, index_size, ipma.end) & index_mask
                for n in range(associations)
            ]
        pos += associations * index_size
        if pos > ipma.end:
            raise HeifHeaderError("the property associations run past their box")
    return found


def _header_from(data: bytes, properties: list[Box]) -> HeifHeader:
    ispe = next((box for box in properties if box.kind == b"ispe"), None)
    if ispe is None:
        raise HeifHeaderError("the primary image has no spatial extent (ispe) property")
    width = _uint(data, ispe.start + 4, 4, ispe.end)
    height = _uint(data, ispe.start + 8, 4, ispe.end)
    if width < 1 or height < 1:
        raise HeifHeaderError(f"the primary image claims a size of {width}x{height}")
    shown = (width, height)
    transform = _IDENTITY
    bit_depth: int | None = None
    for box in properties:
        if box.kind == b"clap":
            shown = _clean_aperture(data, box, shown)
        elif box.kind == b"irot":
            angle = _uint(data, box.start, 1, box.end) & 3
            transform = _compose(_ROTATE_CCW[angle], transform)
            shown = (shown[1], shown[0]) if angle & 1 else shown
        elif box.kind == b"imir":
            transform = _compose(_MIRROR[_uint(data, box.start, 1, box.end) & 1], transform)
        elif bit_depth is None:
            bit_depth = _bit_depth(data, box)
    return HeifHeader(
        width=width,
        height=height,
        displayed_width=shown[0],
        displayed_height=shown[1],
        transform=transform,
        bit_depth=bit_depth,
    )


def _clean_aperture(data: bytes, box: Box, size: tuple[int, int]) -> tuple[int, int]:
    """The size after a `clap` crop: its width and height fractions, rounded, within `size`."""
    fields = [_uint(data, box.start + 4 * n, 4, box.end) for n in range(4)]
    width_n, width_d, height_n, height_d = fields
    if not width_d or not height_d:
        raise HeifHeaderError("the clean aperture (clap) has a zero denominator")
    width = (2 * width_n + width_d) // (2 * width_d)
    height = (2 * height_n + height_d) // (2 * height_d)
    return (min(max(width, 1), size[0]), min(max(height, 1), size[1]))


def _bit_depth(data: bytes, box: Box) -> int | None:
    """Bits per channel from pixi, hvcC or av1C; None from any other property."""
    if box.kind == b"pixi":  # FullBox: channel count, then bits per channel
        return _uint(data, box.start + 5, 1, box.end) or None
    if box.kind == b"hvcC":  # bitDepthLumaMinus8 in the low 3 bits of byte 17
        return 8 + (_uint(data, box.start + 17, 1, box.end) & 7)
    if box.kind == b"av1C":  # high_bitdepth (bit 6) and twelve_bit (bit 5) of byte 2
        flags = _uint(data, box.start + 2, 1, box.end)
        return 12 if flags & 0x60 == 0x60 else 10 if flags & 0x40 else 8
    return None


def _compose(then: Matrix, first: Matrix) -> Matrix:
    """The transform `first` followed by `then` (the matrix product then x first)."""
    a, b, c, d = then
    e, f, g, h = first
    return (a * e + b * g, a * f + b * h, c * e + d * g, c * f + d * h)


def _find(boxes: Iterator[Box], kind: bytes) -> Box | None:
    """The first box of `kind`, reading no further than it."""
    return next((box for box in boxes if box.kind == kind), None)


def _uint(data: bytes, pos: int, size: int, end: int) -> int:
    """A big-endian unsigned integer of `size` bytes at `pos`, which must end by `end`."""
    if pos < 0 or pos + size > min(end, len(data)):
        raise HeifHeaderError(f"a {size}-byte field at byte {pos} runs past its box")
    return int.from_bytes(data[pos : pos + size], "big")
