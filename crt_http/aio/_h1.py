"""HTTP/1.1 and HTTP/1.0 driver: h11 holds the protocol state, this moves bytes and events.

Streams are served one at a time in submission order (h11 does not pipeline); a stream
submitted while another is in flight waits in ``queue``. Socket reads land in a reused
buffer (``BufferedProtocol``) and are fed to h11 in slices of at most 64 KiB, which keeps
h11's receive buffer small and its body intake fast.

Fast paths (``FAST_PATH``, on unless ``CRT_HTTP_FAST_PATH=0``; the tests run with them on
and off): h11 reads response heads with :func:`crt_http.aio._h1_fast.read_response_head`
and requests are built by :func:`crt_http.aio._h1_fast.request_event` (same events, less
Python per header). Once h11 has taken a response head that frames the body with
Content-Length, body bytes that arrive later are copied straight from the read buffer to
the stream, once, and h11's Content-Length reader is told how many it did not see (its
``_remaining`` count), so h11 still decides where the body ends, reports a short body at
EOF with exact counts, and parses whatever follows.

A body delimited by the connection close (no Content-Length, not chunked) that ends with a
TLS "incomplete close" (TCP FIN without close_notify) fails with AWS_IO_SOCKET_CLOSED once
its bytes are delivered: RFC 9112 section 8 calls it incomplete (a truncation looks the same).
"""

from __future__ import annotations

import asyncio
import os
import re
from collections import deque
from typing import Any, Deque, Dict, List, Optional, Tuple

import h11
from h11._connection import _body_framing
from h11._readers import READERS, ChunkedReader, ContentLengthReader, Http10Reader

from crt_http import exceptions
from crt_http._models import HttpVersion
from crt_http.aio._driver import ConnectionDriver, body_chunks, has_body
from crt_http.aio._h1_fast import read_response_head, request_event
from crt_http.aio._options import (
    DEFAULT_READ_BUFFER_CAPACITY, MAX_RESPONSE_HEADER_COUNT, ConnectionOptions,
)
from crt_http.aio._stream import DONE, StreamCore
from crt_http.aio._transport import proxy_authorization

FAST_PATH = os.environ.get("CRT_HTTP_FAST_PATH", "1") != "0"
H11_SLICE = 64 * 1024
# Automatic mode: the read buffer starts small (many idle or small-response connections
# stay cheap) and grows x4 up to READ_BUFFER_MAX each time a read fills it.
READ_BUFFER_START = 16 * 1024
READ_BUFFER_MAX = 256 * 1024
_NEED_DATA = h11.NEED_DATA
_PAUSED = h11.PAUSED
_Data = h11.Data
_Response = h11.Response
_EndOfMessage = h11.EndOfMessage
_Informational = h11.InformationalResponse
_SEVENTEEN_HEX_DIGITS = re.compile(rb"[0-9A-Fa-f]{17}").match


class _StrictChunkedReader(ChunkedReader):
    """h11's chunked reader, refusing a chunk size of more than 16 hex digits (h11 takes 20:
    more than 64 bits)."""

    def __call__(self, buf: Any) -> Any:
        if not self._bytes_in_chunk and not self._reading_trailer and not self._bytes_to_discard \
                and _SEVENTEEN_HEX_DIGITS(buf._data):
            raise h11.RemoteProtocolError(
                f"chunk size of more than 16 hex digits: {bytes(buf._data[:24])!r}")
        return super().__call__(buf)


_EOM = h11.EndOfMessage()


class _LengthReader(ContentLengthReader):
    """h11's Content-Length reader, ending the body with one shared (immutable) EndOfMessage."""

    def __call__(self, buf: Any) -> Any:
        return _EOM if self._remaining == 0 else super().__call__(buf)


_READERS: Dict[Any, Any] = dict(READERS)
_READERS[h11.SEND_BODY] = dict(READERS[h11.SEND_BODY], chunked=_StrictChunkedReader)  # type: ignore[arg-type]
_FAST_READERS = dict(_READERS)
_FAST_READERS[(h11.SERVER, h11.SEND_RESPONSE)] = read_response_head
_FAST_READERS[h11.SEND_BODY] = dict(_READERS[h11.SEND_BODY], **{"content-length": _LengthReader})


class _H11Connection(h11.Connection):
    """h11's client connection with our readers: :class:`_StrictChunkedReader` for chunked
    bodies and, on the fast path, :func:`read_response_head` for heads."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # id(event) -> (event, request method, h11's framing of its body): heads repeated
        # on the fast path come back as the same immutable event.
        self._framings: Dict[int, Tuple[Any, Any, Any]] = {}

    def _get_io_object(self, role: Any, event: Any, io_dict: Any) -> Any:
        # h11's own selection (framing by h11's _body_framing), from our reader table, in one
        # call and without h11's typing.cast() of the event (a typing-cache lookup each time).
        if io_dict is READERS:
            io_dict = _FAST_READERS if FAST_PATH else _READERS
        state = self._cstate.states[role]
        if state is h11.SEND_BODY:
            framing_type, args = self._framing(event)
            return io_dict[h11.SEND_BODY][framing_type](*args)
        return io_dict.get((role, state))

    def _framing(self, event: Any) -> Any:
        """``_body_framing(request method, event)``, once per event and method."""
        method = self._request_method
        known = self._framings.get(id(event))
        if known is not None and known[0] is event and known[1] == method:
            return known[2]
        framing = _body_framing(method, event)  # type: ignore[arg-type]
        if len(self._framings) >= 8:
            self._framings.clear()
        self._framings[id(event)] = (event, method, framing)
        return framing


def decode_headers(raw: Any) -> List[Tuple[str, str]]:
    """h11 raw header items -> ``[(name, value)]`` with wire case; UTF-8 values, latin-1 fallback."""
    try:
        return [(name.decode("latin-1"), value.decode("utf-8")) for name, value in raw]
    except UnicodeDecodeError:
        return [(name.decode("latin-1"), _text(value)) for name, value in raw]


def _text(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


def check_head(raw: Any, first_line: int, limit: int) -> None:
    """Refuse a parsed head past ``limit`` bytes or ``MAX_RESPONSE_HEADER_COUNT`` fields.

    h11 bounds only a head that is still incomplete; one that arrives whole in a read is
    parsed at any size, so the limit of ``max_response_header_bytes`` is checked here.
    """
    if len(raw) > MAX_RESPONSE_HEADER_COUNT:
        raise h11.RemoteProtocolError(
            f"response head has {len(raw)} header fields, over the limit of {MAX_RESPONSE_HEADER_COUNT}")
    size = first_line + 2
    for name, value in raw:
        size += len(name) + len(value) + 4
    if size > limit:
        raise h11.RemoteProtocolError(
            f"response head of {size} bytes is over max_response_header_bytes ({limit})")


def check_framing(event: Any, conn: h11.Connection) -> None:
    """Refuse what h11 lets through: a version other than 1.0/1.1, and Content-Length next to
    Transfer-Encoding (RFC 9112 6.3: "ought to be handled as an error", a smuggling sign)."""
    if event.http_version not in (b"1.1", b"1.0"):
        raise h11.RemoteProtocolError(f"unsupported HTTP version {event.http_version!r} in the status line")
    if type(conn._reader) is _StrictChunkedReader and \
            any(name == b"content-length" for name, _ in event.headers):  # type: ignore[attr-defined]
        raise h11.RemoteProtocolError("response has both Transfer-Encoding and Content-Length")


class H1Driver(ConnectionDriver, asyncio.BufferedProtocol):
    """One HTTP/1.x connection."""

    version = HttpVersion.Http1_1

    def __init__(self, opts: ConnectionOptions, loop: asyncio.AbstractEventLoop,
                 forward_proxy: bool = False, tls: bool = False) -> None:
        super().__init__(opts, loop)
        self.h11 = _H11Connection(h11.CLIENT, max_incomplete_event_size=opts.max_response_header_bytes)
        self._head_limit = opts.max_response_header_bytes
        self.queue: Deque[StreamCore] = deque()
        self.current: Optional[StreamCore] = None
        self.forward_proxy = forward_proxy
        self.scheme = "https" if tls else "http"
        default_port = 443 if tls else 80
        self.host_header = self.host if self.port == default_port else f"{self.host}:{self.port}"
        if ":" in self.host and not self.host.startswith("["):  # IPv6 literal
            self.host_header = f"[{self.host}]" if self.port == default_port else f"[{self.host}]:{self.port}"
        capacity = DEFAULT_READ_BUFFER_CAPACITY
        if opts.manual_window_management and opts.read_buffer_capacity:
            capacity = opts.read_buffer_capacity
        elif not opts.manual_window_management:
            capacity = READ_BUFFER_START
        self._grow = not opts.manual_window_management
        self._buffer = bytearray(capacity)
        self._view = memoryview(self._buffer)
        # Input read from the socket but not yet given to h11 (only while reading is paused).
        self._pending: Optional[memoryview] = None
        # Body bytes h11 gave us that the stream's window did not admit yet.
        self._held: Optional[bytes] = None
        self._reading_paused = False
        self._processing = False
        # Content-Length body bytes still to come on the fast path (0: h11 reads the body).
        self._body_left = 0
        # The last response head checked and decoded, and its headers as given to streams.
        self._last_head: Any = None
        self._last_headers: List[Tuple[str, str]] = []
        self._eof = False
        self._body_task: Optional[asyncio.Task] = None
        self._error: Optional[BaseException] = None
        self._lost = False
        # The peer's TLS ended with a bare TCP FIN (no close_notify): see _receive_eof.
        self._unclean_eof = False

    # ---- asyncio protocol ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._view

    def buffer_updated(self, nbytes: int) -> None:
        self.io_bytes += nbytes
        current = self.current
        if current is not None and current in self.deadlines:
            self.deadlines.clear(current)
        if self._pending is not None:
            self.data_received(self._view[:nbytes])
        elif self._body_left and not self._reading_paused:
            self._fast_body(0, nbytes)
        elif FAST_PATH and current is not None and self.h11.their_state is h11.SEND_RESPONSE \
                and not self.h11._receive_buffer:  # type: ignore[attr-defined]
            self._head_then_body(nbytes)
        else:
            self._feed(self._view[:nbytes])
        # Whatever was kept of this read was copied out, so the buffer may be replaced.
        if nbytes == len(self._buffer) and self._grow and nbytes < READ_BUFFER_MAX:
            self._buffer = bytearray(min(nbytes * 4, READ_BUFFER_MAX))
            self._view = memoryview(self._buffer)

    def _head_then_body(self, nbytes: int) -> None:
        """A read that starts a response head: h11 gets the head alone, so that a
        Content-Length body following it in the same read takes the fast path."""
        end = self._buffer.find(b"\r\n\r\n", 0, nbytes) + 4
        if end < 4 or end == nbytes:
            self._feed(self._view[:nbytes])
        elif not self._feed(self._view[:end]):
            rest = bytes(self._view[end:nbytes])
            self._pending = memoryview(rest if self._pending is None else bytes(self._pending) + rest)
        elif self._body_left and not self._reading_paused:
            self._fast_body(end, nbytes)
        else:
            self._feed(self._view[end:nbytes])

    def _fast_body(self, start: int, stop: int) -> None:
        """Deliver Content-Length body bytes from the read buffer, bypassing h11's Data events."""
        core = self.current
        assert core is not None
        take = min(stop - start, self._body_left)
        self._body_left -= take
        self.h11._reader._remaining -= take  # type: ignore[union-attr]
        delivered = self._deliver(core, bytes(self._view[start:start + take]))
        start += take
        if start == stop:
            if not self._body_left and delivered:
                self._process()
            return
        rest = self._view[start:stop]
        if delivered:
            self._feed(rest)
        else:
            self._pending = memoryview(bytes(rest))

    def data_received(self, data: Any) -> None:
        if self._pending is not None:  # arrived while paused (a replay): keep order
            self._pending = memoryview(bytes(self._pending) + bytes(data))
            return
        self._feed(memoryview(data))

    def eof_received(self) -> bool:
        ssl_protocol = getattr(self.transport, "_ssl_protocol", None)
        if ssl_protocol is not None and getattr(ssl_protocol, "_eof_received", False):
            self._unclean_eof = True  # asyncio: the TCP FIN came without a TLS close_notify
        self._on_eof()
        return False

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        self.closing = True
        self._lost = True
        if exc is not None and self._error is None:
            self._error = exceptions.translate(exc, f"connection to {self.where}")
        if self._body_task is not None:
            self._body_task.cancel()
        if exc is None and not self._eof and self.transport is not None \
                and self.transport.get_extra_info("ssl_object") is not None:
            self._unclean_eof = True  # uvloop reports a TLS EOF without close_notify only here
        self.resume_writing()
        if self._undelivered():
            return  # the stream's window is closed: finish once it has taken what arrived
        self._finalize()

    def _undelivered(self) -> bool:
        return self.current is not None and (
            self._pending is not None or self._held is not None or self._h11_holds_input())

    def _h11_holds_input(self) -> bool:
        """h11 has received bytes it has not parsed (``trailing_data`` without the copy)."""
        return bool(self.h11._receive_buffer)  # type: ignore[attr-defined]

    def _finalize(self) -> None:
        """After the transport is gone: end what is left and complete ``shutdown_future``."""
        self._eof = True
        self._receive_eof()
        if self._error is None and not self.local_close:
            # awscrt 0.38.0 reports a peer's close of an idle HTTP/1.1 connection as 1051.
            self._error = exceptions.error(
                "AWS_IO_SOCKET_CLOSED", f"the server closed the connection ({self.where})")
        error = self._error
        self.fail_streams(error or self.closed_error("the connection closed"))
        self.set_shutdown(error)

    # ---- reading -----------------------------------------------------------------------

    def _feed(self, data: memoryview) -> bool:
        """Give ``data`` to h11 slice by slice, processing events after each slice; False if
        processing stopped (what was left of ``data`` is kept in ``_pending``)."""
        size = len(data)
        offset = 0
        while offset < size:
            end = offset + H11_SLICE
            self.h11.receive_data(data[offset:end])  # type: ignore[arg-type]
            offset = end
            if not self._process():
                if offset < size:
                    self._pending = data[offset:]
                    if not isinstance(data.obj, bytes):
                        self._pending = memoryview(bytes(self._pending))
                return False
        return True

    def _on_eof(self) -> None:
        if self._eof:
            return
        self._eof = True
        if self._pending is None and self._held is None:
            self._receive_eof()

    def _receive_eof(self) -> None:
        if self.h11.their_state is h11.CLOSED:
            return
        current = self.current
        if self._unclean_eof and current is not None and type(self.h11._reader) is Http10Reader:  # type: ignore[attr-defined]
            # RFC 9112 8: a body delimited by the close is incomplete after an "incomplete
            # close" (TLS without close_notify): a truncation could not be told apart.
            self._close_with(exceptions.error(
                "AWS_IO_SOCKET_CLOSED",
                f"{self.where} closed the TLS connection without close_notify, so the body "
                f"delimited by the connection close may be truncated ({current.where()})"))
            return
        try:
            self.h11.receive_data(b"")
        except RuntimeError:
            return
        self._process()

    def _process(self) -> bool:
        """Run h11's events to the current stream; False when reading must stop for now."""
        if self._processing:
            return True
        self._processing = True
        try:
            return self._process_events()
        except h11.RemoteProtocolError as exc:
            self._protocol_error(exc)
            return False
        finally:
            self._processing = False

    def _process_events(self) -> bool:
        conn = self.h11
        while True:
            core = self.current
            if self._held is not None:
                if core is None or not self._deliver(core, self._held):
                    return False
            if core is None:
                if conn.their_state is h11.IDLE and self._h11_holds_input():
                    raise h11.RemoteProtocolError("received data while no request was in flight")
                return True
            event = conn.next_event()
            cls = event.__class__
            if cls is _Data:
                data = bytes(event.data)  # type: ignore[union-attr]
                if self._body_left:
                    self._body_left -= len(data)
                if not self._deliver(core, data):
                    return False
            elif event is _NEED_DATA:
                if self._eof:
                    conn.receive_data(b"")
                    continue
                return True
            elif cls is _Response:
                if event is not self._last_head:  # the fast path hands out repeated heads again
                    raw = event.headers.raw_items()  # type: ignore[union-attr]
                    check_head(raw, 15 + len(event.reason), self._head_limit)  # type: ignore[union-attr]
                    self._last_head, self._last_headers = event, decode_headers(raw)
                check_framing(event, conn)
                version = HttpVersion.Http1_0 if event.http_version == b"1.0" else HttpVersion.Http1_1  # type: ignore[union-attr]
                core.deliver_head(event.status_code, list(self._last_headers), version)  # type: ignore[union-attr]
                if core.state == DONE:
                    return False
                if FAST_PATH and type(conn._reader) is _LengthReader:  # type: ignore[attr-defined]
                    self._body_left = conn._reader._remaining  # type: ignore[attr-defined]
            elif cls is _EndOfMessage:
                trailers = event.headers  # type: ignore[union-attr]
                if trailers:
                    check_head(trailers.raw_items(), 0, self._head_limit)
                    core.deliver_trailers(decode_headers(trailers.raw_items()))
                self._response_complete(core)
            elif cls is _Informational:
                check_head(event.headers.raw_items(), 15 + len(event.reason), self._head_limit)  # type: ignore[union-attr]
                if event.status_code == 101:  # type: ignore[union-attr]
                    raise h11.RemoteProtocolError("server switched protocols (101), which this client does not do")
            elif event is _PAUSED:
                return True
            else:  # ConnectionClosed
                return True

    def _deliver(self, core: StreamCore, data: bytes) -> bool:
        """Hand body bytes to the stream within its window; False if reading must pause."""
        self._held = None
        window = core.window
        if window is not None and core.manual_window and window < len(data):
            if window > 0:
                core.deliver_data(data[:window])
                data = data[window:]
            self._held = data
            self._pause_reading()
            return False
        if data:
            core.deliver_data(data)
        if core.state == DONE:
            return False
        if core.window is not None and core.window <= 0:
            self._pause_reading()
            # A manual window holds further Data (above), but the end of the message needs no
            # window: a body that fills the window exactly still completes (as in awscrt).
            return core.manual_window
        return True

    def _pause_reading(self) -> None:
        """Stop taking input for the current stream until its window opens again."""
        if not self._reading_paused:
            self._reading_paused = True
            self.pause_transport(stop_reading=not self._eof and not self._lost)

    def window_update(self, core: StreamCore, increment: int) -> None:
        if not self._reading_paused or core is not self.current or self._processing:
            return
        if core.window is not None and core.window <= 0:
            return
        self._reading_paused = False
        if not self._process():
            return
        pending = self._pending
        if pending is not None:
            self._pending = None
            self._feed(pending)
            if self._pending is not None or self._reading_paused:
                return
        if self._lost:
            self._finalize()
        elif self._eof:
            self._receive_eof()
        else:
            self.resume_transport()

    # ---- exchange lifecycle -------------------------------------------------------------

    def submit(self, core: StreamCore) -> None:
        if self.closing:
            core.fail(self.closed_error("the connection is closed"))
            return
        self.queue.append(core)
        if self.current is None:
            self._start_next()

    def _start_next(self) -> None:
        while self.queue and self.current is None and not self.closing:
            core = self.queue.popleft()
            if core.state == DONE:
                continue
            self.current = core
            try:
                self._send_head(core)
            except h11.LocalProtocolError as exc:
                self.current = None
                core.fail(exceptions.translate(exc, core.where()))
                self._close_with(None)

    def _send_head(self, core: StreamCore) -> None:
        request = core.request
        assert request is not None
        headers = list(request.headers._pairs)
        names = {name.lower() for name, _ in headers}
        if "host" not in names:
            headers.insert(0, ("Host", self.host_header))
        body = has_body(core)
        if body and "content-length" not in names and "transfer-encoding" not in names:
            headers.append(("Transfer-Encoding", "chunked"))
        target = request.path
        if self.forward_proxy:
            target = f"{self.scheme}://{self.host_header}{target}"
            auth = proxy_authorization(self.opts)
            if auth is not None and "proxy-authorization" not in names:
                headers.append(auth)
        if FAST_PATH:
            event = request_event(request.method, target, headers)
        else:
            event = h11.Request(method=request.method, target=target, headers=headers)
        head = self.h11.send(event)
        assert self.transport is not None
        if not body:
            tail = self.h11.send(_EOM)
            self.transport.write(head + tail if tail else head)  # type: ignore[operator]
            self.request_sent(core)
            return
        self.transport.write(head)  # type: ignore[arg-type]
        self._body_task = self.loop.create_task(self._send_body(core))

    async def _send_body(self, core: StreamCore) -> None:
        conn = self.h11
        transport = self.transport
        assert transport is not None
        # Writing pauses once the transport holds a byte or two and resumes when it holds none,
        # so after a drain the body buffer may be refilled. (high=0 can leave asyncio's TLS
        # transport paused with nothing buffered: it pauses on size >= high.)
        transport.set_write_buffer_limits(high=1, low=0)  # type: ignore[attr-defined]
        chunks = body_chunks(core, lambda: not transport.get_write_buffer_size())  # type: ignore[attr-defined]
        try:
            async for chunk in chunks:
                if core.state == DONE or conn.our_state is not h11.SEND_BODY:
                    return
                pieces = conn.send_with_data_passthrough(h11.Data(data=chunk))  # type: ignore[arg-type]
                assert pieces is not None
                # Content-Length framing: the chunk itself, not a joined copy of it.
                transport.write(pieces[0] if len(pieces) == 1 else b"".join(pieces))
                self.io_bytes += len(chunk)
                if self._write_paused:
                    await self.drain()
            if core.state == DONE or conn.our_state is not h11.SEND_BODY:
                return
            transport.write(conn.send(h11.EndOfMessage()))  # type: ignore[arg-type]
            self.request_sent(core)
            if conn.their_state is h11.DONE and self.current is core:
                self._response_complete(core)
        except asyncio.CancelledError:
            raise
        except h11.LocalProtocolError as exc:
            self.abort_stream(core, exceptions.error(
                "AWS_ERROR_HTTP_OUTGOING_STREAM_LENGTH_INCORRECT", f"{exc} ({core.where()})"))
        except Exception as exc:
            self.abort_stream(core, exceptions.translate(exc, core.where()))
        finally:
            if self._body_task is asyncio.current_task():
                self._body_task = None
            await chunks.aclose()  # type: ignore[attr-defined]

    def _response_complete(self, core: StreamCore) -> None:
        """The response ended: finish the stream, then reuse or close the connection."""
        conn = self.h11
        self.current = None
        self._body_left = 0
        reusable = conn.our_state is h11.DONE and conn.their_state is h11.DONE
        if reusable and self._h11_holds_input():
            reusable = False  # the server sent more than the response it declared
        if reusable:
            conn.start_next_cycle()
            if self._reading_paused:  # the window closed exactly at the end of the body
                self._reading_paused = False
                if not self._eof:
                    self.resume_transport()
        elif self._body_task is not None:
            self._body_task.cancel()  # the server answered early (e.g. 413): stop uploading
        core.finish()
        if reusable:
            self._start_next()
        else:
            self._close_with(None)

    def _close_with(self, error: Optional[BaseException]) -> None:
        """Close the connection; queued streams fail with 2058 and shutdown gets ``error``."""
        if error is not None and self._error is None:
            self._error = error
        self.local_close = True
        if not self.closing:
            self.closing = True
            self.fail_streams(error or self.closed_error(
                "the connection closed after the previous response"))
        if self.transport is not None:
            if error is None:
                self.transport.close()
            else:
                self.transport.abort()

    def _protocol_error(self, exc: Exception) -> None:
        if str(exc) == "Receive buffer too long":  # h11's limit on an incomplete head or line
            exc = h11.RemoteProtocolError(
                f"incomplete response head or chunk-size line over max_response_header_bytes "
                f"({self._head_limit})")
        err: BaseException
        if self._eof and self.current is not None:
            # The peer closed before the message was complete: a closed socket, not bad syntax.
            detail = str(exc)
            if self.current.status is None:  # h11 would say "can't handle ConnectionClosed ..."
                detail = "the server closed the connection before the whole response head arrived"
            err = exceptions.error("AWS_IO_SOCKET_CLOSED", f"{detail} ({self.current.where()})")
        else:
            err = exceptions.translate(exc, f"response from {self.where}")
        self._close_with(err)

    def busy(self) -> bool:
        return self.current is not None

    def fail_connection(self, error: BaseException) -> None:
        self._close_with(error)

    def abort_stream(self, core: StreamCore, error: BaseException) -> None:
        core.fail(error)
        if core is self.current or core in self.queue:
            if core is self.current:
                self.current = None
                self._body_left = 0
                self._close_with(error)  # HTTP/1.1 cannot abandon an exchange and go on
            else:
                self.queue.remove(core)

    def fail_streams(self, error: BaseException) -> None:
        current, self.current = self.current, None
        self._body_left = 0
        if current is not None:
            current.fail(self._error or error)
        while self.queue:
            self.queue.popleft().fail(error)
