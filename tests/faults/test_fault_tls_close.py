"""TLS close_notify missing (an "incomplete close", RFC 9112 sections 8 and 9.8).

Decision: a body delimited by the connection close (no Content-Length, not chunked;
HTTP/1.0 included) that ends with a bare TCP FIN instead of a TLS close_notify cannot be
told apart from a truncation, so its bytes are delivered as they arrived but the stream
fails with AWS_IO_SOCKET_CLOSED (RFC 9112 8: such a response is incomplete; rustls and
GLib report it too, while Go and browsers accept it). Over plain TCP, or with close_notify,
the same body completes. A body framed by Content-Length or chunked is complete when its
framing says so, whatever the close looks like afterwards; cut short, it fails as always.
"""

from __future__ import annotations

import asyncio
from typing import Any, List, Tuple

import pytest

from tests.clients import connect
from tests.faults.support import aio_waiters, assert_settled, delivered_body, expect_error
from tests.h1_support import tls_options
from tests.servers.common import flush_and_abort, pattern

pytestmark = pytest.mark.both_loops
API = pytest.mark.parametrize("api", ["aio", "sync"])
N = 5000


async def fetch(api: str, port: int, tls: bool, ca_file: str, loop_impl: str,
                headers: List[Tuple[str, str]]) -> Any:
    kwargs: Any = {"tls_connection_options": tls_options(ca_file)} if tls else {}
    conn = await connect(api, "h1", "localhost", port, loop_impl=loop_impl, **kwargs)
    return conn, conn.start("GET", "/", headers)


@API
@pytest.mark.parametrize("http10", [False, True], ids=["http11", "http10"])
async def test_close_delimited_body_without_close_notify_fails(api, http10, make_h1_server,
                                                               client_ca_file, loop_impl):
    server = make_h1_server(tls=True)
    headers = [("x-fault", "no-close-notify"), ("x-repeat-data", str(N))]
    if http10:
        headers.append(("x-http10", "true"))
    conn, ex = await fetch(api, server.port, True, client_ca_file, loop_impl, headers)
    try:
        waiters = aio_waiters(ex)
        exc = await expect_error(ex.response(), "AWS_IO_SOCKET_CLOSED")
        assert "close_notify" in exc.message
        await assert_settled(conn, [ex], waiters, shutdown="AWS_IO_SOCKET_CLOSED")
        assert delivered_body(ex, waiters) == pattern(N)
    finally:
        await conn.close()


@API
@pytest.mark.parametrize("tls,fault", [(False, "no-close-notify"), (True, None)],
                         ids=["tcp-fin", "tls-close-notify"])
async def test_close_delimited_body_with_clean_close_completes(api, tls, fault, make_h1_server,
                                                               client_ca_file, loop_impl):
    server = make_h1_server(tls=tls)
    headers = [("x-repeat-data", str(N)), ("x-framing", "close")]
    if fault:
        headers.append(("x-fault", fault))
    conn, ex = await fetch(api, server.port, tls, client_ca_file, loop_impl, headers)
    try:
        response = await ex.response(5)
        assert response.status == 200 and response.body == pattern(N)
        await assert_settled(conn, [ex], shutdown=None)
    finally:
        await conn.close()


@API
@pytest.mark.parametrize("sent,complete", [(N, True), (N // 2, False)], ids=["whole", "cut"])
async def test_content_length_body_then_bare_fin(api, sent, complete, raw_server, client_ca_file,
                                                 loop_impl):
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % N + pattern(sent))
        await flush_and_abort(writer.transport, writer)  # type: ignore[arg-type]

    server = raw_server(handler, tls=True)
    conn, ex = await fetch(api, server.port, True, client_ca_file, loop_impl, [])
    try:
        if complete:
            assert (await ex.response(5)).body == pattern(N)
        else:
            await expect_error(ex.response(), "AWS_IO_SOCKET_CLOSED")
        # The server closed a keep-alive connection: 1051 on shutdown either way.
        await assert_settled(conn, [ex], shutdown="AWS_IO_SOCKET_CLOSED")
    finally:
        await conn.close()
