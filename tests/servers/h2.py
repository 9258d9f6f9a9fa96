"""HTTP/2 test server: asyncio + h2 in its own daemon thread and event loop.

``H2Server(tls=True, certs=None, ssl_context=None, alpn=("h2",), cert_kind="server",
max_concurrent_streams=None, initial_window_size=None, max_frame_size=None,
max_header_list_size=None, connection_window_size=None, settings=None, reject_linger=1.0)``

- ``tls=True``: TLS with ALPN ``alpn``. With ``alpn=("h2", "http/1.1")`` a client that picks
  ``http/1.1`` is served by the HTTP/1.1 logic of :mod:`tests.servers.h1` (same endpoints
  and faults). ``tls=False``: h2c with prior knowledge (the client starts with the preface).
- Settings advertised in the server's first SETTINGS frame: ``max_concurrent_streams``
  (default 100), ``initial_window_size`` (default 65535: the stream windows for request
  bodies), ``max_frame_size`` (default 16384), ``max_header_list_size`` (default h2's 65536),
  and any raw ``settings={id: value}``. ``connection_window_size`` (default 65535) raises the
  connection-level receive window with a WINDOW_UPDATE right after the SETTINGS.
  ``MAX_CONCURRENT_STREAMS`` is enforced by this server, not by h2: a stream beyond the limit
  is refused with ``RST_STREAM(REFUSED_STREAM)`` (recorded in ``refused_streams``) and the
  connection lives on.
- Request bodies are acknowledged (WINDOW_UPDATE) as they arrive, batched by h2.
- Response bodies respect the client's connection and stream windows and its
  ``MAX_FRAME_SIZE`` (the sender waits for WINDOW_UPDATE / SETTINGS).

Attributes: ``host``, ``port``, ``url``, ``connections_accepted``, ``requests`` (every
:class:`~tests.servers.common.Request`, ``http_version == "2"``, ``stream_id`` set; or
``"1.1"`` for ALPN http/1.1), ``conn_records`` (one :class:`H2ConnRecord` per HTTP/2
connection: what the client sent), shortcuts ``client_settings`` (settings of the latest
connection), ``window_updates_received`` (count over all connections),
``pings_acked`` (opaque data of PING ACKs received), ``errors``, ``tls_errors``; ``stop()``.

Endpoints and behaviour headers are those of :mod:`tests.servers.common` (``/echo`` — with
pseudo-headers listed first, as received — ``x-repeat-data``, ``x-slow-response`` +
``x-throughput-bps``, ``x-expect-status``, ``x-upload-test``, ``x-trailers`` (trailing
HEADERS with END_STREAM), ``x-interim`` (1xx HEADERS before the final head)). ``x-framing:
chunked`` or ``close`` only drops ``content-length``.

Fault modes, request header ``x-fault: <name>`` (``N`` = ``x-repeat-data`` or 1000; the
request is read completely first unless stated):

- ``rst-stream``: RST_STREAM with error code ``x-fault-code`` (default 2, INTERNAL_ERROR) at
  ``x-fault-stage``: ``before-headers`` (default: instead of any response),
  ``after-headers`` (after a ``200`` head with ``content-length: N``), ``mid-body``
  (after that head and ``N // 2`` body bytes).
- ``goaway``: GOAWAY with ``last_stream_id`` = ``x-fault-last-stream-id`` or else
  ``max(0, this stream id - 2)`` and error code ``x-fault-code`` (default 0, NO_ERROR). The
  stream is not answered; streams at or below ``last_stream_id`` still running are finished;
  streams above it are never answered; then the connection is closed (bounded: 5 s).
- ``close-mid-body``: head with ``content-length: N``, ``N // 2`` body bytes, then the TCP
  connection is closed (TLS: close_notify) without GOAWAY.
- ``stall``: the stream is never answered (the connection keeps serving other streams,
  PINGs and SETTINGS).
- ``stall-mid-body``: head with ``content-length: N``, ``N // 2`` bytes, then nothing.
- ``protocol-error``: a frame the client must reject, chosen by ``x-fault-variant``:
  ``data-on-stream-0`` (default: a DATA frame on stream 0) or ``bad-hpack`` (a HEADERS
  frame on this stream whose block is ``0x80``, HPACK index 0). The connection is then left
  open for the client to send GOAWAY and close.
- ``push-promise``: a PUSH_PROMISE on this stream (promised stream 2, 4, ... for
  ``GET /pushed``) written even though the client disabled push, then the normal response.
- ``ping``: the server sends a PING (opaque ``b"crtping" + counter byte``) before the normal
  response; ACKs land in ``H2ConnRecord.pings_acked``.
- ``stop-reading``: from the request head on, the stream's DATA is never acknowledged (no
  WINDOW_UPDATE for it) and the stream is never answered: the client's upload stalls when
  the windows are spent.
- ``reject-upload-413``: at the request head, a complete ``413`` response (END_STREAM), then
  RST_STREAM(NO_ERROR) — RFC 9113 8.1's way to stop an upload early.
- any other value: ``400`` with body ``unknown x-fault: <value>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import struct
from dataclasses import dataclass, field
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
from h2.errors import ErrorCodes
from h2.settings import SettingCodes
from hyperframe.frame import GoAwayFrame, PushPromiseFrame

from .certs import CertBundle, get_certs
from .common import (
    FAULT_DEFAULT_BODY,
    ConnInfo,
    Pacer,
    Request,
    ThreadedServer,
    close_gracefully,
    interim_heads,
    iter_pattern,
    make_plan,
)
from .h1 import serve_h1

__all__ = ["H2Server", "H2ConnRecord", "FAULTS"]

FAULTS = (
    "rst-stream",
    "goaway",
    "close-mid-body",
    "stall",
    "stall-mid-body",
    "protocol-error",
    "push-promise",
    "ping",
    "stop-reading",
    "reject-upload-413",
)

SERVER_NAME = "crt-http-test-h2"
_UNLIMITED_STREAMS = 2**31 - 1


@dataclass
class H2ConnRecord:
    """What the client did on one HTTP/2 connection (appended to by the server thread)."""

    conn_id: int
    settings: dict[int, int] = field(default_factory=dict)  # latest value of every setting received
    settings_frames: list[dict[int, int]] = field(default_factory=list)  # one dict per SETTINGS
    window_updates: list[tuple[int, int]] = field(default_factory=list)  # (stream_id, increment)
    pings_received: list[bytes] = field(default_factory=list)
    pings_acked: list[bytes] = field(default_factory=list)
    goaways_received: list[tuple[int, int]] = field(default_factory=list)  # (error_code, last_stream_id)
    resets_received: list[tuple[int, int]] = field(default_factory=list)  # (stream_id, error_code)
    refused_streams: list[int] = field(default_factory=list)
    streams_opened: int = 0
    data_bytes_received: int = 0
    protocol_error: str | None = None  # what h2 raised on bytes from the client, if anything


class H2Server(ThreadedServer):
    """HTTP/2 server (see module docstring)."""

    kind = "h2"

    def __init__(
        self,
        *,
        tls: bool = True,
        certs: CertBundle | None = None,
        ssl_context: ssl.SSLContext | None = None,
        alpn: tuple[str, ...] = ("h2",),
        cert_kind: str = "server",
        max_concurrent_streams: int | None = None,
        initial_window_size: int | None = None,
        max_frame_size: int | None = None,
        max_header_list_size: int | None = None,
        connection_window_size: int | None = None,
        settings: dict[int, int] | None = None,
        reject_linger: float = 1.0,
    ) -> None:
        if ssl_context is None and tls:
            ssl_context = (certs or get_certs()).server_context(cert_kind, alpn)
        self.alpn = tuple(alpn)
        self.max_concurrent_streams = 100 if max_concurrent_streams is None else max_concurrent_streams
        local: dict[int, int] = {SettingCodes.MAX_CONCURRENT_STREAMS: self.max_concurrent_streams}
        if initial_window_size is not None:
            local[SettingCodes.INITIAL_WINDOW_SIZE] = initial_window_size
        if max_frame_size is not None:
            local[SettingCodes.MAX_FRAME_SIZE] = max_frame_size
        local[SettingCodes.MAX_HEADER_LIST_SIZE] = 65536 if max_header_list_size is None else max_header_list_size
        local.update(settings or {})
        self.local_settings = local
        self.connection_window_size = connection_window_size
        self.reject_linger = reject_linger
        self.requests: list[Request] = []
        self.conn_records: list[H2ConnRecord] = []
        super().__init__(ssl_context=ssl_context)

    # -- shortcuts for tests -----------------------------------------------------------------

    @property
    def client_settings(self) -> dict[int, int]:
        """Settings the client sent on the most recent HTTP/2 connection ({} if none)."""
        return dict(self.conn_records[-1].settings) if self.conn_records else {}

    @property
    def window_updates_received(self) -> int:
        """Number of WINDOW_UPDATE frames received, all connections and streams."""
        return sum(len(r.window_updates) for r in self.conn_records)

    @property
    def pings_acked(self) -> list[bytes]:
        return [p for r in self.conn_records for p in r.pings_acked]

    async def _handle(self, info: ConnInfo) -> None:
        if self.tls and (info.alpn == "http/1.1" or (info.alpn is None and "h2" not in self.alpn)):
            await serve_h1(self, info)
            return
        await _H2Conn(self, info).run()


def _codes(settings: dict[int, int]) -> dict[SettingCodes, int]:
    """h2 wants SettingCodes keys; unknown ids are kept as plain ints (h2 passes them on)."""
    out: dict[SettingCodes, int] = {}
    for k, v in settings.items():
        try:
            out[SettingCodes(k)] = v
        except ValueError:
            out[k] = v  # type: ignore[index]
    return out


class _ConnClosed(Exception):
    pass


@dataclass
class _Stream:
    req: Request
    body: bytearray | None
    task: asyncio.Task[Any] | None = None
    no_ack: bool = False
    ignored: bool = False


class _H2Conn:
    def __init__(self, server: H2Server, info: ConnInfo) -> None:
        self.server = server
        self.info = info
        self.reader = info.reader
        self.writer = info.writer
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding=None))
        self.streams: dict[int, _Stream] = {}
        self.active: set[int] = set()  # streams counted against MAX_CONCURRENT_STREAMS
        self.tasks: set[asyncio.Task[Any]] = set()
        self.waiters: list[asyncio.Future[None]] = []
        self.closed = False
        self.goaway_last: int | None = None
        self.next_push_id = 2
        self.ping_counter = 0
        self.record = H2ConnRecord(conn_id=info.conn_id)
        server.conn_records.append(self.record)

    # -- plumbing -------------------------------------------------------------------------

    def flush(self) -> None:
        data = self.conn.data_to_send()
        if data and not self.writer.transport.is_closing():
            self.writer.write(data)

    def write_raw(self, frame: bytes) -> None:
        """Write bytes that h2 does not know about, after everything h2 has queued."""
        self.flush()
        if not self.writer.transport.is_closing():
            self.writer.write(frame)

    def wake(self) -> None:
        for fut in self.waiters:
            if not fut.done():
                fut.set_result(None)
        self.waiters.clear()

    async def wait_window(self, sid: int) -> int:
        while True:
            if self.closed:
                raise _ConnClosed
            w = self.conn.local_flow_control_window(sid)  # StreamClosedError if reset
            if w > 0:
                return w
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self.waiters.append(fut)
            await fut

    async def send_body(self, sid: int, pieces: Any, pacer: Pacer | None = None) -> None:
        for piece in pieces:
            if pacer is not None:
                await pacer.wait(len(piece))
            mv = memoryview(piece)
            while len(mv):
                w = await self.wait_window(sid)
                n = min(w, len(mv), self.conn.max_outbound_frame_size)
                self.conn.send_data(sid, mv[:n].tobytes())
                mv = mv[n:]
                self.flush()
                await self.writer.drain()

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    # -- main loop ----------------------------------------------------------------------------

    async def run(self) -> None:
        self.conn.local_settings = h2.settings.Settings(client=False, initial_values=_codes(self.server.local_settings))
        self.conn.max_inbound_frame_size = self.conn.local_settings.max_frame_size
        self.conn.initiate_connection()
        # The advertised MAX_CONCURRENT_STREAMS is enforced below (REFUSED_STREAM), not by h2
        # (which would kill the whole connection).
        enforced = dict(self.server.local_settings)
        enforced[SettingCodes.MAX_CONCURRENT_STREAMS] = _UNLIMITED_STREAMS
        self.conn.local_settings = h2.settings.Settings(client=False, initial_values=_codes(enforced))
        cws = self.server.connection_window_size
        if cws and cws > 65535:
            self.conn.increment_flow_control_window(cws - 65535)
        self.flush()
        try:
            while not self.closed:
                data = await self.reader.read(1 << 16)
                if not data:
                    break
                try:
                    events = self.conn.receive_data(data)
                except h2.exceptions.ProtocolError as e:
                    self.record.protocol_error = repr(e)
                    self.flush()  # h2 queued its GOAWAY
                    break
                for ev in events:
                    self.handle(ev)
                self.flush()
        finally:
            self.closed = True
            self.wake()
            for t in list(self.tasks):
                t.cancel()
            if self.tasks:
                await asyncio.wait(list(self.tasks), timeout=0.5)
            await close_gracefully(self.writer, 0.5)

    def handle(self, ev: h2.events.Event) -> None:
        rec = self.record
        if isinstance(ev, h2.events.RequestReceived):
            self.on_request(ev)
        elif isinstance(ev, h2.events.DataReceived):
            rec.data_bytes_received += len(ev.data)
            st = self.streams.get(ev.stream_id)
            if st is not None:
                st.req.body_len += len(ev.data)
                if st.body is not None:
                    st.body += ev.data
            if st is None or not st.no_ack:
                with contextlib.suppress(h2.exceptions.StreamClosedError):
                    self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
        elif isinstance(ev, h2.events.StreamEnded):
            self.on_request_complete(ev.stream_id)
        elif isinstance(ev, h2.events.StreamReset):
            rec.resets_received.append((ev.stream_id, int(ev.error_code)))
            self.active.discard(ev.stream_id)
            st = self.streams.get(ev.stream_id)
            if st is not None and st.task is not None:
                st.task.cancel()
            self.wake()
        elif isinstance(ev, h2.events.WindowUpdated):
            rec.window_updates.append((ev.stream_id, ev.delta))
            self.wake()
        elif isinstance(ev, h2.events.RemoteSettingsChanged):
            frame = {int(k): v.new_value for k, v in ev.changed_settings.items()}
            rec.settings_frames.append(frame)
            rec.settings.update(frame)
            self.wake()
        elif isinstance(ev, h2.events.PingAckReceived):
            rec.pings_acked.append(ev.ping_data)
        elif isinstance(ev, h2.events.PingReceived):
            rec.pings_received.append(ev.ping_data)
        elif isinstance(ev, h2.events.ConnectionTerminated):
            rec.goaways_received.append((int(ev.error_code or 0), ev.last_stream_id or 0))
            self.closed = True
            self.wake()

    def on_request(self, ev: h2.events.RequestReceived) -> None:
        sid = ev.stream_id
        self.record.streams_opened += 1
        raw = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in ev.headers]
        pseudo = dict((k, v) for k, v in raw if k.startswith(":"))
        req = Request(
            method=pseudo.get(":method", ""),
            path=pseudo.get(":path", ""),
            headers=raw,
            http_version="2",
            conn_id=self.info.conn_id,
            stream_id=sid,
        )
        self.server.requests.append(req)
        st = _Stream(req, bytearray() if req.needs_body_bytes else None)
        self.streams[sid] = st
        if len(self.active) >= self.server.max_concurrent_streams:
            self.record.refused_streams.append(sid)
            st.ignored = True
            self.conn.reset_stream(sid, ErrorCodes.REFUSED_STREAM)
            return
        self.active.add(sid)
        if self.goaway_last is not None and sid > self.goaway_last:
            st.ignored = True
            return
        fault = req.fault
        if fault == "stop-reading":
            st.no_ack = True
            st.ignored = True
        elif fault == "reject-upload-413":
            st.ignored = True
            body = b"request body too large\n"
            self.conn.send_headers(
                sid,
                [
                    (":status", "413"),
                    ("server", SERVER_NAME),
                    ("content-type", "text/plain"),
                    ("content-length", str(len(body))),
                ],
            )
            self.conn.send_data(sid, body, end_stream=True)
            if not ev.stream_ended:
                self.conn.reset_stream(sid, ErrorCodes.NO_ERROR)
            self.active.discard(sid)
        if ev.stream_ended:
            self.on_request_complete(sid)

    def on_request_complete(self, sid: int) -> None:
        st = self.streams.get(sid)
        if st is None or st.ignored or st.task is not None:
            return
        st.req.body = st.body
        st.task = self.spawn(self.answer(sid, st))

    # -- responses -----------------------------------------------------------------------------

    async def answer(self, sid: int, st: _Stream) -> None:
        try:
            fault = st.req.fault
            if fault is not None:
                await self.fault(sid, st.req, fault)
            else:
                await self.respond(sid, st.req)
        except (h2.exceptions.StreamClosedError, _ConnClosed, ConnectionError):
            pass
        except h2.exceptions.ProtocolError:
            pass  # the stream or connection is gone: nothing left to answer
        finally:
            self.flush()
            h2_stream = self.conn.streams.get(sid)
            if h2_stream is None or h2_stream.closed:
                self.active.discard(sid)

    async def respond(self, sid: int, req: Request, pre_body: Any = None) -> None:
        conn = self.conn
        plan = make_plan(req, SERVER_NAME)
        for status, hs in interim_heads(plan.interim):
            conn.send_headers(sid, [(":status", str(status))] + hs)
        headers = [(":status", str(plan.status))] + plan.headers
        framing = (req.header("x-framing") or "").strip().lower()
        if plan.announce_length and framing not in ("chunked", "close"):
            headers.append(("content-length", str(plan.length)))
        if not plan.send_body:
            conn.send_headers(sid, headers, end_stream=True)
            self.flush()
            return
        conn.send_headers(sid, headers)
        self.flush()
        pacer = Pacer(plan.bps) if plan.bps else None
        await self.send_body(sid, plan.chunks(pacer.chunk_size if pacer else 1 << 16), pacer)
        if plan.trailers:
            conn.send_headers(sid, plan.trailers, end_stream=True)
        else:
            conn.end_stream(sid)
        self.flush()

    async def fault(self, sid: int, req: Request, fault: str) -> None:
        conn = self.conn
        n = max(0, req.int_header("x-repeat-data", FAULT_DEFAULT_BODY))
        head = [(":status", "200"), ("server", SERVER_NAME), ("content-length", str(n))]
        if fault == "rst-stream":
            code = req.int_header("x-fault-code", int(ErrorCodes.INTERNAL_ERROR))
            stage = (req.header("x-fault-stage") or "before-headers").strip().lower()
            if stage in ("after-headers", "mid-body"):
                conn.send_headers(sid, head)
                self.flush()
            if stage == "mid-body":
                await self.send_body(sid, iter_pattern(n // 2))
            conn.reset_stream(sid, code)
            self.flush()
        elif fault == "goaway":
            last = req.int_header("x-fault-last-stream-id", max(0, sid - 2))
            code = req.int_header("x-fault-code", int(ErrorCodes.NO_ERROR))
            self.goaway_last = last
            self.write_raw(GoAwayFrame(0, last_stream_id=last, error_code=code).serialize())
            await self.writer.drain()
            for other_sid, st in self.streams.items():
                if other_sid > last and st.task is not None and st.task is not asyncio.current_task():
                    st.task.cancel()
            self.spawn(self.close_after_goaway(last))
        elif fault in ("close-mid-body", "stall-mid-body"):
            conn.send_headers(sid, head)
            self.flush()
            await self.send_body(sid, iter_pattern(n // 2))
            if fault == "close-mid-body":
                self.closed = True
                self.wake()
                await close_gracefully(self.writer)
        elif fault == "stall":
            pass
        elif fault == "protocol-error":
            variant = (req.header("x-fault-variant") or "data-on-stream-0").strip().lower()
            if variant == "bad-hpack":
                # HEADERS, flags END_HEADERS (0x4), block 0x80 = indexed field, index 0 (invalid)
                payload = b"\x80"
                frame = struct.pack(">I", len(payload))[1:] + bytes([0x1, 0x4]) + struct.pack(">I", sid)
            else:
                payload = b"oops"
                frame = struct.pack(">I", len(payload))[1:] + bytes([0x0, 0x0]) + struct.pack(">I", 0)
            self.write_raw(frame + payload)
        elif fault == "push-promise":
            promised = self.next_push_id
            self.next_push_id += 2
            authority = req.header(":authority") or f"{self.server.host}:{self.server.port}"
            block = conn.encoder.encode(
                [
                    (b":method", b"GET"),
                    (b":scheme", b"https" if self.server.tls else b"http"),
                    (b":authority", authority.encode("latin-1")),
                    (b":path", b"/pushed"),
                ]
            )
            push = PushPromiseFrame(sid, promised_stream_id=promised, data=block, flags=["END_HEADERS"])
            self.write_raw(push.serialize())
            await self.respond(sid, req)
        elif fault == "ping":
            self.ping_counter += 1
            conn.ping(b"crtping" + bytes([self.ping_counter % 256]))
            self.flush()
            await self.respond(sid, req)
        else:
            body = f"unknown x-fault: {fault}".encode("latin-1", "replace")
            conn.send_headers(
                sid,
                [(":status", "400"), ("server", SERVER_NAME), ("content-length", str(len(body)))],
            )
            conn.send_data(sid, body, end_stream=True)
            self.flush()

    async def close_after_goaway(self, last: int) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5.0
        while loop.time() < deadline:
            busy = [
                st.task for s, st in self.streams.items() if s <= last and st.task is not None and not st.task.done()
            ]
            if not busy:
                break
            await asyncio.wait(busy, timeout=max(0.0, deadline - loop.time()))
        self.flush()
        self.closed = True
        self.wake()
        await close_gracefully(self.writer)
