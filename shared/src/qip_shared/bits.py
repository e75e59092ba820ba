"""A big-endian bit reader for codec headers (AV1 sequence headers, HEVC parameter sets)."""

from __future__ import annotations


class BitstreamError(ValueError):
    """A read ran past the end of the bits given."""


class BitReader:
    """Big-endian bit reader over bytes; BitstreamError when a read runs past the end."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.position = 0

    def bits(self, count: int) -> int:
        """The next `count` bits as an unsigned integer (AV1's f(n), HEVC's u(n))."""
        if self.position + count > len(self.data) * 8:
            raise BitstreamError("the header is cut short")
        value = 0
        for _ in range(count):
            byte = self.data[self.position >> 3]
            value = (value << 1) | ((byte >> (7 - (self.position & 7))) & 1)
            self.position += 1
        return value

    def uvlc(self) -> int:
        """An Exp-Golomb unsigned integer (AV1's uvlc(), HEVC's ue(v))."""
        leading_zeros = 0
        while not self.bits(1):
            leading_zeros += 1
            if leading_zeros >= 32:
                return (1 << 32) - 1
        return self.bits(leading_zeros) + (1 << leading_zeros) - 1
