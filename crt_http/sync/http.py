"""The concurrent.futures + callback API of ``awscrt.http``, driving the asyncio core.

Every connection lives on one loop thread of an :class:`~crt_http.io.EventLoopGroup`; each
call crosses to that thread once (through the loop's :class:`~crt_http._loop_thread.Poster`:
one wake-up per batch of calls) and never blocks the caller. ``on_response`` / ``on_body``
and future callbacks run on the loop thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections import deque
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple, Union

from crt_http import exceptions
from crt_http._base import HttpClientConnectionBase, HttpClientStreamBase
from crt_http._loop_thread import poster_for
from crt_http._models import (
    Http2Setting, HttpProxyOptions, HttpRequest, HttpVersion, InputStream, validate_request,
)
from crt_http.aio._connect import Mode, establish
from crt_http.aio._options import DEFAULT_MAX_RESPONSE_HEADER_BYTES, ConnectionOptions
from crt_http.aio._options import arguments as _arguments
from crt_http.aio._stream import Headers, StreamCore, check_window_increment
from crt_http.io import ClientBootstrap, SocketOptions, TlsConnectionOptions

__all__ = ["HttpClientConnection", "Http2ClientConnection", "HttpClientStream", "Http2ClientStream"]

_LAZY_FUTURE_LOCK = threading.Lock()


def _new(mode: Mode, kwargs: Dict[str, Any]) -> concurrent.futures.Future:
    """Validate on the caller's thread, then connect on a loop thread of the bootstrap's group."""
    opts = ConnectionOptions(sync_api=True, **kwargs)
    bootstrap = opts.bootstrap or ClientBootstrap.get_or_create_static_default()
    loop = bootstrap.event_loop_group._next_loop()

    async def connect() -> HttpClientConnectionBase:
        driver = await establish(opts, mode)
        cls = Http2ClientConnection if driver.version is HttpVersion.Http2 else HttpClientConnection
        conn = cls.__new__(cls)
        conn._driver = driver
        conn._post = poster_for(driver.loop).post
        return conn

    return asyncio.run_coroutine_threadsafe(connect(), loop)


class _SyncConnection(HttpClientConnectionBase):
    # _post(fn, *args): run fn(*args) on the connection's loop thread, in posting order.
    __slots__ = ("_post",)

    _post: Callable[..., None]

    def close(self) -> concurrent.futures.Future:
        """Start closing; returns ``shutdown_future``. Streams still pending fail with 2058."""
        self._driver.close_soon()
        return self._driver.shutdown_future

    def _check_request(self, request: HttpRequest, on_response: Any, on_body: Any) -> None:
        if not isinstance(request, HttpRequest):
            raise TypeError(f"request must be an HttpRequest, got {type(request).__name__}")
        for name, cb in (("on_response", on_response), ("on_body", on_body)):
            if cb is not None and not callable(cb):
                raise TypeError(f"{name} must be callable or None")
        validate_request(request)
        if not self._driver.is_open():
            raise self._driver.closed_error("request() on a closed connection")


class HttpClientConnection(_SyncConnection):
    """An HTTP/1.x client connection (or HTTP/2, when the caller's ALPN list picked ``h2``)."""

    __slots__ = ()

    @classmethod
    def new(cls,
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
            ) -> concurrent.futures.Future:
        """Connect; the future holds an :class:`HttpClientConnection` or, if ALPN picked h2,
        an :class:`Http2ClientConnection`. Bad arguments raise at once."""
        return _new("alpn", _arguments(locals()))

    def request(self,
                request: HttpRequest,
                on_response: Optional[Callable[..., None]] = None,
                on_body: Optional[Callable[..., None]] = None) -> "HttpClientStream":
        """Create the stream; nothing is sent until :meth:`HttpClientStream.activate`."""
        self._check_request(request, on_response, on_body)
        return HttpClientStream(self, request, on_response, on_body)


class Http2ClientConnection(_SyncConnection):
    """An HTTP/2 client connection (h2 over TLS, or h2c with prior knowledge)."""

    __slots__ = ()

    @classmethod
    def new(cls,
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
            ) -> concurrent.futures.Future:
        """Connect for HTTP/2; the future fails with 2060 if the server does not pick h2."""
        return _new("h2", _arguments(locals()))

    def request(self,
                request: HttpRequest,
                on_response: Optional[Callable[..., None]] = None,
                on_body: Optional[Callable[..., None]] = None,
                manual_write: bool = False) -> "Http2ClientStream":
        """Create the stream; nothing is sent until :meth:`Http2ClientStream.activate`."""
        self._check_request(request, on_response, on_body)
        return Http2ClientStream(self, request, on_response, on_body, manual_write)

    def update_window(self, increment_size: int) -> None:
        """Grow the connection-level receive window (``conn_manual_window_management``)."""
        check_window_increment(increment_size)
        self._post(self._driver.connection_window_update, increment_size)  # type: ignore[attr-defined]


class _SyncStream(HttpClientStreamBase):
    """One exchange of the synchronous API; callbacks run on the connection's loop thread.

    ``response_trailers`` holds the response trailers (``[]`` if none) once the body ended;
    it is set before ``completion_future`` resolves.
    """

    __slots__ = ("_on_response",)

    def __init__(self, connection: _SyncConnection, request: HttpRequest,
                 on_response: Optional[Callable[..., None]] = None,
                 on_body: Optional[Callable[..., None]] = None,
                 *, manual_write: bool = False) -> None:
        driver = connection._driver
        super().__init__(connection, on_body)
        self._on_response = on_response
        body = ManualBody(connection._post) if manual_write else None
        self._core = StreamCore(driver, request, self, window=driver.opts.stream_window(),
                                manual_window=driver.opts.manual_window_management,
                                body_generator=body, manual_write=manual_write)

    @property
    def response_trailers(self) -> List[Tuple[str, str]]:
        """Response trailers; ``[]`` when there were none (or before the body ended)."""
        return list(self._core.trailers)

    def activate(self) -> None:
        """Begin the exchange; callbacks and events start firing."""
        self._connection._post(self._core.activate)

    def update_window(self, increment_size: int) -> None:
        """Grow this stream's flow-control window by ``increment_size`` bytes."""
        check_window_increment(increment_size)
        self._connection._post(self._core.update_window, increment_size)

    # ---- sink (loop thread) -------------------------------------------------------------

    def on_head(self, status: int, headers: Headers) -> None:
        if self._on_response is not None:
            self._on_response(http_stream=self, status_code=status, headers=headers)

    def on_body(self, chunk: bytes) -> None:
        if self._on_body is not None:
            self._on_body(http_stream=self, chunk=chunk)

    def on_remote_end(self) -> None:
        pass

    def on_complete(self, error: Optional[BaseException]) -> None:
        self._on_response = self._on_body = None
        body = self._core.body_generator
        if isinstance(body, ManualBody):
            body.close(error)


class HttpClientStream(_SyncStream):
    """An HTTP/1.x exchange (see :class:`_SyncStream`)."""

    __slots__ = ()


class Http2ClientStream(_SyncStream):
    """An HTTP/2 exchange; adds manual writes and ``remote_end_stream_future``.

    As in awscrt, it derives from ``HttpClientStreamBase``, not from :class:`HttpClientStream`.
    """

    # The future is made on first use (most callers never ask): _remote_end holds the
    # outcome once the loop thread knows it (True: END_STREAM arrived, else the error).
    # Each side writes its own slot, then reads the other's, so at least one of them settles
    # the future (both may: the second finds it done).
    __slots__ = ("_remote_end_stream_future", "_remote_end")

    def __init__(self, connection: _SyncConnection, request: HttpRequest,
                 on_response: Optional[Callable[..., None]] = None,
                 on_body: Optional[Callable[..., None]] = None,
                 manual_write: bool = False) -> None:
        self._remote_end_stream_future: Optional[concurrent.futures.Future] = None
        self._remote_end: Union[bool, BaseException, None] = None
        super().__init__(connection, request, on_response, on_body, manual_write=manual_write)

    @property
    def remote_end_stream_future(self) -> concurrent.futures.Future:
        """Completes when the server's END_STREAM arrives; fails with ``RuntimeError`` if the
        stream ends without one."""
        future = self._remote_end_stream_future
        if future is None:
            with _LAZY_FUTURE_LOCK:  # two threads asking first get the same future
                future = self._remote_end_stream_future
                if future is None:
                    future = self._remote_end_stream_future = concurrent.futures.Future()
            self._settle_remote_end(future)
        return future

    def _settle_remote_end(self, future: concurrent.futures.Future) -> None:
        outcome = self._remote_end
        try:
            if outcome is True:
                future.set_result(None)
            elif isinstance(outcome, BaseException):
                future.set_exception(outcome)
        except concurrent.futures.InvalidStateError:  # the other thread settled it first
            pass

    def write_data(self, data_stream: Any, end_stream: bool = False) -> concurrent.futures.Future:
        """Queue one piece of the request body (``manual_write=True`` only).

        The future completes once the piece was handed to the connection.
        """
        core = self._core
        body = core.body_generator
        if not isinstance(body, ManualBody):
            raise exceptions.error("AWS_ERROR_HTTP_MANUAL_WRITE_NOT_ENABLED",
                                   "create the stream with request(..., manual_write=True)")
        stream = InputStream.wrap(data_stream, allow_none=True)
        data = b""
        if stream is not None:
            parts = []
            while True:
                piece = stream.read(1024 * 1024)
                if not piece:
                    break
                parts.append(piece)
            data = b"".join(parts)
        return body.write(data, bool(end_stream))

    def on_remote_end(self) -> None:
        self._end_remote(True)

    def on_complete(self, error: Optional[BaseException]) -> None:
        self._end_remote(RuntimeError("Stream completed without receiving remote END_STREAM"))
        super().on_complete(error)

    def _end_remote(self, outcome: Union[bool, BaseException]) -> None:
        if self._remote_end is None:
            self._remote_end = outcome
            future = self._remote_end_stream_future
            if future is not None:
                self._settle_remote_end(future)


class ManualBody:
    """An async iterator of body pieces fed by :meth:`write` from any thread.

    A piece's future completes when the driver asks for the next piece, i.e. once the
    previous one was handed to the protocol; the last one completes when the body ends.
    """

    def __init__(self, call_in_loop: Callable[..., None]) -> None:
        self._call_in_loop = call_in_loop
        self._items: Deque[Tuple[bytes, bool, concurrent.futures.Future]] = deque()
        self._sent: Optional[concurrent.futures.Future] = None
        self._waiter: Optional[asyncio.Future] = None
        self._ended = False  # end_stream was written (caller's view)
        self._error: Optional[BaseException] = None

    def write(self, data: bytes, end_stream: bool) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()
        if self._ended:
            future.set_exception(exceptions.error(
                "AWS_ERROR_HTTP_MANUAL_WRITE_HAS_COMPLETED", "end_stream was already written"))
            return future
        self._ended = end_stream
        self._call_in_loop(self._push, data, end_stream, future)
        return future

    def _push(self, data: bytes, end_stream: bool, future: concurrent.futures.Future) -> None:
        if self._error is not None:
            future.set_exception(self._error)
            return
        self._items.append((data, end_stream, future))
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def close(self, error: Optional[BaseException]) -> None:
        """The stream ended: fail what was never sent (loop thread)."""
        failure = error or exceptions.error("AWS_ERROR_HTTP_STREAM_HAS_COMPLETED", "the stream completed")
        self._error = failure
        self._done_sent()
        while self._items:
            _data, _end, future = self._items.popleft()
            if not future.done():
                future.set_exception(failure)

    def _done_sent(self) -> None:
        sent, self._sent = self._sent, None
        if sent is not None and not sent.done():
            sent.set_result(None)

    def __aiter__(self) -> "ManualBody":
        return self

    async def __anext__(self) -> bytes:
        self._done_sent()
        while not self._items:
            if self._error is not None:
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
            self._waiter = None
        data, end_stream, future = self._items.popleft()
        if end_stream and not data:
            future.set_result(None)
            raise StopAsyncIteration
        self._sent = future
        if end_stream:
            self._items.appendleft((b"", True, concurrent.futures.Future()))
        return data
