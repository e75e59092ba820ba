"""The HEVC sequence parameter set's picture size: what an HEVC decoder allocates, no decoding.

A HEIC's `ispe` box only claims a size; libheif notices a disagreement only after the HEVC
decoder has allocated the picture the SPS codes. Reading `pic_width/height_in_luma_samples`
from the `hvcC` property (H.265 7.3.2.2) lets validate refuse the lie before any decode.
"""

from __future__ import annotations

from qip_shared.bits import BitReader, BitstreamError

NAL_SPS = 33
_CONFIG_HEADER = 22  # hvcC bytes before numOfArrays
_PROFILE_TIER_LEVEL_BITS = 96  # general profile space .. general_level_idc
_SUB_LAYER_PROFILE_BITS = 88
_SUB_LAYER_LEVEL_BITS = 8


class HevcHeaderError(BitstreamError):
    """The hvcC record or its SPS is cut short or malformed."""


def picture_size(hvcc: bytes) -> tuple[int, int] | None:
    """The coded picture size of the first SPS in an `hvcC` payload, or None without one."""
    sps = _first_sps(hvcc)
    if sps is None:
        return None
    try:
        return _sps_size(BitReader(_rbsp(sps[2:])))  # past the two-byte NAL header
    except BitstreamError as exc:
        raise HevcHeaderError(f"the sequence parameter set: {exc}") from None


def _first_sps(hvcc: bytes) -> bytes | None:
    """The first SPS NAL unit among the hvcC arrays."""
    if len(hvcc) <= _CONFIG_HEADER:
        raise HevcHeaderError("the hvcC record is cut short")
    position = _CONFIG_HEADER + 1
    for _ in range(hvcc[_CONFIG_HEADER]):  # numOfArrays
        if position + 3 > len(hvcc):
            raise HevcHeaderError("an hvcC array header is cut short")
        nal_type = hvcc[position] & 0x3F
        count = int.from_bytes(hvcc[position + 1 : position + 3], "big")
        position += 3
        for _ in range(count):
            length = int.from_bytes(hvcc[position : position + 2], "big")
            unit = hvcc[position + 2 : position + 2 + length]
            if position + 2 > len(hvcc) or len(unit) != length:
                raise HevcHeaderError("an hvcC NAL unit runs past its record")
            if nal_type == NAL_SPS and length > 2:
                return unit
            position += 2 + length
    return None


def _rbsp(payload: bytes) -> bytes:
    """The payload without its emulation-prevention bytes (the 03 of every 00 00 03)."""
    out = bytearray()
    zeros = 0
    for byte in payload:
        if zeros >= 2 and byte == 3:
            zeros = 0
            continue
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


def _sps_size(reader: BitReader) -> tuple[int, int]:
    """Parse up to pic_width/height_in_luma_samples (H.265 7.3.2.2.1)."""
    reader.bits(4)  # sps_video_parameter_set_id
    sub_layers = reader.bits(3)  # sps_max_sub_layers_minus1
    reader.bits(1)  # sps_temporal_id_nesting_flag
    reader.bits(_PROFILE_TIER_LEVEL_BITS)
    present = [(reader.bits(1), reader.bits(1)) for _ in range(sub_layers)]
    if sub_layers:
        reader.bits(2 * (8 - sub_layers))  # reserved_zero_2bits
    for profile_present, level_present in present:
        reader.bits(_SUB_LAYER_PROFILE_BITS * profile_present)
        reader.bits(_SUB_LAYER_LEVEL_BITS * level_present)
    reader.uvlc()  # sps_seq_parameter_set_id
    if reader.uvlc() == 3:  # chroma_format_idc 4:4:4
        reader.bits(1)  # separate_colour_plane_flag
    width, height = reader.uvlc(), reader.uvlc()
    if not width or not height:
        raise HevcHeaderError(f"the SPS codes a {width}x{height} picture")
    return width, height
