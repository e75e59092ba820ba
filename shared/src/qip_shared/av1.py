"""The AV1 sequence header's maximum frame size: what an AV1 decoder allocates, without decoding.

An AVIF's `ispe` box only claims a size; libavif scales whatever frame the AV1 stream codes to it,
so a lie never shows in the decoded image. The sequence header OBU (AV1 spec 5.5) is what the
decoder believes: validate compares it with `ispe` and the pixel cap before any decode.
"""

from __future__ import annotations

from qip_shared.bits import BitReader, BitstreamError

OBU_SEQUENCE_HEADER = 1
# A sequence header comes first in an item's data; past a few OBUs nothing useful follows.
_MAX_OBUS = 8


class Av1HeaderError(BitstreamError):
    """The OBUs or the sequence header are cut short or malformed."""


def max_frame_size(obus: bytes) -> tuple[int, int] | None:
    """The maximum frame width and height of the first sequence header among `obus`, or None."""
    position = 0
    for _ in range(_MAX_OBUS):
        if position >= len(obus):
            return None
        header = obus[position]
        obu_type = (header >> 3) & 0xF
        position += 2 if header & 0x04 else 1  # the extension byte
        if header & 0x02:  # has_size_field
            size, position = _leb128(obus, position)
        else:
            size = len(obus) - position
        if position + size > len(obus):
            raise Av1HeaderError(f"an OBU claims {size} bytes; {len(obus) - position} remain")
        if obu_type == OBU_SEQUENCE_HEADER:
            try:
                return _sequence_header_size(BitReader(obus[position : position + size]))
            except BitstreamError as exc:
                raise Av1HeaderError(f"the sequence header: {exc}") from None
        position += size
    return None


def _leb128(data: bytes, position: int) -> tuple[int, int]:
    value = 0
    for index in range(8):
        if position + index >= len(data):
            raise Av1HeaderError("an OBU size is cut short")
        byte = data[position + index]
        value |= (byte & 0x7F) << (7 * index)
        if not byte & 0x80:
            return value, position + index + 1
    raise Av1HeaderError("an OBU size runs over eight bytes")


def _sequence_header_size(reader: BitReader) -> tuple[int, int]:
    """Parse up to max_frame_width/height_minus_1 (AV1 spec 5.5.1)."""
    reader.bits(3)  # seq_profile
    reader.bits(1)  # still_picture
    if reader.bits(1):  # reduced_still_picture_header
        reader.bits(5)  # seq_level_idx[0]
    else:
        _operating_points(reader)
    width_bits = reader.bits(4) + 1
    height_bits = reader.bits(4) + 1
    return reader.bits(width_bits) + 1, reader.bits(height_bits) + 1


def _operating_points(reader: BitReader) -> None:
    """Skip timing info and the operating points of a full sequence header."""
    buffer_delay_bits = 0
    decoder_model_info = False
    if reader.bits(1):  # timing_info_present_flag
        reader.bits(32)  # num_units_in_display_tick
        reader.bits(32)  # time_scale
        if reader.bits(1):  # equal_picture_interval
            reader.uvlc()  # num_ticks_per_picture_minus_1
        decoder_model_info = bool(reader.bits(1))
        if decoder_model_info:
            buffer_delay_bits = reader.bits(5) + 1
            reader.bits(32)  # num_units_in_decoding_tick
            reader.bits(5)  # buffer_removal_time_length_minus_1
            reader.bits(5)  # frame_presentation_time_length_minus_1
    initial_display_delay = bool(reader.bits(1))
    for _ in range(reader.bits(5) + 1):  # operating_points_cnt_minus_1
        reader.bits(12)  # operating_point_idc
        if reader.bits(5) > 7:  # seq_level_idx
            reader.bits(1)  # seq_tier
        if decoder_model_info and reader.bits(1):  # decoder_model_present_for_this_op
            reader.bits(2 * buffer_delay_bits + 1)  # buffer delays and low_delay_mode_flag
        if initial_display_delay and reader.bits(1):
            reader.bits(4)  # initial_display_delay_minus_1
