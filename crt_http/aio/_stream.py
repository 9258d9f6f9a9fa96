"""The stream core: one object per request/response exchange.

It is the single place where a stream's state, errors and completion are decided. Protocol
drivers report what the peer did (``deliver_head``, ``deliver_data``, ``deliver_trailers``,
``remote_end``, ``finish``, ``fail``); the core hands those events to a *sink* (the facade of
the aio or sync API) and completes ``completion_future``. Everything here runs on the
connection's loop thread except :meth:`StreamCore.update_window_threadsafe`.
"""

from __future__ import annotations

import concurrent.futures
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable, List, Optional, Protocol, Tuple

from crt_http import exceptions
from crt_http._models import HttpRequest, HttpVersion

if TYPE_CHECKING:
    from crt_http.aio._driver import ConnectionDriver

Headers = List[Tuple[str, str]]

MAX_WINDOW_INCREMENT = 2**31 - 1

# Stream states.
CREATED, ACTIVE, DONE = 0, 1, 2


class StreamSink(Protocol):
    """What a facade implements to receive a stream's events (all on the loop thread)."""

    def on_head(self, status: int, headers: Headers) -> None: ...

    def on_body(self, chunk: bytes) -> None: ...

    def on_remote_end(self) -> None: ...

    def on_complete(self, error: Optional[BaseException]) -> None: ...


def check_window_increment(increment_size: int) -> None:
    """Raise ``TypeError``/``ValueError`` for an increment that is not an int in 0..2^31-1."""
    if not isinstance(increment_size, int) or isinstance(increment_size, bool):
        raise TypeError(f"increment_size must be an int, got {type(increment_size).__name__}")
    if not 0 <= increment_size <= MAX_WINDOW_INCREMENT:
        raise ValueError(f"increment_size must be in 0..{MAX_WINDOW_INCREMENT}, got {increment_size}")


class StreamCore:
    """State of one exchange, shared by every protocol and both APIs.

    ``window`` is the number of body bytes the sink still accepts before the driver must stop
    reading for this stream; ``None`` means unbounded (the sink consumes as it receives).
    """

    __slots__ = (
        "driver", "request", "sink", "body_generator", "state", "status", "headers",
        "trailers", "version", "_completion", "error", "window", "manual_window",
        "remote_ended", "stream_id", "manual_write", "__weakref__",
    )

    def __init__(
        self,
        driver: "ConnectionDriver",
        request: HttpRequest,
        sink: StreamSink,
        *,
        window: Optional[int],
        manual_window: bool,
        body_generator: Optional[AsyncIterator[bytes]] = None,
        manual_write: bool = False,
        lazy_completion: bool = False,
    ) -> None:
        self.driver = driver
        self.request: Optional[HttpRequest] = request
        self.sink: Optional[StreamSink] = sink
        self.body_generator = body_generator
        self.manual_write = manual_write
        self.state = CREATED
        self.status: Optional[int] = None
        self.headers: Optional[Headers] = None
        self.trailers: Headers = []
        self.version: HttpVersion = driver.version
        # lazy_completion (the aio API, which awaits the stream itself): made on first use,
        # which must then be on the loop thread; a Future costs a lock to make and resolve.
        self._completion: Optional[concurrent.futures.Future] = (
            None if lazy_completion else concurrent.futures.Future())
        self.error: Optional[BaseException] = None
        self.window = window
        self.manual_window = manual_window
        self.remote_ended = False
        self.stream_id = 0

    @property
    def completion_future(self) -> concurrent.futures.Future:
        """Resolves with the status code, or with the stream's error."""
        future = self._completion
        if future is None:
            future = self._completion = concurrent.futures.Future()
            if self.state == DONE:
                self._resolve(future)
        return future

    def _resolve(self, future: concurrent.futures.Future) -> None:
        if self.error is None:
            future.set_result(self.status)
        else:
            future.set_exception(self.error)

    # ---- called by the facades -------------------------------------------------------

    def activate(self) -> None:
        """Hand the stream to its driver (loop thread). Fails the stream if it cannot start."""
        if self.state != CREATED:
            return
        self.state = ACTIVE
        self.driver.submit(self)

    def update_window(self, increment_size: int) -> None:
        """Grow the window (loop thread); the driver resumes reading if it had stopped."""
        if self.state == DONE or increment_size == 0:
            return
        if self.window is not None:
            self.window += increment_size
        self.driver.window_update(self, increment_size)

    def update_window_threadsafe(self, increment_size: int) -> None:
        """:meth:`update_window` from any thread (validated on the caller's thread)."""
        check_window_increment(increment_size)
        self.driver.call_in_loop(self.update_window, increment_size)

    def cancel(self) -> None:
        """Cancel the exchange on the user's request (error 2095)."""
        if self.state != DONE:
            self.driver.abort_stream(
                self, exceptions.error("AWS_ERROR_HTTP_STREAM_CANCELLED", self.where()))

    # ---- called by the drivers -------------------------------------------------------

    def deliver_head(self, status: int, headers: Headers, version: Optional[HttpVersion] = None) -> None:
        """The final response head arrived."""
        self.status = status
        self.headers = headers
        if version is not None:
            self.version = version
        self._to_sink(self.sink.on_head, status, headers)  # type: ignore[union-attr]

    def deliver_data(self, chunk: bytes) -> None:
        """Body bytes arrived; the caller checks ``window`` afterwards to decide on reading."""
        if self.window is not None:
            self.window -= len(chunk)
        self._to_sink(self.sink.on_body, chunk)  # type: ignore[union-attr]

    def deliver_trailers(self, trailers: Headers) -> None:
        """Trailers arrived (before :meth:`finish`)."""
        self.trailers = trailers

    def remote_end(self) -> None:
        """The peer finished sending (HTTP/2 and HTTP/3 END_STREAM)."""
        if not self.remote_ended and self.state != DONE:
            self.remote_ended = True
            self._to_sink(self.sink.on_remote_end)  # type: ignore[union-attr]

    def finish(self) -> None:
        """The exchange completed; ``completion_future`` gets the status code."""
        if self.state == DONE:
            return
        self.state = DONE
        sink = self.sink
        self.sink = None
        self.request = None
        if sink is not None:
            sink.on_complete(None)
        if self._completion is not None:
            self._resolve(self._completion)

    def fail(self, error: BaseException) -> None:
        """The exchange ended in ``error`` (already an AwsCrtError or a builtin)."""
        if self.state == DONE:
            return
        self.state = DONE
        self.error = error
        sink = self.sink
        self.sink = None
        self.request = None
        if sink is not None:
            sink.on_complete(error)
        if self._completion is not None:
            self._resolve(self._completion)

    def where(self) -> str:
        """Where this exchange goes, for error messages."""
        return f"stream to {self.driver.where}"

    def _to_sink(self, method: Callable[..., None], *args: Any) -> None:
        if self.state == DONE:
            return
        try:
            method(*args)
        except Exception as exc:  # a user callback raised: that stream ends in error
            err = exceptions.error(
                "AWS_ERROR_HTTP_CALLBACK_FAILURE",
                f"a response callback raised {exc!r} ({self.where()})")
            err.__cause__ = exc
            self.driver.abort_stream(self, err)

