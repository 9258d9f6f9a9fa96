"""HTTP/2 driver: h2 holds the protocol state, this moves bytes, events and window credit.

h2 is used through :class:`_H2State`, a subclass with these documented changes:

* after a GOAWAY, h2 would close its whole state machine, so streams at or below the
  GOAWAY's ``last_stream_id`` could not finish; the subclass keeps the connection open for
  them (the driver itself refuses new streams);
* h2 counts open streams by scanning every stream on each new request (O(n)); the subclass
  answers from the driver's own count and the driver drops finished streams from h2's
  table as they close, which h2's scan would otherwise do;
* its frame buffer (:class:`_HeaderBlockBuffer`) refuses a header block (HEADERS or
  PUSH_PROMISE plus CONTINUATION frames) whose encoded size passes ``max_response_header_bytes``
  before buffering more: h2 alone holds up to 64 CONTINUATION frames of MAX_FRAME_SIZE each
  before hpack sees the block. Limits: see :mod:`crt_http.aio._options`;
* its HPACK decoder (:class:`_Decoder`) makes a decoding error a connection error of type
  COMPRESSION_ERROR, as RFC 9113 4.3 requires (h2 sends PROTOCOL_ERROR);
* RFC 9113 MUSTs h2 misses: RST_STREAM on an idle stream is a PROTOCOL_ERROR (h2 ignores
  it), a SETTINGS ACK with a payload a FRAME_SIZE_ERROR (h2: PROTOCOL_ERROR).

Fast path (``FAST_PATH``, on unless ``CRT_HTTP_FAST_PATH=0``): requests open their stream
through :meth:`~crt_http.aio._h2_fast.FastH2Connection.send_request`, and the driver splits
incoming bytes into frames itself. A DATA frame without padding, or a HEADERS frame with a
whole response head (no padding or priority), on a stream of ours is taken by
:mod:`crt_http.aio._h2_fast`, which makes exactly the state changes h2 makes for it and
checks what h2 checks, or declines and leaves the frame to h2; frames before it in the same
read go to h2 first, every other frame goes through h2 in order. This skips h2's per-frame
parsing, event objects and its eager ``repr()`` of every frame for trace logging, and
decodes and validates a repeated response head once. A run of DATA frames of one stream
in one read reaches the stream as one chunk (up to ``MAX_JOINED_DATA``). The driver is a
``BufferedProtocol``: TLS decrypts into its read buffer, and each payload is copied out
once. The test suite runs with the fast path on and off.

Receive windows are ours (:class:`_Credit`): the peer may send what we advertised; bytes
the sink has taken (or, in manual mode, what ``update_window`` granted) are owed back and
sent as one WINDOW_UPDATE once the advertised credit falls to the threshold.
"""

from __future__ import annotations

import asyncio
import os
import re
import struct
from collections import deque
from typing import Any, Deque, Dict, List, Optional, Tuple

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.frame_buffer
import h2.settings
import hpack
import hpack.exceptions

from crt_http import exceptions
from crt_http._models import Http2Setting, Http2SettingID, HttpVersion
from crt_http.aio import _huffman_cache
from crt_http.aio._driver import ConnectionDriver, body_chunks, close_or_abort, has_body
from crt_http.aio._h2_fast import FastH2Connection, ResponseHead
from crt_http.aio._options import MAX_RESPONSE_HEADER_COUNT, ConnectionOptions
from crt_http.aio._stream import DONE, StreamCore

FAST_PATH = os.environ.get("CRT_HTTP_FAST_PATH", "1") != "0"
_huffman_cache.install()
DEFAULT_CONNECTION_WINDOW = 16 * 1024 * 1024
DEFAULT_MAX_FRAME_SIZE = 1024 * 1024
SYNC_STREAM_WINDOW = 8 * 1024 * 1024
# DATA frames of one stream in one read are joined into chunks of up to this size (below
# glibc's 128 KiB mmap threshold); a frame this large or larger is a chunk of its own.
MAX_JOINED_DATA = 64 * 1024
# Bytes asked of each read. The chunks made of one read are usually freed before the next
# read: up to 128 KiB they fit in glibc's heap top pad; larger, the heap top is trimmed and
# grown again on every read, and each fresh page faults (256 KiB: ~200 faults per MB, 25% of
# the CPU of a download).
READ_BUFFER = 128 * 1024
READ_MIN = 16 * 1024  # less room than this left behind a kept frame start: a larger buffer
H2_DEFAULT_WINDOW = 65535
_CONNECTION_HEADERS = frozenset(
    [b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade", b"host"])
_BAD_VALUE = re.compile(rb"[\r\n\x00]").search
_SETTING_CODES = {int(s): s for s in Http2SettingID}
_FRAME_HEAD = struct.Struct(">BHBBI")  # length (8 + 16 bits), type, flags, stream id


class _HeaderBlockBuffer(h2.frame_buffer.FrameBuffer):
    """h2's frame buffer, refusing a header block whose encoded size passes ``max_block``.

    Encoded HPACK is never larger than the RFC 9113 size of what it decodes to (each field
    counts 32 bytes more than its name and value), so this refuses only blocks that hpack
    would refuse too, before they are buffered whole.
    """

    max_block = 2**32

    def __next__(self) -> Any:
        data = self._data
        if len(data) >= 9:
            ftype = data[3]
            if ftype == 0x4 and data[4] & 0x1 and (data[0] or data[1] or data[2]):
                # RFC 9113 6.5: FRAME_SIZE_ERROR (hyperframe's InvalidDataError: PROTOCOL_ERROR)
                raise h2.exceptions.FrameDataMissingError("SETTINGS frame with ACK and a payload")
            if ftype == 0xA and not self._headers_buffer:
                # ALTSVC (RFC 7838), which this client does not use: discarded unparsed, as
                # RFC 9113 5.5 wants for unsupported frame types (hyperframe refuses a
                # malformed one, which would fail the connection).
                end = 9 + ((data[0] << 16) | (data[1] << 8) | data[2])
                if len(data) < end:
                    raise StopIteration
                del data[:end]
                return self.__next__()
        return super().__next__()

    def _update_header_buffer(self, f: Any) -> Any:
        result = super()._update_header_buffer(f)
        pending = self._headers_buffer
        if pending and sum(len(frame.data) for frame in pending) > self.max_block:
            raise h2.exceptions.ProtocolError(
                f"header block of more than {self.max_block} encoded bytes "
                f"(max_response_header_bytes) in {len(pending)} frames")
        return result


class _CompressionError(h2.exceptions.ProtocolError):
    """A header block that does not decode (RFC 9113 4.3: COMPRESSION_ERROR)."""

    error_code = h2.errors.ErrorCodes.COMPRESSION_ERROR


class _Decoder(hpack.Decoder):
    """hpack's decoder; a decoding error (not an oversized list) raises _CompressionError,
    which h2 passes through to its GOAWAY instead of wrapping it as PROTOCOL_ERROR."""

    def decode(self, data: bytes, raw: bool = False) -> Any:
        try:
            return super().decode(data, raw=raw)
        except hpack.exceptions.OversizedHeaderListError:
            raise
        except (hpack.exceptions.HPACKError, IndexError, TypeError, UnicodeDecodeError) as exc:
            raise _CompressionError(f"Error decoding header block: {exc}") from exc


def _counted(raw: List[Tuple[bytes, bytes]]) -> List[Tuple[bytes, bytes]]:
    """``raw`` itself; a ProtocolError past ``MAX_RESPONSE_HEADER_COUNT`` fields."""
    if len(raw) > MAX_RESPONSE_HEADER_COUNT:
        raise h2.exceptions.ProtocolError(
            f"header block of {len(raw)} fields, over the limit of {MAX_RESPONSE_HEADER_COUNT}")
    return raw


class _H2State(FastH2Connection):
    """h2's connection with the GOAWAY, open-stream-count and header-block changes above."""

    def __init__(self, config: h2.config.H2Configuration) -> None:
        super().__init__(config=config)
        self.open_count = 0
        self.use_decoder(_Decoder())
        self.decoder.max_header_list_size = self.DEFAULT_MAX_HEADER_LIST_SIZE
        buffer = _HeaderBlockBuffer(server=False)
        buffer.max_frame_size = self.incoming_buffer.max_frame_size
        self.incoming_buffer = buffer

    @property
    def open_outbound_streams(self) -> int:  # type: ignore[override]
        return self.open_count

    def _receive_goaway_frame(self, frame: Any) -> Any:
        result = super()._receive_goaway_frame(frame)
        self.state_machine.state = h2.connection.ConnectionState.CLIENT_OPEN
        return result

    def _receive_rst_stream_frame(self, frame: Any) -> Any:
        """RFC 9113 6.4: RST_STREAM on an idle stream is a PROTOCOL_ERROR (h2 ignores it)."""
        sid = frame.stream_id
        highest = self.highest_outbound_stream_id if sid % 2 else self.highest_inbound_stream_id
        if sid > highest:
            raise h2.exceptions.ProtocolError(f"RST_STREAM on idle stream {sid}")
        return super()._receive_rst_stream_frame(frame)

    def forget_stream(self, stream_id: int) -> None:
        """Drop a closed stream from h2's table, as h2's own scan would."""
        stream = self.streams.pop(stream_id, None)
        if stream is not None:
            self._closed_streams[stream_id] = stream.closed_by


class _Credit:
    """Receive credit of the connection or one stream, and the bytes owed back to the peer."""

    __slots__ = ("credit", "owed", "threshold", "batch")

    def __init__(self, credit: int, threshold: int, batch: int = 0) -> None:
        self.credit = credit
        self.owed = 0
        self.threshold = threshold
        # Automatic mode: the least increment worth a frame. Without it a consumer lagging
        # more than the threshold behind would send one WINDOW_UPDATE per DATA frame; every
        # received byte is released eventually there, so owed always reaches it.
        self.batch = batch

    def take(self, owed: int) -> int:
        """Record ``owed`` released bytes; return the increment to send now (0 = batch)."""
        self.owed += owed
        if self.owed and self.credit <= self.threshold and self.owed >= self.batch:
            increment = min(self.owed, 2**31 - 1 - self.credit)
            self.owed -= increment
            self.credit += increment
            return increment
        return 0


class _H2Stream:
    """Per-stream driver state next to its core."""

    __slots__ = ("core", "credit", "sent_end", "body_task", "send_waiter", "opened")

    def __init__(self, core: StreamCore, credit: _Credit) -> None:
        self.core = core
        self.credit = credit
        self.sent_end = False
        self.body_task: Optional[asyncio.Task] = None
        self.send_waiter: Optional[asyncio.Future] = None
        self.opened = False


def _decode(raw: List[Tuple[bytes, bytes]]) -> Tuple[Optional[bytes], List[Tuple[str, str]]]:
    """Find ``:status``; decode values UTF-8 (latin-1 fallback). ``:status`` stays in the
    header list at its wire position, as awscrt reports it; other pseudo-headers are dropped."""
    status = None
    out = []
    for name, value in raw:
        if name[:1] == b":":
            if name != b":status":
                continue
            status = value
        if _BAD_VALUE(value):
            raise h2.exceptions.ProtocolError(f"header {name!r} carries CR, LF or NUL: {value!r}")
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            text = value.decode("latin-1")
        out.append((name.decode("latin-1"), text))
    return status, out


class H2Driver(ConnectionDriver, asyncio.BufferedProtocol):
    """One HTTP/2 connection with its streams multiplexed."""

    version = HttpVersion.Http2

    def __init__(self, opts: ConnectionOptions, loop: asyncio.AbstractEventLoop, tls: bool = True) -> None:
        super().__init__(opts, loop)
        self.scheme = b"https" if tls else b"http"
        default_port = 443 if tls else 80
        authority = opts.host_name if opts.port == default_port else f"{opts.host_name}:{opts.port}"
        self.authority = authority.encode("idna" if not authority.isascii() else "ascii")
        self.conn = _H2State(h2.config.H2Configuration(
            client_side=True, header_encoding=None, validate_outbound_headers=False,
            normalize_outbound_headers=False, validate_inbound_headers=True))
        self.streams: Dict[int, _H2Stream] = {}
        self.queue: Deque[StreamCore] = deque()
        self.goaway_error: Optional[BaseException] = None
        self._flush_scheduled = False
        self._error: Optional[BaseException] = None
        self._settings_waiter: Optional[asyncio.Future] = None
        self._got_settings = False
        self._preface_head = b""  # first bytes from the peer, until its frame type is known
        # Reads land in _buffer after the _have bytes kept from the previous read (the start
        # of a frame not yet complete); nothing handed on is a view into it.
        self._buffer = bytearray(READ_BUFFER)
        self._view = memoryview(self._buffer)
        self._have = 0

        settings: Dict[int, int] = {
            h2.settings.SettingCodes.ENABLE_PUSH: 0,
            h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: opts.max_response_header_bytes,
        }
        if opts.manual_window_management:
            settings[h2.settings.SettingCodes.INITIAL_WINDOW_SIZE] = opts.initial_window_size  # type: ignore[assignment]
        else:
            settings[h2.settings.SettingCodes.INITIAL_WINDOW_SIZE] = (
                SYNC_STREAM_WINDOW if opts.sync_api else opts.high_water_mark)
            settings[h2.settings.SettingCodes.MAX_FRAME_SIZE] = DEFAULT_MAX_FRAME_SIZE
        for setting in opts.initial_settings or ():
            settings[int(setting.id)] = setting.value
        self.stream_window = settings[h2.settings.SettingCodes.INITIAL_WINDOW_SIZE]
        self.conn.local_settings = h2.settings.Settings(client=True, initial_values=settings)  # type: ignore[arg-type]
        self.conn.max_inbound_frame_size = self.conn.local_settings.max_frame_size
        # h2 applies these to its HPACK decoder only when a *changed* setting is acked; ours
        # are initial values, so apply them here (else a peer honouring our
        # HEADER_TABLE_SIZE trips the decoder's 4096 limit).
        self.conn.decoder.max_allowed_table_size = self.conn.local_settings.header_table_size
        self.conn.decoder.max_header_list_size = settings[h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE]
        self.conn.incoming_buffer.max_block = self.conn.local_settings.max_header_list_size  # type: ignore[attr-defined]
        if opts.manual_window_management:
            threshold = opts.stream_window_size_threshold
            self.stream_threshold = self.stream_window // 2 if threshold is None else threshold
        else:
            self.stream_threshold = self.stream_window // 2
        self.stream_batch = 0 if opts.manual_window_management else self.stream_window - self.stream_threshold
        if opts.conn_manual_window_management:
            threshold = opts.conn_window_size_threshold
            self.credit = _Credit(H2_DEFAULT_WINDOW, H2_DEFAULT_WINDOW // 2 if threshold is None else threshold)
        else:
            self.credit = _Credit(H2_DEFAULT_WINDOW, DEFAULT_CONNECTION_WINDOW // 2, DEFAULT_CONNECTION_WINDOW // 2)

    # ---- asyncio protocol ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.conn.initiate_connection()
        if not self.opts.conn_manual_window_management:
            grow = DEFAULT_CONNECTION_WINDOW - H2_DEFAULT_WINDOW
            self.conn.increment_flow_control_window(grow)
            self.credit.credit += grow
        self._flush()

    async def ready(self) -> None:
        if self._got_settings or self._error is not None or self.shutdown_future.done():
            self._raise_if_failed()
            return
        self._settings_waiter = self.loop.create_future()
        try:
            async with asyncio.timeout(self.opts.connect_timeout):
                await self._settings_waiter
        except TimeoutError:
            self.transport.abort()  # type: ignore[union-attr]
            raise exceptions.error(
                "AWS_ERROR_HTTP_UNSUPPORTED_PROTOCOL",
                f"{self.where} sent no HTTP/2 SETTINGS within {self.opts.connect_timeout:g} s") from None
        self._raise_if_failed()

    def _raise_if_failed(self) -> None:
        if self._got_settings:
            return
        error = self._error or self.closed_error("the connection closed before HTTP/2 SETTINGS")
        if getattr(error, "name", "") == "AWS_ERROR_HTTP_PROTOCOL_ERROR":
            error = exceptions.error(
                "AWS_ERROR_HTTP_UNSUPPORTED_PROTOCOL", f"{self.where} does not speak HTTP/2: {error}")
        raise error

    def _wake_ready(self) -> None:
        waiter = self._settings_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def get_buffer(self, sizehint: int) -> memoryview:
        if len(self._buffer) - self._have < READ_MIN:
            have = self._have
            need = have + READ_BUFFER
            if have >= 9:  # room for the whole frame that has begun, at once
                need += (self._buffer[0] << 16) | (self._buffer[1] << 8) | self._buffer[2]
            self._resize(need)
        return self._view[self._have:]

    def _resize(self, size: int) -> None:
        buffer = bytearray(size)
        buffer[:self._have] = self._view[:self._have]
        self._buffer = buffer
        self._view = memoryview(buffer)

    def buffer_updated(self, nbytes: int) -> None:
        self.io_bytes += nbytes
        self._received(self._have + nbytes)

    def data_received(self, data: bytes) -> None:
        """Bytes that arrived outside the buffer protocol (replayed after a handover)."""
        self.io_bytes += len(data)
        have = self._have
        if len(self._buffer) - have < len(data):
            self._resize(have + len(data) + READ_BUFFER)
        self._buffer[have:have + len(data)] = data
        self._received(have + len(data))

    def _received(self, size: int) -> None:
        """Process ``_buffer[:size]``; keep an incomplete frame at its start."""
        self._have = 0
        if self.local_close:  # see _to_h2
            return
        view = self._view[:size]
        if len(self._preface_head) < 4 and not self._check_preface(view):
            return
        if not FAST_PATH:
            if self._to_h2(view):
                self._flush()
            return
        pos = start = 0  # view[start:pos] holds whole frames that h2 has not seen yet
        max_frame = self.conn.max_inbound_frame_size
        streams = self.streams
        while size - pos >= 9:
            length = (view[pos] << 16) | (view[pos + 1] << 8) | view[pos + 2]
            if length > max_frame:  # RFC 9113 4.2, refused at its header (h2 buffers it whole)
                if start < pos and not self._to_h2(view[start:pos]):
                    return
                self._frame_too_large(length, max_frame)
                return
            end = pos + 9 + length
            if end > size:
                break
            ftype = view[pos + 3]
            flags = view[pos + 4]
            # DATA without PADDED; HEADERS with END_HEADERS, without PADDED and PRIORITY
            if (ftype == 0 and not flags & 0x08) or (ftype == 1 and flags & 0x2C == 0x04):
                stream_id = int.from_bytes(view[pos + 5:pos + 9], "big") & 0x7FFFFFFF
                if stream_id in streams:
                    # h2 first takes the frames before this one: they may end the stream
                    # (RST_STREAM, GOAWAY) or change its windows (SETTINGS ACK).
                    if start < pos:
                        if not self._to_h2(view[start:pos]):
                            return
                        start = pos
                    if ftype == 0:
                        run_end = self._fast_data(view, pos, size, stream_id, max_frame)
                        if run_end:
                            start = end = run_end
                    else:
                        taken = self._fast_head(flags & 0x1, stream_id, view[pos + 9:end])
                        if taken is None:
                            return
                        if taken:
                            start = end
            pos = end
        if start < pos and not self._to_h2(view[start:pos]):
            return
        if pos < size:
            self._have = size - pos
            self._view[:self._have] = view[pos:size]  # memmove
        self._flush()

    def _fast_data(self, view: memoryview, pos: int, size: int, stream_id: int, max_frame: int) -> int:
        """Take the run of whole DATA frames without padding on ``stream_id`` that starts at
        ``pos`` and deliver their payloads as one chunk; return where the run ends, 0 if h2
        must take the first frame. (nginx sends 8 KiB frames: a read holds dozens.)

        :meth:`FastH2Connection.consume_data` accounts the run at once: windows and the
        content-length count only shrink and grow by each frame's length, so the run fits
        exactly when each of its frames does. If it does not, frames are taken one by one
        up to the one h2 must see."""
        unpack = _FRAME_HEAD.unpack_from
        spans = []
        total = 0
        ended = False
        while True:  # the frame at pos is whole, DATA, unpadded, on stream_id
            high, low, _, flags, _ = unpack(view, pos)
            end = pos + 9 + ((high << 16) | low)
            spans.append((pos + 9, end))
            total += end - pos - 9
            pos = end
            if flags & 0x1:
                ended = True
                break
            if total >= MAX_JOINED_DATA or size - pos < 9:
                break
            high, low, ftype, flags, sid = unpack(view, pos)
            length = (high << 16) | low
            if (ftype or flags & 0x08 or sid & 0x7FFFFFFF != stream_id or length > max_frame
                    or pos + 9 + length > size):
                break
        stream = self.streams.get(stream_id)
        if stream is None:
            return 0
        consume = self.conn.consume_data
        if not consume(stream_id, total, ended):
            for index, (start, end) in enumerate(spans):
                last = ended and index == len(spans) - 1
                if not consume(stream_id, end - start, last):
                    del spans[index:]
                    ended = False
                    pos = start - 9
                    break
            if not spans:
                return 0
        if len(spans) == 1:
            data = bytes(view[spans[0][0]:spans[0][1]])
        else:
            data = b"".join([view[start:end] for start, end in spans])
        self._receive_payload(stream_id, stream, data, len(data))
        if ended:
            self._on_stream_ended(stream_id)
        return pos

    def _fast_head(self, end_stream: int, stream_id: int, block: memoryview) -> Optional[bool]:
        """Take a HEADERS frame carrying a whole header block on a stream of ours (see
        :meth:`FastH2Connection.receive_head`); False if h2 must take it, None if the
        connection failed."""
        stream = self.streams.get(stream_id)
        if stream is None:
            return False
        try:
            head = self.conn.receive_head(stream_id, bytes(block), bool(end_stream))
        except h2.exceptions.ProtocolError as exc:
            self._flush()
            self._fatal(exceptions.translate(exc, f"HTTP/2 frames from {self.where}"))
            return None
        if head is None:
            return False
        if self._first_byte_timeout:
            self.deadlines.clear(stream.core)
        if head.__class__ is not ResponseHead:
            for event in head:  # type: ignore[union-attr]
                self._dispatch(event)
            return True
        self._on_response(stream, head)
        if end_stream:
            self._on_stream_ended(stream_id)
        return True

    def _to_h2(self, data: Any) -> bool:
        """Feed whole frames to h2 and dispatch its events; False once the connection failed
        (or we closed it: after our GOAWAY, with every stream done, the rest is moot)."""
        if self.local_close:
            return False
        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            self._flush()
            self._fatal(exceptions.translate(exc, f"HTTP/2 frames from {self.where}"))
            return False
        try:
            for event in events:
                self._dispatch(event)
        except h2.exceptions.ProtocolError as exc:
            self._fatal(exceptions.translate(exc, f"HTTP/2 frames from {self.where}"))
            return False
        return True

    def _check_preface(self, data: memoryview) -> bool:
        """RFC 9113 3.4: the server's first frame is SETTINGS (type 4). h2 would buffer an
        HTTP/1.1 answer as one huge frame and wait; fail at once (ready() reports 2060)."""
        head = self._preface_head = self._preface_head + bytes(data[:4 - len(self._preface_head)])
        if len(head) < 4 or head[3] == 0x4:
            return True
        self._fatal(exceptions.error(
            "AWS_ERROR_HTTP_PROTOCOL_ERROR",
            f"{self.where} did not open with an HTTP/2 SETTINGS frame (got {bytes(data[:16])!r})"))
        return False

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        self.closing = True
        if self._error is None and not self.local_close:
            # After close() (ours) the TLS goodbye may still fail (e.g. the peer's data
            # after its close_notify): the user asked to close, so shutdown is clean.
            if exc is not None:
                self._error = exceptions.error(
                    "AWS_ERROR_HTTP_CONNECTION_CLOSED", f"connection to {self.where} lost: {exc!r}")
            elif self.goaway_error is None:
                self._error = self.closed_error("the server closed the connection")
        self.fail_streams(self._error or self.closed_error("the connection closed"))
        self.set_shutdown(self._error)
        self.resume_writing()
        self._wake_ready()

    # ---- events ----------------------------------------------------------------------

    def _dispatch(self, event: Any) -> None:
        cls = event.__class__
        if self._first_byte_timeout:
            stream = self.streams.get(getattr(event, "stream_id", 0) or 0)
            if stream is not None:
                self.deadlines.clear(stream.core)
        if cls is h2.events.DataReceived:
            self._on_data(event)
        elif cls is h2.events.ResponseReceived:
            stream = self.streams.get(event.stream_id)
            if stream is not None:
                self._on_response(stream, event)
        elif cls is h2.events.StreamEnded:
            self._on_stream_ended(event.stream_id)
        elif cls is h2.events.TrailersReceived:
            stream = self.streams.get(event.stream_id)
            if stream is not None:
                try:
                    stream.core.deliver_trailers(_decode(_counted(event.headers))[1])
                except h2.exceptions.ProtocolError as exc:
                    self._stream_protocol_error(stream, exc)
        elif cls is h2.events.WindowUpdated:
            self._wake_senders(event.stream_id)
        elif cls is h2.events.StreamReset:
            self._on_reset(event)
        elif cls is h2.events.RemoteSettingsChanged:
            self._on_settings(event)
        elif cls is h2.events.ConnectionTerminated:
            self._on_goaway(event)
        elif cls is h2.events.SettingsAcknowledged or cls is h2.events.PingReceived:
            pass
        elif cls is h2.events.InformationalResponseReceived:
            pass

    def _on_response(self, stream: _H2Stream, head: Any) -> None:
        """The final response head (h2's ``ResponseReceived`` or a :class:`ResponseHead`),
        decoded for the user once per memoized head."""
        decoded = getattr(head, "decoded", None)
        if decoded is None:
            try:
                status, headers = _decode(_counted(head.headers))
                if status is None or not status.isdigit() or len(status) != 3:
                    raise h2.exceptions.ProtocolError(f"invalid :status {status!r}")
            except h2.exceptions.ProtocolError as exc:
                self._stream_protocol_error(stream, exc)
                return
            decoded = (int(status), headers)
            if head.__class__ is ResponseHead:
                head.decoded = decoded
        stream.core.deliver_head(decoded[0], list(decoded[1]))

    def _on_stream_ended(self, stream_id: int) -> None:
        stream = self.streams.get(stream_id)
        if stream is not None:
            stream.core.remote_end()
            if stream.sent_end:
                self._finish(stream)

    def _stream_protocol_error(self, stream: _H2Stream, exc: Exception) -> None:
        self._reset(stream, exceptions.translate(exc, f"response from {self.where}"),
                    h2.errors.ErrorCodes.PROTOCOL_ERROR)

    def _on_data(self, event: Any) -> None:
        self._receive_payload(event.stream_id, self.streams.get(event.stream_id), event.data,
                              event.flow_controlled_length)

    def _receive_payload(self, stream_id: int, stream: Optional[_H2Stream], data: bytes, flow: int) -> None:
        """Body bytes (``flow`` flow-controlled bytes, padding included) for ``stream_id``."""
        self.credit.credit -= flow
        # Padding is always given back; the rest in manual mode only when the user says.
        padding = flow - len(data)
        self._grant(None, self.credit, padding if self.opts.conn_manual_window_management else flow)
        if stream is None:
            return
        stream.credit.credit -= flow
        core = stream.core
        self._grant(stream_id, stream.credit, flow if core.window is None else padding)
        if data:
            core.deliver_data(data)

    def _grant(self, stream_id: Optional[int], credit: _Credit, owed: int) -> None:
        increment = credit.take(owed)
        if increment:
            try:
                self.conn.increment_flow_control_window(increment, stream_id)
            except (KeyError, h2.exceptions.StreamClosedError):
                pass

    def _on_settings(self, event: Any) -> None:
        if not self._got_settings:
            self._got_settings = True
            self._wake_ready()
        changed = event.changed_settings
        if h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS in changed:
            self._start_queued()
        callback = self.opts.on_remote_settings_changed
        if callback is not None and changed:
            settings = [Http2Setting(_SETTING_CODES[code], c.new_value)
                        for code, c in changed.items() if code in _SETTING_CODES]
            try:
                callback(settings)
            except Exception:  # a user callback must not break the connection
                pass
        if h2.settings.SettingCodes.INITIAL_WINDOW_SIZE in changed:
            self._wake_senders(0)

    def _frame_too_large(self, length: int, limit: int) -> None:
        """A frame over our MAX_FRAME_SIZE: GOAWAY(FRAME_SIZE_ERROR), connection failed."""
        try:
            self.conn.close_connection(error_code=h2.errors.ErrorCodes.FRAME_SIZE_ERROR)
        except h2.exceptions.ProtocolError:
            pass
        self._flush()
        self._fatal(exceptions.error(
            "AWS_ERROR_HTTP_PROTOCOL_ERROR",
            f"HTTP/2 frames from {self.where}: a frame of {length} bytes, over MAX_FRAME_SIZE {limit}"))

    def _on_reset(self, event: Any) -> None:
        stream = self.streams.get(event.stream_id)
        if stream is None:
            return
        code = event.error_code
        if not event.remote_reset:  # h2 reset it: the peer broke the stream's rules
            name = getattr(code, "name", str(code))
            self._end(stream, exceptions.error(
                "AWS_ERROR_HTTP_PROTOCOL_ERROR",
                f"{self.where} broke the rules of stream {event.stream_id}: reset with {name} ({int(code)})"))
            return
        if code == h2.errors.ErrorCodes.NO_ERROR and stream.core.remote_ended:
            stream.sent_end = True  # the server has its answer and needs no more of our body
            self._finish(stream)
            return
        name = getattr(code, "name", str(code))
        self._end(stream, exceptions.error(
            "AWS_ERROR_HTTP_RST_STREAM_RECEIVED",
            f"{self.where} reset stream {event.stream_id} with {name} ({int(code)})"))

    def _on_goaway(self, event: Any) -> None:
        code = event.error_code
        name = getattr(code, "name", str(code))
        last = event.last_stream_id
        error = exceptions.error(
            "AWS_ERROR_HTTP_GOAWAY_RECEIVED",
            f"{self.where} sent GOAWAY ({name}, last stream id {last})")
        self.goaway_error = error
        self.closing = True
        if code != h2.errors.ErrorCodes.NO_ERROR:
            self._error = error
        for stream_id in [sid for sid in self.streams if sid > last]:
            self._end(self.streams[stream_id], error)
        while self.queue:
            self.queue.popleft().fail(error)
        self._close_if_idle()

    # ---- streams ---------------------------------------------------------------------

    def submit(self, core: StreamCore) -> None:
        if self.closing:
            core.fail(self.goaway_error or self.closed_error("the connection is closed"))
            return
        if len(self.streams) >= self.conn.remote_settings.max_concurrent_streams:
            self.queue.append(core)
            return
        self._open(core)

    def _start_queued(self) -> None:
        limit = self.conn.remote_settings.max_concurrent_streams
        while self.queue and len(self.streams) < limit and not self.closing:
            core = self.queue.popleft()
            if core.state != DONE:
                self._open(core)

    def _open(self, core: StreamCore) -> None:
        conn = self.conn
        request = core.request
        assert request is not None
        try:
            stream_id = conn.get_next_available_stream_id()
        except h2.exceptions.NoAvailableStreamIDError:
            core.fail(exceptions.error("AWS_ERROR_HTTP_STREAM_IDS_EXHAUSTED", self.where))
            self.closing = True
            self._close_if_idle()
            return
        authority = self.authority
        headers: List[Tuple[bytes, bytes]] = []
        for name, value in request.headers:
            lname = name.lower().encode("latin-1")
            if lname in _CONNECTION_HEADERS:
                if lname == b"host":
                    authority = value.encode("utf-8")
                continue
            if lname == b"te" and value.strip().lower() != "trailers":
                continue
            headers.append((lname, value.encode("utf-8")))
        method = request.method.encode("ascii")
        head = ((b":method", method), (b":scheme", self.scheme),
                (b":authority", authority), (b":path", request.path.encode("utf-8")), *headers)
        body = has_body(core) or core.manual_write
        stream = _H2Stream(core, _Credit(self.stream_window, self.stream_threshold, self.stream_batch))
        core.stream_id = stream_id
        try:
            if FAST_PATH:
                conn.send_request(stream_id, head, not body, method, authority)
            else:
                conn.send_headers(stream_id, head, end_stream=not body)
        except h2.exceptions.ProtocolError as exc:
            core.fail(exceptions.translate(exc, core.where()))
            return
        self.streams[stream_id] = stream
        conn.open_count += 1
        stream.opened = True
        if body:
            stream.body_task = self.loop.create_task(self._send_body(stream))
        else:
            stream.sent_end = True
            self.request_sent(core)
        self._flush_soon()

    async def _send_body(self, stream: _H2Stream) -> None:
        core = stream.core
        conn = self.conn
        stream_id = core.stream_id
        chunks = body_chunks(core)
        try:
            async for chunk in chunks:
                view = memoryview(chunk)
                offset = 0
                size = len(view)
                while offset < size:
                    if core.state == DONE:
                        return
                    room = min(conn.local_flow_control_window(stream_id), conn.max_outbound_frame_size)
                    if room <= 0:
                        await self._wait_send_window(stream)
                        continue
                    piece = view[offset:offset + room]
                    conn.send_data(stream_id, piece)
                    offset += len(piece)
                    self._flush()
                    if self._write_paused:
                        await self.drain()
            if core.state == DONE:
                return
            conn.end_stream(stream_id)
            self._flush()
            stream.sent_end = True
            self.request_sent(core)
            if core.remote_ended:
                self._finish(stream)
        except asyncio.CancelledError:
            raise
        except h2.exceptions.StreamClosedError:
            return  # the server reset it; _on_reset ended the stream
        except Exception as exc:
            self.abort_stream(core, exceptions.translate(exc, core.where()))
        finally:
            stream.body_task = None
            await chunks.aclose()  # type: ignore[attr-defined]

    async def _wait_send_window(self, stream: _H2Stream) -> None:
        waiter = stream.send_waiter = self.loop.create_future()
        try:
            await waiter
        finally:
            stream.send_waiter = None

    def _wake_senders(self, stream_id: int) -> None:
        if stream_id:
            stream = self.streams.get(stream_id)
            targets = [stream] if stream is not None else []
        else:
            targets = list(self.streams.values())
        for stream in targets:
            waiter = stream.send_waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    def _finish(self, stream: _H2Stream) -> None:
        self._forget(stream)
        stream.core.finish()
        self._after_stream()

    def _end(self, stream: _H2Stream, error: BaseException) -> None:
        self._forget(stream)
        stream.core.fail(error)
        self._after_stream()

    def _forget(self, stream: _H2Stream) -> None:
        stream_id = stream.core.stream_id
        if self.streams.pop(stream_id, None) is not None:
            self.conn.open_count -= 1
            self.conn.forget_stream(stream_id)
            if self._first_byte_timeout:
                self.deadlines.clear(stream.core)
        task = stream.body_task
        if task is not None and task is not asyncio.current_task() and stream.core.state != DONE:
            task.cancel()
        waiter = stream.send_waiter
        if waiter is not None and not waiter.done():
            waiter.cancel()

    def _after_stream(self) -> None:
        if self.queue:
            self._start_queued()
        self._close_if_idle()

    def _close_if_idle(self) -> None:
        if self.closing and not self.streams and self.transport is not None and not self.local_close:
            self.local_close = True
            self.close_transport()

    def _reset(self, stream: _H2Stream, error: BaseException, code: Any) -> None:
        try:
            self.conn.reset_stream(stream.core.stream_id, code)
        except (h2.exceptions.ProtocolError, KeyError):
            pass
        self._end(stream, error)
        self._flush_soon()

    def window_update(self, core: StreamCore, increment: int) -> None:
        stream = self.streams.get(core.stream_id)
        if stream is not None:
            self._grant(core.stream_id, stream.credit, increment)
            self._flush_soon()

    def connection_window_update(self, increment: int) -> None:
        """User grant of connection-level credit (``conn_manual_window_management``)."""
        if self.closing:
            return
        self._grant(None, self.credit, increment)
        self._flush_soon()

    def abort_stream(self, core: StreamCore, error: BaseException) -> None:
        stream = self.streams.get(core.stream_id) if core.stream_id else None
        if stream is not None and stream.core is core:
            code = (h2.errors.ErrorCodes.INTERNAL_ERROR
                    if getattr(error, "name", "") == "AWS_ERROR_HTTP_CALLBACK_FAILURE"
                    else h2.errors.ErrorCodes.CANCEL)
            self._reset(stream, error, code)
            return
        if core in self.queue:
            self.queue.remove(core)
        core.fail(error)

    def fail_streams(self, error: BaseException) -> None:
        for stream in list(self.streams.values()):
            self._forget(stream)
            stream.core.fail(error)
        while self.queue:
            self.queue.popleft().fail(error)

    # ---- writing and shutdown --------------------------------------------------------

    def _flush(self) -> None:
        data = self.conn.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            self.io_bytes += len(data)
            self.transport.write(data)

    def _flush_soon(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.loop.call_soon(self._scheduled_flush)

    def _scheduled_flush(self) -> None:
        self._flush_scheduled = False
        self._flush()

    def close_transport(self) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        try:
            self.conn.close_connection()
        except h2.exceptions.ProtocolError:
            pass
        self._flush()
        close_or_abort(self.transport)

    def busy(self) -> bool:
        return bool(self.streams)

    def fail_connection(self, error: BaseException) -> None:
        self._fatal(error)

    def _fatal(self, error: BaseException) -> None:
        """A connection-level failure: every stream fails with ``error``; close at once."""
        if self._error is None:
            self._error = error
        self.closing = True
        self.fail_streams(error)
        self._wake_ready()
        if self.transport is not None:
            self._flush()
            self.transport.close()
