"""Request bodies read into a reused buffer: no chunk is changed while anything holds it.

``body_chunks`` reads a ``body_stream`` that has ``readinto`` into one buffer again and again
and hands out views of it; the HTTP/1.1 driver lets the transport buffer at most a byte
before it waits for the transport to drain, and tells ``body_chunks`` whether the
transport still holds the last chunk. These tests check the contract directly and end to
end through a server that reads slowly (so the transport keeps data), over TCP and TLS.
"""

from __future__ import annotations

import asyncio
import io
import types
from typing import Any, List

import pytest

from crt_http.aio._driver import body_chunks
from crt_http.http import HttpHeaders, HttpRequest
from tests.clients import connect
from tests.h1_support import tls_options
from tests.servers.common import PatternChecker, pattern

pytestmark = pytest.mark.both_loops

SIZE = 6 * 1024 * 1024 + 123


class PatternStream(io.RawIOBase):
    """``size`` bytes of the test pattern through ``readinto`` only (no ``read1``)."""

    def __init__(self, size: int) -> None:
        self.left = size
        self.offset = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        n = min(len(b), self.left, 100_000)
        b[:n] = pattern(n, self.offset)
        self.offset += n
        self.left -= n
        return n


def core_for(stream: Any) -> Any:
    """What body_chunks reads from a stream core: its request and generator."""
    request = HttpRequest("PUT", "/", HttpHeaders([("Host", "x")]), stream)
    return types.SimpleNamespace(body_generator=None, request=request, where=lambda: "test")


async def collect(buffer_free: Any) -> List[memoryview]:
    return [chunk async for chunk in body_chunks(core_for(PatternStream(350_000)), buffer_free)]


async def test_chunks_kept_by_someone_are_never_overwritten():
    chunks = await collect(lambda: False)
    assert b"".join(chunks) == pattern(350_000)
    assert len({id(chunk.obj) for chunk in chunks}) == len(chunks) == 4


async def test_a_free_buffer_is_read_into_again():
    seen = []
    async for chunk in body_chunks(core_for(PatternStream(350_000)), lambda: True):
        seen.append((chunk.obj, bytes(chunk)))
    assert all(obj is seen[0][0] for obj, _ in seen)
    assert b"".join(data for _, data in seen) == pattern(350_000)


def slow_reader(results: List[Any]) -> Any:
    """A handler reading one PUT body in small pieces with pauses, checking the pattern."""
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length")))
        checker = PatternChecker()
        for i in range(length):  # bounded: at least one byte per read
            if checker.count >= length:
                break
            checker.feed(await reader.read(min(16384, length - checker.count)))
            if i % 8 == 0:
                await asyncio.sleep(0.002)
        results.append((checker.count, checker.first_mismatch))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
    return handler


@pytest.mark.parametrize("tls", [False, True], ids=["tcp", "tls"])
async def test_upload_through_a_slow_reader_arrives_intact(tls, raw_server, ca, loop_impl):
    results: List[Any] = []
    server = raw_server(slow_reader(results), tls=tls)
    kwargs = {"tls_connection_options": tls_options(ca.ca_file)} if tls else {}
    conn = await connect("aio", "h1", "127.0.0.1" if not tls else "localhost", server.port,
                         loop_impl=loop_impl, **kwargs)
    try:
        r = await conn.request("PUT", "/", [("Content-Length", str(SIZE))],
                               body=PatternStream(SIZE), timeout=30)
    finally:
        await conn.close()
    assert (r.status, r.body) == (200, b"ok")
    assert results == [(SIZE, None)]
