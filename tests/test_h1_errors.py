"""HTTP/1.1 failures named, and the cases other clients got wrong delivered whole.

- The server closes mid-body: 1051 ``AWS_IO_SOCKET_CLOSED`` for the stream and
  ``shutdown_future``, and the aio ``close()`` raises it, as awscrt 0.38.0 does against the
  same server (its message is only "socket is closed."; its ``on_body`` got the same half
  body). The aio ``get_next_response_chunk()`` raises it after the bytes that arrived, where
  awscrt's returns ``b""`` (a silent truncation); our message has the byte counts.
- The server closes before any header (1051, as awscrt), a malformed status line (2074).
- A full response followed at once by the server's close, for each framing: every byte.
- A 413 with ``Connection: close`` while a 50 MiB upload is under way: the stream succeeds.

Issue 2 items 6 and 7. Both APIs, both loops; body framings with the fast path on and off.
"""

from __future__ import annotations

import io
from typing import Callable, List, Tuple

import pytest

from crt_http.exceptions import AwsCrtError
from tests.clients import Conn, Exchange, connect
from tests.h1_support import API, FAST_AND_SLOW, assert_pattern, fast_path, tls_options  # noqa: F401
from tests.servers.common import pattern
from tests.servers.h1 import H1Server
from tests.servers.raw import RawServer

pytestmark = pytest.mark.both_loops

N = 200_000  # several socket reads, so the fast path runs before the cut


async def _open(api: str, loop_impl: str, port: int, **kw: object) -> Conn:
    return await connect(api, "h1", "127.0.0.1", port, loop_impl=loop_impl, **kw)


async def _body_then_error(ex: Exchange) -> Tuple[bytes, AwsCrtError]:
    """The body bytes delivered before the exchange failed, and its error.

    aio: reads ``get_next_response_chunk()`` until it raises; a ``b""`` (a silent end of a
    failed body) fails the test. sync: ``on_body`` chunks and ``completion_future``.
    """
    if ex.conn.api == "aio":
        chunks: List[bytes] = []
        with pytest.raises(AwsCrtError) as info:
            while True:
                chunk = await ex.stream.get_next_response_chunk()
                assert chunk, "get_next_response_chunk() returned b'' for a failed body"
                chunks.append(chunk)
        with pytest.raises(AwsCrtError) as again:
            await ex.stream.wait_for_completion()
        assert again.value is info.value
        return b"".join(chunks), info.value
    with pytest.raises(AwsCrtError) as info:
        await ex.response()
    return b"".join(ex._chunks), info.value


@FAST_AND_SLOW
@API
async def test_server_closes_mid_body(api: str, loop_impl: str, h1_server: H1Server) -> None:
    conn = await _open(api, loop_impl, h1_server.port)
    try:
        ex = conn.start("GET", "/", [("x-fault", "close-mid-body"), ("x-repeat-data", str(N))])
        body, error = await _body_then_error(ex)
        assert_pattern(body, N // 2)
        assert (error.name, error.code) == ("AWS_IO_SOCKET_CLOSED", 1051)
        assert f"received {N // 2} bytes, expected {N}" in error.message
        assert f"127.0.0.1:{h1_server.port}" in error.message
        shutdown = await conn.shutdown(5)
        assert isinstance(shutdown, AwsCrtError) and shutdown.name == "AWS_IO_SOCKET_CLOSED"
        assert not conn.is_open()
        if api == "aio":  # as awscrt's, close() raises the error the connection ended in
            with pytest.raises(AwsCrtError) as closed:
                await conn.raw.close()
            assert closed.value is shutdown
    finally:
        await conn.close()


@API
@pytest.mark.parametrize("fault", ["close-before-headers", "close-during-headers"])
async def test_server_closes_before_headers(api: str, loop_impl: str, h1_server: H1Server,
                                            fault: str) -> None:
    """awscrt 0.38.0 reports 1051 for the stream and the connection here too."""
    conn = await _open(api, loop_impl, h1_server.port)
    try:
        ex = conn.start("GET", "/", [("x-fault", fault)])
        if api == "aio":  # the head getter raises instead of waiting forever
            with pytest.raises(AwsCrtError) as head:
                await ex.stream.get_response_status_code()
            assert head.value.name == "AWS_IO_SOCKET_CLOSED"
        body, error = await _body_then_error(ex)
        assert body == b""
        assert error.name == "AWS_IO_SOCKET_CLOSED"
        assert "closed the connection before the whole response head arrived" in error.message
        shutdown = await conn.shutdown(5)
        assert isinstance(shutdown, AwsCrtError) and shutdown.name == "AWS_IO_SOCKET_CLOSED"
    finally:
        await conn.close()


@API
async def test_malformed_status_line(api: str, loop_impl: str, h1_server: H1Server) -> None:
    conn = await _open(api, loop_impl, h1_server.port)
    try:
        ex = conn.start("GET", "/", [("x-fault", "malformed-status")])
        _body, error = await _body_then_error(ex)
        assert (error.name, error.code) == ("AWS_ERROR_HTTP_PROTOCOL_ERROR", 2074)
        assert "HTTP/1.1 abc OK" in error.message
        shutdown = await conn.shutdown(5)
        assert isinstance(shutdown, AwsCrtError) and shutdown.name == "AWS_ERROR_HTTP_PROTOCOL_ERROR"
    finally:
        await conn.close()


def _full_response(framing: str, size: int) -> bytes:
    """A complete 200 with ``Connection: close``, body ``pattern(size)`` framed as asked."""
    body = pattern(size)
    if framing == "content-length":
        return b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % size + body
    if framing == "chunked":
        pieces = [body[i:i + 7000] for i in range(0, size, 7000)]
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces)
        return b"HTTP/1.1 200 OK\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"
    return b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + body


@FAST_AND_SLOW
@API
@pytest.mark.parametrize("framing", ["content-length", "chunked", "close"])
async def test_full_response_then_immediate_close(
        api: str, loop_impl: str, raw_server: Callable[..., RawServer], framing: str) -> None:
    """The server writes the whole response and closes at once: no byte is lost, the stream
    succeeds and the connection ends cleanly."""
    for size in (0, 10, N):
        server = raw_server(responses=[_full_response(framing, size)], close_after=True)
        conn = await _open(api, loop_impl, server.port)
        try:
            r = await conn.request("GET", "/")
            assert r.status == 200
            assert_pattern(r.body, size)
            assert await conn.shutdown(5) is None, f"{size}-byte body"
        finally:
            await conn.close()


UPLOAD = 50 * 1024 * 1024


@API
@pytest.mark.parametrize("tls", [False, True], ids=["tcp", "tls"])
async def test_413_and_close_during_upload(api: str, loop_impl: str, tls: bool, client_ca_file: str,
                                           make_h1_server: Callable[..., H1Server]) -> None:
    """The server reads only the head, answers 413 with ``Connection: close`` and closes
    while 50 MiB are still being sent: the stream completes with the 413, not an error."""
    server = make_h1_server(tls=tls)
    kw = {"tls_connection_options": tls_options(client_ca_file)} if tls else {}
    conn = await connect(api, "h1", "localhost", server.port, loop_impl=loop_impl, **kw)
    try:
        r = await conn.request("PUT", "/upload", [("x-fault", "reject-upload-413"),
                                                  ("Content-Length", str(UPLOAD))],
                               body=io.BytesIO(pattern(UPLOAD)))
        assert (r.status, r.body) == (413, b"request body too large\n")
        assert r.header("connection") == "close"
        assert await conn.shutdown(5) is None
    finally:
        await conn.close()
