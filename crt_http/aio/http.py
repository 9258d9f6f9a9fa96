"""The asyncio API of ``awscrt.aio.http``: connections and streams awaited on the caller's loop.

A connection belongs to the loop that created it. Streams start at once (no ``activate()``).
Differences from awscrt (see the README's migration notes): a body that ends in error raises
from :meth:`AIOHttpClientStreamUnified.get_next_response_chunk` instead of returning ``b""``;
the head getters raise when the stream fails before its head; request bodies from an async
iterator work on every protocol; trailers are available from ``get_response_trailers()``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from concurrent.futures import Future
from typing import Any, AsyncIterator, Callable, Deque, Dict, List, Optional, Tuple

from crt_http._base import HttpClientConnectionBase, HttpClientStreamBase
from crt_http._models import Http2Setting, HttpProxyOptions, HttpRequest, HttpVersion, validate_request
from crt_http.aio._connect import Mode, establish
from crt_http.aio._driver import ConnectionDriver
from crt_http.aio._options import DEFAULT_MAX_RESPONSE_HEADER_BYTES, ConnectionOptions
from crt_http.aio._options import arguments as _arguments
from crt_http.aio._stream import DONE, Headers, StreamCore, check_window_increment
from crt_http.io import ClientBootstrap, InputStream, SocketOptions, TlsConnectionOptions

__all__ = [
    "AIOHttpClientConnectionUnified", "AIOHttpClientConnection", "AIOHttp2ClientConnection",
    "AIOHttpClientStreamUnified", "AIOHttpClientStream", "AIOHttp2ClientStream",
    "HttpClientConnectionBase", "HttpClientStreamBase", "HttpRequest", "HttpProxyOptions",
    "Http2Setting", "HttpVersion", "ClientBootstrap", "SocketOptions", "TlsConnectionOptions",
    "InputStream", "Future",
]


async def _open(cls: type, mode: Mode, kwargs: Dict[str, Any]) -> "AIOHttpClientConnectionUnified":
    driver = await establish(ConnectionOptions(**kwargs), mode)
    if driver.version is HttpVersion.Http2:
        conn_cls: Any = AIOHttp2ClientConnection
    elif cls is AIOHttpClientConnectionUnified:
        conn_cls = AIOHttpClientConnection
    else:
        conn_cls = cls
    conn = conn_cls.__new__(conn_cls)
    conn._driver = driver
    return conn


class AIOHttpClientConnectionUnified(HttpClientConnectionBase):
    """An asyncio HTTP connection of whichever version ALPN picked."""

    __slots__ = ()

    @classmethod
    async def new(cls,
                  host_name: str,
                  port: int,
                  bootstrap: Optional[ClientBootstrap] = None,
                  socket_options: Optional[SocketOptions] = None,
                  tls_connection_options: Optional[TlsConnectionOptions] = None,
                  proxy_options: Optional[HttpProxyOptions] = None,
                  manual_window_management: bool = False,
                  initial_window_size: Optional[int] = None,
                  *,
                  max_response_header_bytes: int = DEFAULT_MAX_RESPONSE_HEADER_BYTES,
                  response_first_byte_timeout_ms: Optional[int] = None,
                  minimum_throughput_bytes_per_second: int = 0,
                  allowable_throughput_failure_interval_seconds: int = 2,
                  tls_negotiation_timeout_ms: Optional[int] = None,
                  ) -> "AIOHttpClientConnectionUnified":
        """Connect; over TLS with no ALPN list, offer ``h2`` and ``http/1.1``.

        Returns an :class:`AIOHttp2ClientConnection` or :class:`AIOHttpClientConnection`.
        """
        return await _open(cls, "any", _arguments(locals()))

    async def close(self) -> None:
        """Close and wait until closed; raise the shutdown error if it had already failed."""
        driver = self._driver
        failed_before = driver.shutdown_future.done()
        driver.check_loop()
        driver.close()
        await driver.wait_closed()
        if failed_before:
            error = driver.shutdown_future.exception()
            if error is not None:
                raise error

    def request(self,
                request: HttpRequest,
                request_body_generator: Optional[AsyncIterator[bytes]] = None,
                loop: Optional[asyncio.AbstractEventLoop] = None) -> "AIOHttpClientStreamUnified":
        """Start the exchange at once and return its stream."""
        cls = AIOHttp2ClientStream if self._driver.version is HttpVersion.Http2 else AIOHttpClientStream
        return cls(self, request, request_body_generator=request_body_generator, loop=loop)


class AIOHttpClientConnection(AIOHttpClientConnectionUnified):
    """An asyncio HTTP/1.1 (or 1.0) connection."""

    __slots__ = ()

    @classmethod
    async def new(cls,  # type: ignore[override]
                  host_name: str,
                  port: int,
                  bootstrap: Optional[ClientBootstrap] = None,
                  socket_options: Optional[SocketOptions] = None,
                  tls_connection_options: Optional[TlsConnectionOptions] = None,
                  proxy_options: Optional[HttpProxyOptions] = None,
                  manual_window_management: bool = False,
                  initial_window_size: Optional[int] = None,
                  read_buffer_capacity: Optional[int] = None,
                  *,
                  max_response_header_bytes: int = DEFAULT_MAX_RESPONSE_HEADER_BYTES,
                  response_first_byte_timeout_ms: Optional[int] = None,
                  minimum_throughput_bytes_per_second: int = 0,
                  allowable_throughput_failure_interval_seconds: int = 2,
                  tls_negotiation_timeout_ms: Optional[int] = None,
                  ) -> "AIOHttpClientConnection":
        """Connect for HTTP/1.1; fails with 2060 if TLS negotiates another protocol."""
        return await _open(cls, "h1", _arguments(locals()))  # type: ignore[return-value]

    def request(self,
                request: HttpRequest,
                request_body_generator: Optional[AsyncIterator[bytes]] = None,
                loop: Optional[asyncio.AbstractEventLoop] = None) -> "AIOHttpClientStream":
        """Start the exchange (queued behind earlier ones on this connection)."""
        return AIOHttpClientStream(self, request, loop, request_body_generator=request_body_generator)


class AIOHttp2ClientConnection(AIOHttpClientConnectionUnified):
    """An asyncio HTTP/2 connection (h2 over TLS, or h2c with prior knowledge)."""

    __slots__ = ()

    @classmethod
    async def new(cls,  # type: ignore[override]
                  host_name: str,
                  port: int,
                  bootstrap: Optional[ClientBootstrap] = None,
                  socket_options: Optional[SocketOptions] = None,
                  tls_connection_options: Optional[TlsConnectionOptions] = None,
                  proxy_options: Optional[HttpProxyOptions] = None,
                  initial_settings: Optional[List[Http2Setting]] = None,
                  on_remote_settings_changed: Optional[Callable[[List[Http2Setting]], None]] = None,
                  manual_window_management: bool = False,
                  initial_window_size: Optional[int] = None,
                  conn_manual_window_management: bool = False,
                  conn_window_size_threshold: Optional[int] = None,
                  stream_window_size_threshold: Optional[int] = None,
                  *,
                  max_response_header_bytes: int = DEFAULT_MAX_RESPONSE_HEADER_BYTES,
                  response_first_byte_timeout_ms: Optional[int] = None,
                  minimum_throughput_bytes_per_second: int = 0,
                  allowable_throughput_failure_interval_seconds: int = 2,
                  tls_negotiation_timeout_ms: Optional[int] = None,
                  ) -> "AIOHttp2ClientConnection":
        """Connect for HTTP/2; fails with 2060 when the server does not pick ``h2``."""
        return await _open(cls, "h2", _arguments(locals()))  # type: ignore[return-value]

    def request(self,
                request: HttpRequest,
                request_body_generator: Optional[AsyncIterator[bytes]] = None,
                loop: Optional[asyncio.AbstractEventLoop] = None) -> "AIOHttp2ClientStream":
        """Start a new multiplexed stream."""
        return AIOHttp2ClientStream(self, request, request_body_generator, loop)

    def update_window(self, increment_size: int) -> None:
        """Grow the connection-level receive window (with ``conn_manual_window_management``)."""
        check_window_increment(increment_size)
        self._driver.call_in_loop(self._driver.connection_window_update, increment_size)  # type: ignore[attr-defined]


class AIOHttpClientStreamUnified(HttpClientStreamBase):
    """One exchange, awaited on the connection's loop.

    In automatic window mode the stream buffers at most about 8 MiB of body the caller has
    not taken yet; past that the connection stops reading (HTTP/1.1) or withholds
    WINDOW_UPDATE (HTTP/2) until :meth:`get_next_response_chunk` drains it.
    """

    __slots__ = ("_loop", "_chunks", "_waiter", "_auto_release")

    def __init__(self,
                 connection: AIOHttpClientConnectionUnified,
                 request: HttpRequest,
                 request_body_generator: Optional[AsyncIterator[bytes]] = None,
                 loop: Optional[asyncio.AbstractEventLoop] = None) -> None:
        driver: ConnectionDriver = connection._driver
        if loop is not None and loop is not driver.loop:
            if not isinstance(loop, asyncio.AbstractEventLoop):
                raise TypeError("loop must be an asyncio.AbstractEventLoop")
            raise RuntimeError(f"connection to {driver.where} belongs to another event loop")
        driver.check_loop()
        if not isinstance(request, HttpRequest):
            raise TypeError(f"request must be an HttpRequest, got {type(request).__name__}")
        if request_body_generator is not None and not hasattr(request_body_generator, "__anext__"):
            raise TypeError("request_body_generator must be an async iterator of bytes")
        validate_request(request)
        if not driver.is_open():
            raise driver.closed_error("request() on a closed connection")
        opts = driver.opts
        self._connection = connection
        self._loop = driver.loop
        self._chunks: Deque[bytes] = deque()
        self._waiter: Optional[asyncio.Future] = None
        self._auto_release = not opts.manual_window_management
        self._core = StreamCore(
            driver, request, self, window=opts.stream_window(),
            manual_window=opts.manual_window_management, body_generator=request_body_generator,
            lazy_completion=True)
        self._core.activate()

    # ---- sink (loop thread) -------------------------------------------------------------

    def on_head(self, status: int, headers: Headers) -> None:
        self._wake()

    def on_body(self, chunk: bytes) -> None:
        self._chunks.append(chunk)
        self._wake()

    def on_remote_end(self) -> None:
        self._wake()

    def on_complete(self, error: Optional[BaseException]) -> None:
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    async def _wait(self) -> None:
        """Wait for the next event; a cancelled wait cancels the exchange (2095)."""
        waiter = self._waiter
        if waiter is None:
            waiter = self._waiter = self._loop.create_future()
        try:
            await waiter
        except asyncio.CancelledError:
            self._core.cancel()
            raise

    # ---- public -----------------------------------------------------------------------

    async def get_response_status_code(self) -> int:
        """The final status code; raises the stream's error if it fails before its head."""
        core = self._core
        while core.status is None:
            if core.state == DONE:
                raise core.error  # type: ignore[misc]
            await self._wait()
        return core.status

    async def get_response_headers(self) -> List[Tuple[str, str]]:
        """The final response headers (wire case and order)."""
        core = self._core
        while core.headers is None:
            if core.state == DONE:
                raise core.error  # type: ignore[misc]
            await self._wait()
        return core.headers

    async def get_next_response_chunk(self) -> bytes:
        """The next piece of body; ``b""`` once the body is complete; raises if it failed."""
        core = self._core
        chunks = self._chunks
        while not chunks:
            if core.state == DONE:
                if core.error is not None:
                    raise core.error
                return b""
            if core.remote_ended:
                return b""
            await self._wait()
        chunk = chunks.popleft()
        if self._auto_release:
            core.update_window(len(chunk))
        return chunk

    async def get_response_trailers(self) -> List[Tuple[str, str]]:
        """Response trailers (empty if none); resolves when the body has ended."""
        core = self._core
        while core.state != DONE and not core.remote_ended:
            await self._wait()
        if core.error is not None:
            raise core.error
        return list(core.trailers)

    async def wait_for_completion(self) -> int:
        """Wait for the exchange to end; return the status code or raise its error."""
        core = self._core
        while core.state != DONE:
            await self._wait()
        if core.error is not None:
            raise core.error
        return core.status  # type: ignore[return-value]


class AIOHttpClientStream(AIOHttpClientStreamUnified):
    """A stream on an HTTP/1.x connection."""

    __slots__ = ()

    def __init__(self,
                 connection: AIOHttpClientConnectionUnified,
                 request: HttpRequest,
                 loop: Optional[asyncio.AbstractEventLoop] = None,
                 *,
                 request_body_generator: Optional[AsyncIterator[bytes]] = None) -> None:
        """awscrt's ``(connection, request, loop)``; beyond awscrt, a request body may stream
        from ``request_body_generator`` on HTTP/1.x too."""
        super().__init__(connection, request, request_body_generator, loop)


class AIOHttp2ClientStream(AIOHttpClientStreamUnified):
    """A stream on an HTTP/2 connection."""

    __slots__ = ()
