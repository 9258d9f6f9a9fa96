"""Base classes shared by the synchronous and asyncio APIs (as ``awscrt.http`` has them).

They hold no protocol logic: a connection object wraps a protocol driver of
``crt_http.aio`` and a stream object wraps a :class:`crt_http.aio._stream.StreamCore`.
"""

from __future__ import annotations

import concurrent.futures
from typing import TYPE_CHECKING, Any, Callable, Optional

from crt_http._models import HttpVersion

if TYPE_CHECKING:
    from crt_http.aio._driver import ConnectionDriver
    from crt_http.aio._stream import StreamCore


class HttpConnectionBase:
    """Base for HTTP connection classes."""

    __slots__ = ("_driver", "__weakref__")

    _driver: "ConnectionDriver"

    @property
    def shutdown_future(self) -> concurrent.futures.Future:
        """Completes when the connection has shut down: ``None`` on a clean close, else the error."""
        return self._driver.shutdown_future

    @property
    def version(self) -> HttpVersion:
        """The protocol this connection speaks (the :class:`HttpVersion` member itself)."""
        return self._driver.version

    def is_open(self) -> bool:
        """True while the connection is open and usable for new requests."""
        return self._driver.is_open()


class HttpClientConnectionBase(HttpConnectionBase):
    """Base for HTTP client connections."""

    __slots__ = ()

    @property
    def host_name(self) -> str:
        """Remote host name."""
        return self._driver.host

    @property
    def port(self) -> int:
        """Remote port."""
        return self._driver.port

    def __del__(self) -> None:
        # A connection nobody references closes itself; shutdown_future still completes.
        driver = getattr(self, "_driver", None)
        if driver is not None:
            driver.close_soon()


class HttpStreamBase:
    """Base for HTTP streams (constructor as awscrt's: ``connection``, optional ``on_body``)."""

    __slots__ = ("_core", "_connection", "_on_body", "__weakref__")

    _core: "StreamCore"
    _connection: Any

    def __init__(self, connection: Any, on_body: Optional[Callable[..., None]] = None) -> None:
        self._connection = connection
        self._on_body = on_body

    @property
    def connection(self) -> Any:
        """This stream's connection."""
        return self._connection

    @property
    def completion_future(self) -> concurrent.futures.Future:
        """Completes with the response status code, or the error that ended the exchange."""
        return self._core.completion_future


class HttpClientStreamBase(HttpStreamBase):
    """Base for HTTP client streams."""

    __slots__ = ()

    @property
    def version(self) -> HttpVersion:
        """Protocol of this stream (``Http1_0`` when the server answered with HTTP/1.0)."""
        return self._core.version

    @property
    def response_status_code(self) -> Optional[int]:
        """The final response status code; ``None`` until the response head arrives."""
        return self._core.status

    def update_window(self, increment_size: int) -> None:
        """Grow this stream's flow-control window by ``increment_size`` bytes."""
        self._core.update_window_threadsafe(increment_size)
