"""HTTP/1.1 fault injection: the test server misbehaves on purpose (``x-fault``), on both APIs.

Every case asserts the exact error name of the stream and of ``shutdown_future``, that the
body delivered before a failure is exactly what the server sent (never garbage, never
reported as complete), and that every completion and pending aio waiter finishes within
``BOUND``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, List, Tuple

import pytest

from crt_http.exceptions import AwsCrtError
from tests.clients import connect
from tests.faults.support import (
    OPEN, aio_waiters, assert_settled, delivered_body, expect_error, waiter_errors,
)
from tests.h1_support import tls_options
from tests.servers.common import pattern

# Transport-level faults run under both loops; limits and timers (loop-independent) under asyncio.
API = pytest.mark.parametrize("api", ["aio", "sync"])

N = 1000
CLOSED = "AWS_IO_SOCKET_CLOSED"
PROTOCOL = "AWS_ERROR_HTTP_PROTOCOL_ERROR"


def fault(name: str, *extra: Tuple[str, str]) -> List[Tuple[str, str]]:
    return [("x-fault", name), ("x-repeat-data", str(N)), *extra]


# fault, stream error, shutdown error, body bytes delivered before the failure
FAILING = [
    ("close-before-headers", CLOSED, 0),
    ("close-during-headers", CLOSED, 0),
    ("close-mid-body", CLOSED, N // 2),
    ("truncated-chunked", CLOSED, N // 2),
    ("content-length-larger", CLOSED, N),
    ("malformed-status", PROTOCOL, 0),
    ("malformed-header", PROTOCOL, 0),
    ("oversized-headers", PROTOCOL, 0),  # 100 KiB head, default limit 64 KiB
]


CASES = [(name, error, delivered, tls) for name, error, delivered in FAILING
         for tls in ([False, True] if error == CLOSED else [False])]


@pytest.mark.both_loops
@API
@pytest.mark.parametrize("name,error,delivered,tls", CASES,
                         ids=[f"{c[0]}-{'tls' if c[3] else 'tcp'}" for c in CASES])
async def test_fault_fails_stream_and_connection(api, tls, name, error, delivered, make_h1_server,
                                                 client_ca_file, loop_impl):
    server = make_h1_server(tls=tls)
    kwargs: Any = {"tls_connection_options": tls_options(client_ca_file)} if tls else {}
    conn = await connect(api, "h1", "localhost", server.port, loop_impl=loop_impl, **kwargs)
    try:
        ex = conn.start("GET", "/", fault(name))
        waiters = aio_waiters(ex)
        await expect_error(ex.response(), error)
        await assert_settled(conn, [ex], waiters, shutdown=error)
        if waiters:  # status, headers, chunk may have had their answer; completion has not
            assert set(waiter_errors(waiters)) <= {error, None} and waiter_errors(waiters)[-1] == error
        assert delivered_body(ex, waiters) == pattern(delivered)
        with pytest.raises(AwsCrtError) as info:
            conn.start()
        assert info.value.name == "AWS_ERROR_HTTP_CONNECTION_CLOSED"
    finally:
        await conn.close()


@API
async def test_content_length_smaller_than_body(api, h1_server, loop_impl):
    """The declared body is delivered exactly; the extra bytes never reach the user, and
    the connection is not reused (it closes: cleanly, or with 2074 if the extra bytes
    arrived after the response completed)."""
    conn = await connect(api, "h1", "127.0.0.1", h1_server.port, loop_impl=loop_impl)
    try:
        response = await conn.request("GET", "/", fault("content-length-smaller"))
        assert response.status == 200 and response.body == pattern(N)
        error = await conn.shutdown(5)
        assert error is None or getattr(error, "name", "") == PROTOCOL
        assert not conn.is_open()
    finally:
        await conn.close()


# limit kwargs, head size the server sends, fails?
LIMITS = [
    ({}, 60_000, False),
    ({}, 102_400, True),
    ({"max_response_header_bytes": 4096}, 2000, False),
    ({"max_response_header_bytes": 4096}, 8000, True),
]


@API
@pytest.mark.parametrize("limit,size,fails", LIMITS,
                         ids=["default-under", "default-over", "custom-under", "custom-over"])
async def test_response_head_limit(api, limit, size, fails, h1_server, loop_impl):
    conn = await connect(api, "h1", "127.0.0.1", h1_server.port, loop_impl=loop_impl, **limit)
    try:
        ex = conn.start("GET", "/", fault("oversized-headers", ("x-fault-size", str(size))))
        if fails:
            exc = await expect_error(ex.response(), PROTOCOL)
            assert "max_response_header_bytes" in exc.message
            await assert_settled(conn, [ex], shutdown=PROTOCOL)
        else:
            response = await ex.response()
            assert response.status == 200
            assert sum(len(n) + len(v) for n, v in response.headers) >= size - 1000
            await assert_settled(conn, [ex], shutdown=OPEN)
            assert (await conn.request("GET", "/echo")).status == 200
    finally:
        await conn.close()


@API
async def test_first_byte_timeout_closes_connection(api, h1_server, loop_impl):
    conn = await connect(api, "h1", "127.0.0.1", h1_server.port, loop_impl=loop_impl,
                         response_first_byte_timeout_ms=300)
    try:
        started = time.monotonic()
        ex = conn.start("GET", "/", fault("stall"))
        waiters = aio_waiters(ex)
        await expect_error(ex.response(), "AWS_ERROR_HTTP_RESPONSE_FIRST_BYTE_TIMEOUT")
        assert 0.25 < time.monotonic() - started < 3
        await assert_settled(conn, [ex], waiters, shutdown="AWS_ERROR_HTTP_RESPONSE_FIRST_BYTE_TIMEOUT")
    finally:
        await conn.close()


@API
async def test_first_byte_timeout_stops_at_first_byte_and_close_ends_stall(api, h1_server, loop_impl):
    """Once a byte arrived the first-byte timeout is over; a stalled body is then ended by
    ``close()``, which fails the stream with 2058 and releases every waiter."""
    conn = await connect(api, "h1", "127.0.0.1", h1_server.port, loop_impl=loop_impl,
                         response_first_byte_timeout_ms=200)
    try:
        ex = conn.start("GET", "/", fault("stall-mid-body"))
        waiters = aio_waiters(ex)
        await asyncio.sleep(0.6)
        assert not ex.stream.completion_future.done()
        await conn.close()
        await expect_error(ex.response(), "AWS_ERROR_HTTP_CONNECTION_CLOSED")
        await assert_settled(conn, [ex], waiters, shutdown=None)
        assert delivered_body(ex, waiters) == pattern(N // 2)
    finally:
        await conn.close()
