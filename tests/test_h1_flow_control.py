"""HTTP/1.1 flow control: manual windows (exactly the window's bytes, then nothing until
``update_window``), argument checks, and the automatic mode's bound on buffered body (aio).

Issue 2 item 5; API.md "Flow control" and "Automatic window mode still bounds memory".
End-to-end tests run on both APIs, both loops, Content-Length fast path on and off.
"""

from __future__ import annotations

import asyncio
from typing import Callable

import pytest

from crt_http.aio._options import DEFAULT_HIGH_WATER_MARK
from tests.clients import Conn, connect, make_request
from tests.h1_support import API, FAST_AND_SLOW, BodyCollector, assert_pattern, fast_path  # noqa: F401
from tests.servers.common import PatternChecker
from tests.servers.h1 import H1Server

pytestmark = pytest.mark.both_loops

QUIET = 0.3  # seconds in which a closed window must let no byte through
TOTAL = 300_000


async def _open_manual(api: str, loop_impl: str, server: H1Server, window: int, **kw: object) -> Conn:
    return await connect(api, "h1", "127.0.0.1", server.port, loop_impl=loop_impl,
                         manual_window_management=True, initial_window_size=window, **kw)


async def _assert_stays(body: BodyCollector, count: int) -> None:
    await asyncio.sleep(QUIET)
    assert body.count == count, (
        f"{body.count} bytes delivered with a window that allows {count} ({body.request_headers})")
    assert not body.done.done()


async def _window_scenario(conn: Conn, framing: str) -> None:
    """Window 1000: exactly 1000 bytes, then nothing; +5000: exactly 6000; then the rest."""
    body = BodyCollector(conn, "GET", "/", [("x-repeat-data", str(TOTAL)), ("x-framing", framing)])
    await body.wait_count(1000)
    await _assert_stays(body, 1000)
    body.stream.update_window(5000)
    await body.wait_count(6000)
    await _assert_stays(body, 6000)
    body.stream.update_window(TOTAL)
    assert await body.finish() == 200
    assert_pattern(body.body, TOTAL)


@FAST_AND_SLOW
@API
async def test_manual_window_delivers_exactly_the_window(
        api: str, loop_impl: str, h1_server: H1Server) -> None:
    """Content-Length, chunked and read-until-close bodies, one connection each, at once."""
    framings = ["content-length", "chunked", "close"]
    conns = [await _open_manual(api, loop_impl, h1_server, 1000) for _ in framings]
    try:
        await asyncio.gather(*(_window_scenario(c, f) for c, f in zip(conns, framings, strict=True)))
    finally:
        for conn in conns:
            await conn.close()


@FAST_AND_SLOW
@API
async def test_zero_initial_window_delivers_nothing_until_update(
        api: str, loop_impl: str, h1_server: H1Server) -> None:
    conn = await _open_manual(api, loop_impl, h1_server, 0)
    try:
        body = BodyCollector(conn, "GET", "/", [("x-repeat-data", str(TOTAL))])
        await _assert_stays(body, 0)
        assert body.stream.response_status_code == 200  # the head is not flow-controlled
        body.stream.update_window(TOTAL)  # exactly the body: it completes (as in awscrt)
        assert await body.finish() == 200
        assert_pattern(body.body, TOTAL)
        # The window is per stream: the next one starts at 0 again.
        second = BodyCollector(conn, "GET", "/", [("x-repeat-data", "100")])
        await _assert_stays(second, 0)
        second.stream.update_window(100)
        assert await second.finish() == 200
        assert_pattern(second.body, 100)
    finally:
        await conn.close()


@API
async def test_read_buffer_capacity_accepted(api: str, loop_impl: str, h1_server: H1Server) -> None:
    conn = await _open_manual(api, loop_impl, h1_server, 2000, read_buffer_capacity=4096)
    try:
        body = BodyCollector(conn, "GET", "/", [("x-repeat-data", str(TOTAL))])
        await body.wait_count(2000)
        await _assert_stays(body, 2000)
        body.stream.update_window(TOTAL)
        assert await body.finish() == 200
        assert_pattern(body.body, TOTAL)
    finally:
        await conn.close()


@API
async def test_manual_mode_needs_initial_window_size(api: str, loop_impl: str, h1_server: H1Server) -> None:
    with pytest.raises(ValueError, match="initial_window_size"):
        await connect(api, "h1", "127.0.0.1", h1_server.port, loop_impl=loop_impl,
                      manual_window_management=True)
    assert h1_server.connections_accepted == 0


@API
async def test_negative_window_increment_rejected(api: str, loop_impl: str, h1_server: H1Server) -> None:
    conn = await _open_manual(api, loop_impl, h1_server, 10)
    try:
        body = BodyCollector(conn, "GET", "/", [("x-repeat-data", "100")])
        with pytest.raises(ValueError, match="increment_size"):
            body.stream.update_window(-1)
        body.stream.update_window(90)
        assert await body.finish() == 200
        assert_pattern(body.body, 100)
    finally:
        await conn.close()


BIG = 64 * 1024 * 1024
# What an aio stream may hold beyond the high-water mark: one socket read (256 KiB) and
# one h11 slice, with room to spare.
BUFFER_BOUND = 12 * 1024 * 1024


@FAST_AND_SLOW
async def test_automatic_mode_bounds_buffered_body(loop_impl: str,
                                                   make_h1_server: Callable[..., H1Server]) -> None:
    """A consumer slower than the network: the aio stream stops reading at the high-water
    mark instead of buffering the whole 64 MiB, and still delivers every byte."""
    server = make_h1_server()
    conn = await connect("aio", "h1", "127.0.0.1", server.port, loop_impl=loop_impl)
    try:
        stream = conn.raw.request(make_request("GET", "/", [("x-repeat-data", str(BIG))]))
        assert await stream.get_response_status_code() == 200

        def buffered() -> int:
            return sum(len(c) for c in stream._chunks)

        deadline = asyncio.get_running_loop().time() + 10
        while buffered() < DEFAULT_HIGH_WATER_MARK:  # nothing consumed: the server gets ahead
            assert asyncio.get_running_loop().time() < deadline, f"only {buffered()} bytes arrived"
            await asyncio.sleep(0.01)
        peak = 0
        for _ in range(15):  # still nothing consumed for 0.3 s: the buffer must stay bounded
            await asyncio.sleep(0.02)
            peak = max(peak, buffered())
        assert peak < BUFFER_BOUND, f"buffered {peak} bytes"
        checker = PatternChecker()
        while True:
            peak = max(peak, buffered())
            chunk = await asyncio.wait_for(stream.get_next_response_chunk(), 10)
            if not chunk:
                break
            checker.feed(chunk)
            if checker.count % (4 * 1024 * 1024) < len(chunk):
                await asyncio.sleep(0.01)  # slow consumer: the server gets ahead again
        assert await stream.wait_for_completion() == 200
        assert peak < BUFFER_BOUND, f"buffered {peak} bytes"
        assert (checker.count, checker.ok) == (BIG, True)
    finally:
        await conn.close()

