"""Limits on what a server controls, each crossed on purpose (see crt_http/aio/_options.py).

HTTP/1.1 (raw server): header field count (500), trailers, chunk-size line with extensions.
HTTP/2 (scripted peer): header list size (default 64 KiB and a custom value, advertised as
SETTINGS_MAX_HEADER_LIST_SIZE and enforced before the server ACKs it), header count,
CONTINUATION frame count (a flood of 10,000 fails fast), encoded header block size.
Body buffering: an aio consumer that does not read holds at most the high-water mark
(automatic window) or the window (manual), on both protocols.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Dict, List, Tuple

import pytest
from hyperframe.frame import ContinuationFrame, HeadersFrame

from crt_http.aio._options import DEFAULT_HIGH_WATER_MARK, MAX_RESPONSE_HEADER_COUNT
from tests.clients import connect
from tests.faults.h2peer import H2Peer, script_server
from tests.faults.support import OPEN, assert_settled, expect_error
from tests.servers.common import pattern

API = pytest.mark.parametrize("api", ["aio", "sync"])
PROTOCOL = "AWS_ERROR_HTTP_PROTOCOL_ERROR"
LIST_SIZE = 6  # SETTINGS_MAX_HEADER_LIST_SIZE


def h1_head(fields: int, extra: bytes = b"") -> bytes:
    lines = b"".join(b"x-%d: v\r\n" % i for i in range(fields))
    return b"HTTP/1.1 200 OK\r\n" + lines + b"Content-Length: 2\r\n" + extra + b"\r\nok"


@API
@pytest.mark.parametrize("fields,fails", [(MAX_RESPONSE_HEADER_COUNT - 1, False),
                                          (MAX_RESPONSE_HEADER_COUNT + 1, True)])
async def test_h1_header_count(api, fields, fails, raw_server, loop_impl):
    server = raw_server(responses=[h1_head(fields)])
    conn = await connect(api, "h1", "127.0.0.1", server.port, loop_impl=loop_impl)
    try:
        if fails:
            exc = await expect_error(conn.request(), PROTOCOL)
            assert "header fields" in exc.message
        else:
            response = await conn.request()
            assert len(response.headers) == MAX_RESPONSE_HEADER_COUNT and response.body == b"ok"
    finally:
        await conn.close()


CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"


@API
@pytest.mark.parametrize("case,body,fails", [
    ("short-extension", b"5;name=value\r\nhello\r\n0\r\n\r\n", False),
    ("extension-past-limit", b"5;x=" + b"a" * 200_000 + b"\r\nhello\r\n0\r\n\r\n", True),
    ("trailer-count", b"0\r\n" + b"".join(b"t-%d: v\r\n" % i for i in range(600)) + b"\r\n", True),
    ("trailer-size", b"0\r\nt: " + b"v" * 70_000 + b"\r\n\r\n", True),
])
async def test_h1_chunked_framing_limits(api, case, body, fails, raw_server, loop_impl):
    """A chunk-size line (size and extensions) is bounded by max_response_header_bytes plus
    one 64 KiB read; trailers by the head limits."""
    server = raw_server(responses=[CHUNKED + body])
    conn = await connect(api, "h1", "127.0.0.1", server.port, loop_impl=loop_impl)
    try:
        if fails:
            await expect_error(conn.request(), PROTOCOL)
        else:
            assert (await conn.request()).body == b"hello"
    finally:
        await conn.close()


def respond_with(headers: List[Tuple[str, str]], seen: Dict[int, int], ack: bool = True,
                 huffman: bool = True) -> Any:
    async def script(peer: H2Peer) -> None:
        seen.update(await peer.handshake(ack=ack))
        sid = await peer.request()
        block = peer.block(200, headers, huffman=huffman)
        peer.send(HeadersFrame(sid, block, flags=["END_HEADERS"]), peer.data(sid, b"ok", True))
    return script


def fields(count: int, size: int) -> List[Tuple[str, str]]:
    return [(f"x-{i:04d}", "v" * size) for i in range(count)]


# new() kwargs, advertised list size, header fields sent, server ACKs our SETTINGS, fails
H2_LIST = [
    ({}, 65536, fields(60, 1000), True, False),
    ({}, 65536, fields(70, 1000), True, True),
    ({"max_response_header_bytes": 4096}, 4096, fields(3, 1000), True, False),
    ({"max_response_header_bytes": 4096}, 4096, fields(5, 1000), True, True),
    ({"max_response_header_bytes": 4096}, 4096, fields(5, 1000), False, True),
]


@API
@pytest.mark.parametrize("kwargs,advertised,headers,ack,fails", H2_LIST,
                         ids=["default-under", "default-over", "custom-under", "custom-over",
                              "custom-over-before-ack"])
async def test_h2_header_list_size(api, kwargs, advertised, headers, ack, fails, raw_server, loop_impl):
    seen: Dict[int, int] = {}
    server = script_server(raw_server, respond_with(headers, seen, ack=ack))
    conn = await connect(api, "h2", "127.0.0.1", server.port, loop_impl=loop_impl, **kwargs)
    try:
        if fails:
            exc = await expect_error(conn.request(), PROTOCOL)
            assert str(advertised) in exc.message
            await assert_settled(conn, shutdown=PROTOCOL)
        else:
            response = await conn.request()
            assert response.body == b"ok" and len(response.headers) >= len(headers)
        assert seen[LIST_SIZE] == advertised
    finally:
        await conn.close()


@API
async def test_h2_header_count_resets_only_that_stream(api, raw_server, loop_impl):
    async def script(peer: H2Peer) -> None:
        await peer.handshake()
        sid = await peer.request()
        peer.send(peer.head(sid, 200, fields(MAX_RESPONSE_HEADER_COUNT + 1, 1), end_stream=True))
        sid = await peer.request()
        peer.send(peer.head(sid, 200, fields(10, 1)), peer.data(sid, b"ok", True))

    server = script_server(raw_server, script)
    conn = await connect(api, "h2", "127.0.0.1", server.port, loop_impl=loop_impl)
    try:
        exc = await expect_error(conn.request(), PROTOCOL)
        assert "fields" in exc.message
        assert (await conn.request()).body == b"ok"
        await assert_settled(conn, shutdown=OPEN)
    finally:
        await conn.close()


@API
@pytest.mark.parametrize("frames,fails", [(60, False), (10_000, True)])
async def test_h2_continuation_flood(api, frames, fails, raw_server, loop_impl):
    """h2 buffers at most 64 CONTINUATION frames per block: 10,000 tiny ones fail fast."""
    async def script(peer: H2Peer) -> None:
        await peer.handshake()
        sid = await peer.request()
        peer.send(HeadersFrame(sid, b"", flags=[]))
        peer.send(b"".join(ContinuationFrame(sid, b"").serialize() for _ in range(frames)))
        peer.send(ContinuationFrame(sid, peer.block(200), flags=["END_HEADERS"]),
                  peer.data(sid, b"ok", True))

    server = script_server(raw_server, script)
    conn = await connect(api, "h2", "127.0.0.1", server.port, loop_impl=loop_impl)
    try:
        started = time.monotonic()
        if fails:
            exc = await expect_error(conn.request(), PROTOCOL)
            assert "continuation" in exc.message.lower()
            assert time.monotonic() - started < 1.0
        else:
            assert (await conn.request()).body == b"ok"
    finally:
        await conn.close()


@API
async def test_h2_encoded_header_block_bounded_before_decoding(api, raw_server, loop_impl):
    """100 KB of literal (non-Huffman) fields in 4 KB CONTINUATION frames: refused once the
    buffered block passes the limit, not after 64 frames of up to MAX_FRAME_SIZE each."""
    async def script(peer: H2Peer) -> None:
        await peer.handshake()
        sid = await peer.request()
        block = peer.block(200, fields(100, 1000), huffman=False)
        peer.send(HeadersFrame(sid, block[:4000]))
        for offset in range(4000, len(block), 4000):
            peer.send(ContinuationFrame(sid, block[offset:offset + 4000]))
        peer.send(ContinuationFrame(sid, b"", flags=["END_HEADERS"]))

    server = script_server(raw_server, script)
    conn = await connect(api, "h2", "127.0.0.1", server.port, loop_impl=loop_impl)
    try:
        exc = await expect_error(conn.request(), PROTOCOL)
        assert "encoded bytes" in exc.message
    finally:
        await conn.close()


BIG = 24 * 1024 * 1024


@pytest.mark.parametrize("proto", ["h1", "h2"])
async def test_aio_unread_body_held_to_high_water_mark(proto, h1_server, h2c_server):
    """Automatic window: a consumer that reads nothing buffers at most the high-water mark
    (plus one socket read on HTTP/1.1); the body then arrives whole as it drains."""
    server = h1_server if proto == "h1" else h2c_server
    conn = await connect("aio", proto, "127.0.0.1", server.port)
    try:
        ex = conn.start("GET", "/", [("x-repeat-data", str(BIG))])
        stream = ex.stream
        await asyncio.sleep(0.5)
        held = sum(len(c) for c in stream._chunks)
        assert DEFAULT_HIGH_WATER_MARK // 2 < held <= DEFAULT_HIGH_WATER_MARK + 256 * 1024
        response = await ex.response(20)
        assert len(response.body) == BIG and response.body[:1000] == pattern(1000)
    finally:
        await conn.close()


@pytest.mark.parametrize("proto", ["h1", "h2"])
async def test_aio_manual_window_holds_body_to_window(proto, h1_server, h2c_server):
    server = h1_server if proto == "h1" else h2c_server
    window = 64 * 1024
    conn = await connect("aio", proto, "127.0.0.1", server.port, manual_window_management=True,
                         initial_window_size=window)
    try:
        ex = conn.start("GET", "/", [("x-repeat-data", str(4 * 1024 * 1024))])
        await asyncio.sleep(0.5)
        assert sum(len(c) for c in ex.stream._chunks) <= window
        ex.stream.update_window(2**31 - 1)
        response = await ex.response(10)
        assert response.body == pattern(4 * 1024 * 1024)
    finally:
        await conn.close()
