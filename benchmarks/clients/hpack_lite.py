"""A minimal HPACK (RFC 7541) decoder for the raw HTTP/2 ceiling.

Exact dynamic-table semantics (nginx indexes its response headers), but Huffman strings are
decoded once and cached by their encoded bytes, so a steady stream of identical responses
costs a few dict look-ups instead of a bit-by-bit Huffman walk per header.
"""

from __future__ import annotations

from collections import deque

from hpack.huffman_table import decode_huffman
from hpack.table import HeaderTable

STATIC = HeaderTable.STATIC_TABLE
NSTATIC = len(STATIC)
CACHE_MAX = 4096


class HpackError(Exception):
    """A malformed header block."""


class Decoder:
    """Decode header blocks into [(name, value)] bytes pairs."""

    def __init__(self, max_size: int = 4096) -> None:
        self.dyn: deque[tuple[bytes, bytes]] = deque()
        self.size = 0
        self.max_size = max_size              # the table size we announced (SETTINGS)
        self.limit = max_size                 # the size the encoder chose (<= max_size)
        self._huff: dict[bytes, bytes] = {}

    @staticmethod
    def _int(data: bytes, pos: int, bits: int) -> tuple[int, int]:
        mask = (1 << bits) - 1
        value = data[pos] & mask
        pos += 1
        if value < mask:
            return value, pos
        shift = 0
        for _ in range(5):                    # RFC 7541 5.1; 5 bytes cover 2^32
            b = data[pos]
            pos += 1
            value += (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return value, pos
        raise HpackError("integer too long")

    def _str(self, data: bytes, pos: int) -> tuple[bytes, int]:
        huff = data[pos] & 0x80
        n, pos = self._int(data, pos, 7)
        raw = data[pos:pos + n]
        if len(raw) != n:
            raise HpackError("truncated string")
        pos += n
        if not huff:
            return raw, pos
        s = self._huff.get(raw)
        if s is None:
            s = decode_huffman(raw)
            if len(self._huff) < CACHE_MAX:
                self._huff[raw] = s
        return s, pos

    def _get(self, idx: int) -> tuple[bytes, bytes]:
        if 0 < idx <= NSTATIC:
            return STATIC[idx - 1]
        try:
            return self.dyn[idx - NSTATIC - 1]
        except IndexError:
            raise HpackError(f"index {idx} out of range") from None

    def _add(self, name: bytes, value: bytes) -> None:
        self.dyn.appendleft((name, value))
        self.size += 32 + len(name) + len(value)
        self._evict()

    def _evict(self) -> None:
        while self.size > self.limit and self.dyn:
            n, v = self.dyn.pop()
            self.size -= 32 + len(n) + len(v)

    def decode(self, data: bytes) -> list[tuple[bytes, bytes]]:
        out: list[tuple[bytes, bytes]] = []
        pos, end = 0, len(data)
        for _ in range(end):                  # bounded: every field consumes >= 1 byte
            if pos >= end:
                return out
            b = data[pos]
            if b & 0x80:                      # indexed field
                idx, pos = self._int(data, pos, 7)
                out.append(self._get(idx))
                continue
            if b & 0xE0 == 0x20:              # dynamic table size update
                size, pos = self._int(data, pos, 5)
                if size > self.max_size:
                    raise HpackError(f"table size {size} over {self.max_size}")
                self.limit = size
                self._evict()
                continue
            indexing = b & 0xC0 == 0x40
            idx, pos = self._int(data, pos, 6 if indexing else 4)
            if idx:
                name = self._get(idx)[0]
            else:
                name, pos = self._str(data, pos)
            value, pos = self._str(data, pos)
            out.append((name, value))
            if indexing:
                self._add(name, value)
        if pos >= end:
            return out
        raise HpackError("header block not consumed")  # pragma: no cover
