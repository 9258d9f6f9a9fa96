"""A peer that stops reading while we upload, on HTTP/1.1 and HTTP/2, both APIs.

``response_first_byte_timeout_ms`` starts only once the whole request is sent (as in
awscrt), so it cannot bound a stalled upload; what does is the throughput minimum (2073),
or the user's ``close()`` (2058) / cancellation (2095, see test_fault_cancel.py). Timer
behaviour, not loop behaviour: asyncio only, to keep the suite fast.
"""

from __future__ import annotations

import asyncio
import io
import time
from typing import Any

import pytest

from tests.clients import connect
from tests.faults.support import aio_waiters, assert_settled, expect_error

API = pytest.mark.parametrize("api", ["aio", "sync"])


class Endless(io.RawIOBase):
    """A request body that never ends (sent chunked on HTTP/1.1)."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        buffer[:] = b"\0" * len(buffer)
        return len(buffer)


@pytest.mark.parametrize("api,proto", [("aio", "h1"), ("sync", "h2")])
async def test_peer_that_stops_reading_is_bounded(api, proto, h1_server, h2c_server, loop_impl):
    """The first-byte timeout never fires (the request is never all sent); 2073 does."""
    server = h1_server if proto == "h1" else h2c_server
    conn = await connect(api, proto, "127.0.0.1", server.port, loop_impl=loop_impl,
                         response_first_byte_timeout_ms=200,
                         minimum_throughput_bytes_per_second=1_000_000,
                         allowable_throughput_failure_interval_seconds=1)
    try:
        started = time.monotonic()
        ex = conn.start("PUT", "/", [("x-fault", "stop-reading")], body=Endless())
        waiters = aio_waiters(ex)
        await expect_error(ex.response(), "AWS_ERROR_HTTP_CHANNEL_THROUGHPUT_FAILURE", bound=8)
        assert time.monotonic() - started < 6
        await assert_settled(conn, [ex], waiters, shutdown="AWS_ERROR_HTTP_CHANNEL_THROUGHPUT_FAILURE")
    finally:
        await conn.close()




@API
@pytest.mark.parametrize("proto", ["h1", "h2"])
async def test_close_ends_stalled_upload(api, proto, h1_server, h2c_server, loop_impl):
    server = h1_server if proto == "h1" else h2c_server
    conn = await connect(api, proto, "127.0.0.1", server.port, loop_impl=loop_impl)
    try:
        ex = conn.start("PUT", "/", [("x-fault", "stop-reading")], body=Endless())
        waiters = aio_waiters(ex)
        await asyncio.sleep(0.5)
        assert not ex.stream.completion_future.done()
        await conn.close()
        await expect_error(ex.response(), "AWS_ERROR_HTTP_CONNECTION_CLOSED")
        await assert_settled(conn, [ex], waiters, shutdown=None)
    finally:
        await conn.close()
