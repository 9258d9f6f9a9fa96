"""Memoized HPACK Huffman decoding.

hpack decodes Huffman strings bit by bit in Python, and servers send most response header
strings (``server``, ``content-type``, dates, ETags) Huffman-coded again on every response:
in a profile of 1 KiB HTTP/2 GETs against nginx this decoding was the largest single cost.
``install()`` wraps hpack's decoder function with a bounded cache of short strings. The
function is pure (same input, same output; invalid input raises, and exceptions are not
cached), so hpack behaves exactly as before, only faster on repeats.
"""

from __future__ import annotations

import functools

import hpack.hpack

MAX_CACHED_INPUT = 256  # bytes; longer strings (big cookies) are decoded every time
CACHE_ENTRIES = 4096

_original = hpack.hpack.decode_huffman


@functools.lru_cache(maxsize=CACHE_ENTRIES)
def _cached(data: bytes) -> bytes:
    return _original(data)


def decode_huffman(data: object) -> bytes:
    """hpack's ``decode_huffman`` with repeats of short inputs served from the cache."""
    if type(data) is bytes and len(data) <= MAX_CACHED_INPUT:
        return _cached(data)
    return _original(data)  # type: ignore[arg-type]


def install() -> None:
    """Make hpack's decoder use :func:`decode_huffman` (idempotent)."""
    hpack.hpack.decode_huffman = decode_huffman  # type: ignore[assignment]
