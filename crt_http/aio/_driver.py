"""What every protocol driver shares: lifecycle, shutdown future, loop affinity, write pressure.

A driver is the asyncio protocol of one connection. It owns the protocol state machine
(h11, h2 or aioquic), the flow-control windows and the table of streams, and turns what the
peer sends into :class:`~crt_http.aio._stream.StreamCore` calls.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import Any, AsyncIterator, Callable, Optional, Union

from crt_http import exceptions
from crt_http._models import HttpVersion
from crt_http.aio._options import ConnectionOptions
from crt_http.aio._stream import DONE, StreamCore
from crt_http.aio._timer import Deadlines

BODY_READ_SIZE = 256 * 1024
Buffer = Union[bytes, memoryview]

# Drivers that paused reading. asyncio references a transport only while it is registered
# for reading; a paused one (and its driver, streams and requests with it) would otherwise
# be garbage once the caller dropped every reference, though its exchange still runs.
# set.add and set.discard are atomic, so loop threads may share it.
_PAUSED_DRIVERS: "set[ConnectionDriver]" = set()


class ConnectionDriver:
    """Base of the HTTP/1.1, HTTP/2 and HTTP/3 drivers (mixed into their asyncio protocol)."""

    version: HttpVersion = HttpVersion.Unknown

    def __init__(self, opts: ConnectionOptions, loop: asyncio.AbstractEventLoop) -> None:
        self.opts = opts
        self.host = opts.host_name
        self.port = opts.port
        self.where = opts.where
        self.loop = loop
        self.thread_id = threading.get_ident()
        self.transport: Optional[asyncio.Transport] = None
        self.shutdown_future: concurrent.futures.Future = concurrent.futures.Future()
        self.closing = False
        # True once we (not the peer) decided to close: a later EOF is then no error.
        self.local_close = False
        self._closed_waiter: Optional[asyncio.Future] = None
        self._write_paused = False
        self._drain_waiter: Optional[asyncio.Future] = None
        self.deadlines = Deadlines(loop, self._deadline_expired)
        ms = opts.response_first_byte_timeout_ms
        self._first_byte_timeout = ms / 1000.0 if ms else 0.0
        # Bytes moved in either direction; the throughput monitor samples it once a second.
        self.io_bytes = 0
        self._slow_seconds = 0
        self._last_io_bytes = 0
        if opts.minimum_throughput_bytes_per_second > 0:
            loop.call_later(1.0, self._throughput_tick)

    # ---- lifecycle ---------------------------------------------------------------------

    def is_open(self) -> bool:
        """True while new requests may be made on this connection."""
        return not self.closing

    def check_loop(self) -> None:
        """Raise ``RuntimeError`` when called from another thread or loop than the driver's."""
        if threading.get_ident() != self.thread_id:
            raise RuntimeError(
                f"connection to {self.where} belongs to another event loop (thread); "
                "use it only from the loop that created it")

    def call_in_loop(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on the driver's loop: now if we are on it, else soon."""
        if threading.get_ident() == self.thread_id:
            fn(*args)
        else:
            self.loop.call_soon_threadsafe(fn, *args)

    def close_soon(self) -> None:
        """Close from any thread, including a finaliser; a no-op once the loop is gone."""
        if self.closing:
            return
        try:
            self.call_in_loop(self.close)
        except RuntimeError:  # the loop is closed: the transport went with it
            pass

    def close(self) -> None:
        """Start closing: fail pending streams with 2058 and close the transport (loop thread)."""
        if self.closing:
            return
        self.closing = True
        self.local_close = True
        self.fail_streams(exceptions.error(
            "AWS_ERROR_HTTP_CONNECTION_CLOSED", f"connection to {self.where} was closed by the user"))
        self.close_transport()
        if self.transport is None:
            self.set_shutdown(None)

    def close_transport(self) -> None:
        """Close the transport gracefully (the driver may override to say goodbye first)."""
        if self.transport is not None:
            close_or_abort(self.transport)

    def pause_transport(self, stop_reading: bool = True) -> None:
        """Hold the driver referenced until :meth:`resume_transport` or shutdown, and stop
        reading from the socket (unless ``stop_reading`` is False: input already ended)."""
        _PAUSED_DRIVERS.add(self)
        if stop_reading and self.transport is not None:
            self.transport.pause_reading()

    def resume_transport(self) -> None:
        """Read from the socket again."""
        _PAUSED_DRIVERS.discard(self)
        if self.transport is not None:
            self.transport.resume_reading()

    async def wait_closed(self) -> None:
        """Wait until ``shutdown_future`` is done (on the driver's loop)."""
        if self.shutdown_future.done():
            return
        if self._closed_waiter is None:
            self._closed_waiter = self.loop.create_future()
        await asyncio.shield(self._closed_waiter)

    def set_shutdown(self, error: Optional[BaseException]) -> None:
        """Complete ``shutdown_future`` once: ``None`` for a clean close, else ``error``."""
        self.closing = True
        _PAUSED_DRIVERS.discard(self)
        if self.shutdown_future.done():
            return
        self.deadlines.cancel_all()
        if error is None:
            self.shutdown_future.set_result(None)
        else:
            self.shutdown_future.set_exception(error)
        waiter = self._closed_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def closed_error(self, detail: str) -> exceptions.AwsCrtError:
        """The 2058 error a request on this closed connection gets."""
        return exceptions.error("AWS_ERROR_HTTP_CONNECTION_CLOSED", f"{detail} ({self.where})")

    # ---- response first-byte timeout ---------------------------------------------------

    def request_sent(self, core: StreamCore) -> None:
        """The whole request of ``core`` is out: start its first-byte deadline, if any."""
        if self._first_byte_timeout and core.status is None:
            self.deadlines.set(core, self._first_byte_timeout)

    def _deadline_expired(self, core: StreamCore) -> None:
        if core.state == DONE:
            return
        ms = self.opts.response_first_byte_timeout_ms
        self.abort_stream(core, exceptions.error(
            "AWS_ERROR_HTTP_RESPONSE_FIRST_BYTE_TIMEOUT",
            f"no response byte within {ms} ms of sending the request ({core.where()})"))

    # ---- throughput monitor -------------------------------------------------------------

    def _throughput_tick(self) -> None:
        """Once a second while open: fail the connection with 2073 after more than
        ``allowable_throughput_failure_interval_seconds`` consecutive seconds below
        ``minimum_throughput_bytes_per_second`` with a stream in flight."""
        if self.shutdown_future.done():
            return
        moved = self.io_bytes - self._last_io_bytes
        self._last_io_bytes = self.io_bytes
        minimum = self.opts.minimum_throughput_bytes_per_second
        if self.busy() and moved < minimum:
            self._slow_seconds += 1
        else:
            self._slow_seconds = 0
        if self._slow_seconds > self.opts.allowable_throughput_failure_interval_seconds:
            self.fail_connection(exceptions.error(
                "AWS_ERROR_HTTP_CHANNEL_THROUGHPUT_FAILURE",
                f"{moved} B/s for {self._slow_seconds} s, under the minimum of {minimum} B/s "
                f"(connection to {self.where})"))
            return
        self.loop.call_later(1.0, self._throughput_tick)

    # ---- to be provided by each protocol -------------------------------------------------

    def busy(self) -> bool:
        """True while a stream is in flight."""
        raise NotImplementedError

    def fail_connection(self, error: BaseException) -> None:
        """End the connection in ``error``: every stream fails with it, and shutdown too."""
        raise NotImplementedError

    async def ready(self) -> None:
        """Wait until the connection can take requests (HTTP/2: the peer's first SETTINGS)."""

    def submit(self, core: StreamCore) -> None:
        """Start (or queue) an activated stream."""
        raise NotImplementedError

    def window_update(self, core: StreamCore, increment: int) -> None:
        """The stream's window grew by ``increment`` (core.window is already updated)."""
        raise NotImplementedError

    def abort_stream(self, core: StreamCore, error: BaseException) -> None:
        """End one stream in ``error`` on our initiative (callback failure, cancel, bad body)."""
        raise NotImplementedError

    def fail_streams(self, error: BaseException) -> None:
        """Fail every stream that has not completed."""
        raise NotImplementedError

    # ---- write pressure (asyncio protocol callbacks) -------------------------------------

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        waiter = self._drain_waiter
        if waiter is not None:
            self._drain_waiter = None
            if not waiter.done():
                waiter.set_result(None)

    async def drain(self) -> None:
        """Wait while the transport's write buffer is above its high-water mark."""
        while self._write_paused and not self.closing:
            if self._drain_waiter is None:
                self._drain_waiter = self.loop.create_future()
            await self._drain_waiter


def close_or_abort(transport: asyncio.BaseTransport) -> None:
    """Close ``transport``; abort it if unsent bytes remain. asyncio's close() waits for the
    write buffer to drain, which never happens when the peer stopped reading (an upload in
    flight): the connection would never finish closing."""
    if transport.get_write_buffer_size():  # type: ignore[attr-defined]
        transport.abort()  # type: ignore[attr-defined]
    else:
        transport.close()


async def body_chunks(core: StreamCore,
                      buffer_free: Optional[Callable[[], bool]] = None) -> AsyncIterator[Buffer]:
    """The request body of ``core``, from its async generator or its ``body_stream``.

    A ``body_stream`` that reads into buffers is read into one buffer again and again: a
    chunk is a view of it, valid until the caller asks for the next chunk; then
    ``buffer_free()`` says whether nothing (the transport included) still holds the last
    one, and a new buffer is taken if something does (no ``buffer_free``: the caller copies
    what it sends, as h2 does). Other sources give ``bytes``.
    A source that raises or yields a non-bytes item ends in AWS_IO_STREAM_READ_FAILED.
    Closing this iterator (the driver does, however the upload ends) closes the caller's
    async generator too, so its ``finally`` runs now and not whenever it is collected.
    """
    generator = core.body_generator
    request = core.request
    stream = request.body_stream if request is not None else None
    try:
        if generator is not None:
            async for chunk in generator:
                if not isinstance(chunk, (bytes, bytearray, memoryview)):
                    raise TypeError(f"request_body_generator yielded {type(chunk).__name__}, not bytes")
                if chunk:
                    yield bytes(chunk)
        elif stream is not None and stream.reads_into:
            view = memoryview(bytearray(BODY_READ_SIZE))
            while True:
                got = stream.readinto(view)
                if got is None:
                    raise BlockingIOError("the body stream has no data available now")
                if not got:
                    break
                yield view[:got]
                if buffer_free is not None and not buffer_free():
                    view = memoryview(bytearray(BODY_READ_SIZE))
        elif stream is not None:
            while True:
                chunk = stream.read(BODY_READ_SIZE)
                if not chunk:
                    break
                yield chunk
    except (GeneratorExit, asyncio.CancelledError):
        raise
    except Exception as exc:
        err = exceptions.error("AWS_IO_STREAM_READ_FAILED",
                               f"the request body source raised {exc!r} ({core.where()})")
        raise err from exc
    finally:
        aclose = getattr(generator, "aclose", None)
        if aclose is not None:
            try:
                await aclose()
            except Exception:  # the upload is over either way
                pass


def has_body(core: StreamCore) -> bool:
    """True if the request of ``core`` carries a body source."""
    request = core.request
    return core.body_generator is not None or (request is not None and request.body_stream is not None)
