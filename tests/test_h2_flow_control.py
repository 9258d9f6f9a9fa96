"""HTTP/2 receive flow control: manual stream windows, the manual connection window, the
WINDOW_UPDATE thresholds, and automatic mode's large, batched windows."""

from __future__ import annotations

import asyncio
from typing import Any, Dict, List

import pytest

from tests.h2_support import (
    APIS, INITIAL_WINDOW_SIZE, MAX_FRAME_SIZE, TRANSPORTS, consume, new_server, opened, received,
    stream_get, wait_until,
)
from tests.servers.common import PatternChecker, pattern

pytestmark = pytest.mark.both_loops

STALL_CHECK = 0.2  # how long a blocked stream must stay blocked


def updates_for(server: Any, stream_id: int) -> List[int]:
    """Increments of the WINDOW_UPDATEs the client sent for ``stream_id`` (0: connection)."""
    return [inc for sid, inc in server.conn_records[0].window_updates if sid == stream_id]


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("api", APIS)
async def test_manual_stream_window_blocks_only_that_stream(api: str, transport: str, make_h2_server: Any,
                                                            ca: Any, loop_impl: str) -> None:
    """Exactly initial_window_size bytes arrive, nothing more until update_window(); another
    stream on the connection completes meanwhile; then the rest arrives."""
    window, total = 10_000, 50_000
    server = new_server(make_h2_server, transport)
    async with opened(api, server, ca, loop_impl, manual_window_management=True,
                      initial_window_size=window) as conn:
        big = conn.start("GET", "/big", [("x-repeat-data", str(total))])
        big_task = consume(big)
        try:
            await wait_until(lambda: received(big) == window, "the first window's bytes")
            other = await conn.request("GET", "/other", [("x-repeat-data", "8000")], timeout=5)
            assert other.status == 200 and other.body == pattern(8000)
            await asyncio.sleep(STALL_CHECK)
            assert received(big) == window
            assert not big_task.done()
            big.stream.update_window(total - window)
            r = await big_task
        finally:
            big_task.cancel()
    assert r.status == 200 and r.body == pattern(total)
    assert server.client_settings[INITIAL_WINDOW_SIZE] == window


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("api", APIS)
async def test_manual_connection_window(api: str, transport: str, make_h2_server: Any, ca: Any,
                                        loop_impl: str) -> None:
    """conn_manual_window_management: the connection window (65535) stops every stream until
    the connection's update_window(); exactly that increment goes out as one WINDOW_UPDATE."""
    conn_window, first, second = 65_535, 200_000, 1_000
    server = new_server(make_h2_server, transport)
    async with opened(api, server, ca, loop_impl, conn_manual_window_management=True) as conn:
        a = conn.start("GET", "/a", [("x-repeat-data", str(first))])
        a_task = consume(a)
        try:
            await wait_until(lambda: received(a) == conn_window, "the connection window's bytes")
            b = conn.start("GET", "/b", [("x-repeat-data", str(second))])
            b_task = consume(b)
            try:
                await asyncio.sleep(STALL_CHECK)
                assert received(a) == conn_window and received(b) == 0
                assert not a_task.done() and not b_task.done()
                increment = first + second - conn_window
                conn.raw.update_window(increment)
                ra, rb = await asyncio.gather(a_task, b_task)
            finally:
                b_task.cancel()
        finally:
            a_task.cancel()
    assert ra.body == pattern(first) and rb.body == pattern(second)
    assert updates_for(server, 0) == [increment]


# (level, threshold, window, body, bytes/s): the server paces chunks of bps/50 bytes.
THRESHOLD_CASES = {
    "stream": dict(window=40_000, low=10_000, total=60_000, bps=500_000),
    "conn": dict(window=65_535, low=15_535, total=120_000, bps=1_000_000),
}


@pytest.mark.parametrize("which", ["low", "high"])
@pytest.mark.parametrize("level", ["stream", "conn"])
@pytest.mark.parametrize("api", APIS)
async def test_window_size_thresholds(api: str, level: str, which: str, make_h2_server: Any, ca: Any,
                                      loop_impl: str) -> None:
    """Bytes released as they arrive are batched until the window falls to the threshold:
    a low threshold gives few large increments, a threshold of window - 1 one per chunk.
    The update goes out when a DATA frame takes the window to the threshold, before that
    frame's bytes are released: so each increment is >= window - threshold - one chunk."""
    case = THRESHOLD_CASES[level]
    window, total, chunk = case["window"], case["total"], case["bps"] // 50
    threshold = case["low"] if which == "low" else window - 1
    server = new_server(make_h2_server, "h2c")
    kwargs: Dict[str, Any]
    if level == "stream":
        kwargs = dict(manual_window_management=True, initial_window_size=window,
                      stream_window_size_threshold=threshold)
    else:
        kwargs = dict(conn_manual_window_management=True, conn_window_size_threshold=threshold)
    checker = PatternChecker()
    async with opened(api, server, ca, loop_impl, **kwargs) as conn:

        def release(stream: Any, data: bytes) -> None:
            checker.feed(data)
            (stream if level == "stream" else conn.raw).update_window(len(data))

        headers = [("x-repeat-data", str(total)), ("x-slow-response", "true"),
                   ("x-throughput-bps", str(case["bps"]))]
        assert await stream_get(conn, "/paced", headers, release, timeout=10) == 200
    assert checker.ok and checker.count == total
    increments = updates_for(server, server.requests[0].stream_id if level == "stream" else 0)
    assert increments, "some WINDOW_UPDATE was sent"
    if which == "low":
        assert min(increments) >= window - threshold - chunk, increments
        assert len(increments) <= total // (window - threshold - chunk)
    else:
        assert min(increments) <= chunk, increments
        assert len(increments) >= total // chunk // 2


@pytest.mark.parametrize("api", APIS)
async def test_automatic_mode_large_batched_windows(api: str, make_h2_server: Any, ca: Any,
                                                    loop_impl: str) -> None:
    """32 MiB arrive intact over large windows, with WINDOW_UPDATEs far fewer than DATA frames."""
    size = 32 << 20
    server = new_server(make_h2_server, "tls")
    async with opened(api, server, ca, loop_impl) as conn:
        r = await conn.request("GET", "/big", [("x-repeat-data", str(size))], timeout=30)
    assert r.status == 200 and len(r.body) == size and r.body == pattern(size)
    settings = server.conn_records[0].settings_frames[0]
    assert settings[INITIAL_WINDOW_SIZE] >= 1 << 20
    assert settings[MAX_FRAME_SIZE] >= 1 << 20
    first_conn_update = updates_for(server, 0)[0]
    assert 65_535 + first_conn_update >= 1 << 20  # connection window raised in the preface
    assert r.chunks >= 500  # one chunk per DATA frame (the server sends 64 KiB frames)
    assert server.window_updates_received * 10 < r.chunks, server.window_updates_received
