"""Shared pieces of the HTTP/2 tests (tests/test_h2_*.py): TLS options for the session CA,
opening a connection to one of our servers (TLS+ALPN or h2c) through either API, and
small bounded waits. End-to-end tests parametrize ``api`` over :data:`APIS` and
``transport`` over :data:`TRANSPORTS` and build their server with :func:`new_server`.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Callable, Iterable, List, Optional, Tuple

from crt_http.io import ClientTlsContext, TlsConnectionOptions, TlsContextOptions
from tests.clients import Conn, Exchange, connect, make_request

APIS = ["aio", "sync"]
TRANSPORTS = ["tls", "h2c"]

# Server settings code -> value, as tests.servers.h2 records them.
ENABLE_PUSH, MAX_CONCURRENT_STREAMS, INITIAL_WINDOW_SIZE, MAX_FRAME_SIZE = 2, 3, 4, 5


def tls_options(ca: Any, alpn: Optional[List[str]] = None) -> TlsConnectionOptions:
    """Client TLS options trusting the session CA, SNI ``localhost``, optional ALPN list."""
    opts = TlsContextOptions()
    opts.override_default_trust_store_from_path(ca_filepath=ca.ca_file)
    conn_opts = ClientTlsContext(opts).new_connection_options()
    conn_opts.set_server_name("localhost")
    if alpn is not None:
        conn_opts.set_alpn_list(alpn)
    return conn_opts


def new_server(make_h2_server: Callable[..., Any], transport: str, **kwargs: Any) -> Any:
    """An H2Server over TLS (ALPN h2) or h2c, with H2Server keyword arguments."""
    return make_h2_server(tls=transport == "tls", **kwargs)


def host_of(target: Any) -> str:
    """Host name to dial: ``localhost`` over TLS (the certificate's name), else 127.0.0.1."""
    return "localhost" if target.tls else "127.0.0.1"


@asynccontextmanager
async def opened(api: str, target: Any, ca: Any, loop_impl: str, proto: str = "h2",
                 **kwargs: Any) -> AsyncIterator[Conn]:
    """A connection to ``target`` (anything with ``.tls`` and ``.port``), closed on exit."""
    if target.tls:
        kwargs.setdefault("tls_connection_options", tls_options(ca))
    conn = await connect(api, proto, host_of(target), target.port, loop_impl=loop_impl, **kwargs)
    try:
        yield conn
    finally:
        await conn.close()


def received(ex: Exchange) -> int:
    """Body bytes an exchange has collected so far (aio: while its response() task runs)."""
    return sum(len(c) for c in ex._chunks)


def consume(ex: Exchange, timeout: float = 20.0) -> "asyncio.Task[Any]":
    """Start collecting the exchange's response in the background (needed on the aio API)."""
    return asyncio.ensure_future(ex.response(timeout))


async def wait_until(predicate: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    """Poll ``predicate`` until true; fail with ``what`` after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.01)


async def stream_get(conn: Conn, path: str, headers: Iterable[Tuple[str, str]] = (),
                     on_chunk: Optional[Callable[[Any, bytes], None]] = None,
                     timeout: float = 20.0) -> int:
    """GET ``path`` through the raw API, handing each body chunk to ``on_chunk(stream, chunk)``
    as it arrives (aio: as it is taken; sync: in ``on_body``), without keeping the body.
    Returns the status code."""
    request = make_request("GET", path, headers)
    sink = on_chunk or (lambda stream, chunk: None)

    async def run_aio() -> int:
        stream = conn.raw.request(request)
        status = await stream.get_response_status_code()
        while True:
            chunk = await stream.get_next_response_chunk()
            if not chunk:
                break
            sink(stream, chunk)
        await stream.wait_for_completion()
        return int(status)

    if conn.api == "aio":
        return await asyncio.wait_for(run_aio(), timeout)

    def on_body(http_stream: Any, chunk: bytes, **_kw: Any) -> None:
        sink(http_stream, bytes(chunk))

    stream = conn.raw.request(request, on_body=on_body)
    stream.activate()
    return int(await asyncio.wait_for(asyncio.wrap_future(stream.completion_future), timeout))
