"""One interface over both public APIs, so an end-to-end test is written once and run on
the aio API (``crt_http.aio.http``) and the sync API (``crt_http.http``) alike.

``api`` is ``"aio"`` or ``"sync"``; ``proto`` is ``"h1"`` (HTTP/1.x connection classes),
``"h2"`` (HTTP/2 classes) or ``"unified"`` (aio ``AIOHttpClientConnectionUnified``; the sync
``HttpClientConnection``, whose ALPN decides). Everything is awaited on the test's loop;
the sync API's futures are bridged with ``asyncio.wrap_future``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Iterable, List, Optional, Tuple

from crt_http import http as sync_http
from crt_http.aio import http as aio_http
from crt_http.http import HttpHeaders, HttpRequest

DEFAULT_TIMEOUT = 20.0

_CLASSES = {
    ("aio", "h1"): aio_http.AIOHttpClientConnection,
    ("aio", "h2"): aio_http.AIOHttp2ClientConnection,
    ("aio", "unified"): aio_http.AIOHttpClientConnectionUnified,
    ("sync", "h1"): sync_http.HttpClientConnection,
    ("sync", "h2"): sync_http.Http2ClientConnection,
    ("sync", "unified"): sync_http.HttpClientConnection,
}


@dataclass
class Response:
    """What one exchange produced."""

    status: int
    headers: List[Tuple[str, str]]
    body: bytes
    trailers: List[Tuple[str, str]] = field(default_factory=list)
    version: Any = None
    chunks: int = 0

    def header(self, name: str) -> Optional[str]:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


def make_request(method: str = "GET", path: str = "/echo",
                 headers: Iterable[Tuple[str, str]] = (), body: Any = None) -> HttpRequest:
    """An HttpRequest with a Host header (tests use ``localhost``)."""
    return HttpRequest(method, path, HttpHeaders(list(headers)), body)


async def connect(api: str, proto: str, host: str, port: int, loop_impl: str = "asyncio",
                  **kwargs: Any) -> "Conn":
    """Open a connection through the chosen API; errors propagate as the API raises them.

    The sync API runs on an EventLoopGroup of ``loop_impl`` unless ``bootstrap`` is given.
    """
    cls = _CLASSES[(api, proto)]
    if api == "sync":
        kwargs.setdefault("bootstrap", bootstrap_for(loop_impl))
    if api == "aio":
        conn = await asyncio.wait_for(cls.new(host, port, **kwargs), DEFAULT_TIMEOUT)
    else:
        future = cls.new(host, port, **kwargs)
        assert isinstance(future, concurrent.futures.Future)
        conn = await asyncio.wait_for(asyncio.wrap_future(future), DEFAULT_TIMEOUT)
    return Conn(api, conn)


class Exchange:
    """A started exchange; :meth:`response` waits for the whole of it."""

    def __init__(self, conn: "Conn", request: HttpRequest,
                 body_generator: Optional[AsyncIterator[bytes]]) -> None:
        self.conn = conn
        self.request = request
        self._chunks: List[bytes] = []
        self._head: Optional[Tuple[int, List[Tuple[str, str]]]] = None
        if conn.api == "aio":
            self.stream = conn.raw.request(request, body_generator)
        else:
            if body_generator is not None:
                raise ValueError("the sync API takes body_stream, not a generator")
            self.stream = conn.raw.request(request, on_response=self._on_response, on_body=self._on_body)
            self.stream.activate()

    def _on_response(self, http_stream: Any, status_code: int, headers: Any, **kwargs: Any) -> None:
        self._head = (status_code, headers)

    def _on_body(self, http_stream: Any, chunk: bytes, **kwargs: Any) -> None:
        self._chunks.append(bytes(chunk))

    async def response(self, timeout: float = DEFAULT_TIMEOUT) -> Response:
        """The complete response, or the stream's error raised as the API raises it."""
        return await asyncio.wait_for(self._response(), timeout)

    async def _response(self) -> Response:
        stream = self.stream
        if self.conn.api == "aio":
            status = await stream.get_response_status_code()
            headers = await stream.get_response_headers()
            while True:
                chunk = await stream.get_next_response_chunk()
                if not chunk:
                    break
                self._chunks.append(chunk)
            await stream.wait_for_completion()
            trailers = await stream.get_response_trailers()
        else:
            status = await asyncio.wrap_future(stream.completion_future)
            assert self._head is not None and self._head[0] == status
            headers = self._head[1]
            trailers = stream.response_trailers
        return Response(status, headers, b"".join(self._chunks), trailers, stream.version,
                        len(self._chunks))


class Conn:
    """A connection of either API."""

    def __init__(self, api: str, raw: Any) -> None:
        self.api = api
        self.raw = raw

    @property
    def version(self) -> Any:
        return self.raw.version

    @property
    def shutdown_future(self) -> concurrent.futures.Future:
        return self.raw.shutdown_future

    def is_open(self) -> bool:
        return self.raw.is_open()

    def start(self, method: str = "GET", path: str = "/echo",
              headers: Iterable[Tuple[str, str]] = (), body: Any = None,
              body_generator: Optional[AsyncIterator[bytes]] = None) -> Exchange:
        """Start an exchange without waiting for it."""
        return Exchange(self, make_request(method, path, headers, body), body_generator)

    async def request(self, method: str = "GET", path: str = "/echo",
                      headers: Iterable[Tuple[str, str]] = (), body: Any = None,
                      body_generator: Optional[AsyncIterator[bytes]] = None,
                      timeout: float = DEFAULT_TIMEOUT) -> Response:
        """Run one exchange to its end."""
        return await self.start(method, path, headers, body, body_generator).response(timeout)

    async def shutdown(self, timeout: float = DEFAULT_TIMEOUT) -> Optional[BaseException]:
        """Wait for ``shutdown_future``; return its exception (None for a clean close)."""
        future = self.raw.shutdown_future
        try:
            await asyncio.wait_for(asyncio.wrap_future(future), timeout)
        except asyncio.TimeoutError:
            raise
        except BaseException as exc:  # the shutdown error is the result under test
            return exc
        return None

    async def close(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Close through the API and wait until closed (errors of an earlier failure ignored)."""
        if self.api == "aio":
            try:
                await asyncio.wait_for(self.raw.close(), timeout)
            except asyncio.TimeoutError:
                raise
            except Exception:
                pass
        else:
            self.raw.close()
            await self.shutdown(timeout)


_BOOTSTRAPS: dict = {}


def bootstrap_for(loop_impl: str) -> Any:
    """A ClientBootstrap whose EventLoopGroup runs ``loop_impl`` (one per process, reused)."""
    from crt_http.io import ClientBootstrap, DefaultHostResolver, EventLoopGroup

    if loop_impl not in _BOOTSTRAPS:
        group = EventLoopGroup(1, loop_impl=loop_impl)
        _BOOTSTRAPS[loop_impl] = ClientBootstrap(group, DefaultHostResolver(group))
    return _BOOTSTRAPS[loop_impl]
