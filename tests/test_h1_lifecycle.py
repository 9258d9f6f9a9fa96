"""HTTP/1.1 connection lifecycle: ``close()`` / ``shutdown_future`` / ``is_open()``, streams
pending at close, and a server that closes an idle connection.

Issue 2 item 6; API.md "Keep awscrt's behaviour". Both APIs, both loops.
"""

from __future__ import annotations

import asyncio
from typing import Callable

import pytest

from crt_http.exceptions import AwsCrtError
from tests.clients import connect
from tests.h1_support import API
from tests.servers.h1 import H1Server
from tests.servers.raw import RawServer

pytestmark = pytest.mark.both_loops


@API
async def test_close_completes_shutdown_cleanly(api: str, loop_impl: str, h1_server: H1Server) -> None:
    conn = await connect(api, "h1", "127.0.0.1", h1_server.port, loop_impl=loop_impl)
    assert (await conn.request("GET", "/")).status == 200
    assert conn.is_open()
    if api == "aio":
        assert await asyncio.wait_for(conn.raw.close(), 5) is None
        assert conn.shutdown_future.done()
    else:
        future = conn.raw.close()
        assert future is conn.shutdown_future
    assert await conn.shutdown() is None
    assert conn.shutdown_future.result() is None
    assert not conn.is_open()
    with pytest.raises(AwsCrtError) as info:
        conn.start("GET", "/")
    assert info.value.name == "AWS_ERROR_HTTP_CONNECTION_CLOSED"
    await conn.close()  # closing again is harmless


@API
async def test_streams_pending_at_close_fail_2058(api: str, loop_impl: str, h1_server: H1Server) -> None:
    """The in-flight stream (server stalls) and the one queued behind it both fail."""
    conn = await connect(api, "h1", "127.0.0.1", h1_server.port, loop_impl=loop_impl)
    try:
        in_flight = conn.start("GET", "/", [("x-fault", "stall")])
        queued = conn.start("GET", "/queued")
        await asyncio.sleep(0.05)
        assert not in_flight.stream.completion_future.done()
        await conn.close()
        for exchange in (in_flight, queued):
            with pytest.raises(AwsCrtError) as info:
                await exchange.response(timeout=5)
            assert info.value.name == "AWS_ERROR_HTTP_CONNECTION_CLOSED"
            assert info.value.code == 2058
        assert await conn.shutdown() is None
    finally:
        await conn.close()


KEEP_ALIVE_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


@API
async def test_server_closing_idle_connection(api: str, loop_impl: str,
                                              raw_server: Callable[..., RawServer]) -> None:
    """The server answers keep-alive, then closes the idle connection.

    awscrt 0.38.0, same server, same case: the stream succeeds (200, ``b"ok"``) and
    ``shutdown_future`` fails with 1051 ``AWS_IO_SOCKET_CLOSED`` ("socket is closed.").
    crt_http matches the name, says more in the message, and a later ``close()`` of the aio
    connection raises that error (API.md: as awscrt's does).
    """
    server = raw_server(responses=[KEEP_ALIVE_RESPONSE], close_after=True)
    conn = await connect(api, "h1", "127.0.0.1", server.port, loop_impl=loop_impl)
    try:
        r = await conn.request("GET", "/")
        assert (r.status, r.body) == (200, b"ok")
        error = await conn.shutdown(timeout=5)
        assert isinstance(error, AwsCrtError)
        assert error.name == "AWS_IO_SOCKET_CLOSED"
        assert f"127.0.0.1:{server.port}" in error.message
        assert not conn.is_open()
        with pytest.raises(AwsCrtError) as info:
            conn.start("GET", "/")
        assert info.value.name == "AWS_ERROR_HTTP_CONNECTION_CLOSED"
        if api == "aio":
            with pytest.raises(AwsCrtError) as closed:
                await asyncio.wait_for(conn.raw.close(), 5)
            assert closed.value is error
        else:
            assert conn.raw.close().exception() is error
    finally:
        await conn.close()
