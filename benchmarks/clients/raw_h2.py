"""Raw HTTP/2 ceiling: a minimal frame loop on a ``BufferedProtocol`` over TLS (ALPN h2).

Preface + SETTINGS (stream windows 2^31-1) + a connection WINDOW_UPDATE to 2^31-1; GETs are
HEADERS frames whose HPACK block is encoded once (``hpack``, no dynamic-table entries) and
reused with a new stream id. Response HEADERS are decoded by ``hpack_lite`` (exact dynamic
table, cached Huffman strings) to read ``:status``; DATA payloads are counted in the receive buffer without
copying; WINDOW_UPDATEs are sent in batches once 1 GiB has been consumed. SETTINGS and PING
are acknowledged; RST_STREAM and GOAWAY fail the run. Frames to send are gathered and
written once per ``buffer_updated``.
"""

from __future__ import annotations

import asyncio
import struct
import time
from typing import Any

from . import hpack_lite
from .common import BenchError, Job, Stats, Timer, check

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = (
    0, 1, 3, 4, 6, 7, 8, 9)
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY = 0x1, 0x1, 0x4, 0x8, 0x20
MAX_WINDOW = 2**31 - 1
UPDATE_AT = 1 << 30
RECV_BUFFER = 256 * 1024
_HDR = struct.Struct(">BHBBL")       # length(24) as 8+16, type, flags, stream id


def frame(ftype: int, flags: int, sid: int, payload: bytes = b"") -> bytes:
    n = len(payload)
    return _HDR.pack(n >> 16, n & 0xFFFF, ftype, flags, sid) + payload


class Stream:
    __slots__ = ("status", "size", "unacked", "block")

    def __init__(self) -> None:
        self.status = 0
        self.size = 0
        self.unacked = 0
        self.block = b""


class RawH2(asyncio.BufferedProtocol):
    """One HTTP/2 connection running ``count`` GETs with up to ``inflight`` streams."""

    def __init__(self, job: Job, timer: Timer, stats: Stats) -> None:
        self.job, self.timer, self.stats = job, timer, stats
        self.decoder = hpack_lite.Decoder()
        self._buf = bytearray(RECV_BUFFER)
        self._view = memoryview(self._buf)
        self._hdr = b""                 # partial frame header
        self._ftype = self._flags = self._sid = 0
        self._need = 0                  # payload bytes of the current frame still due
        self._payload = bytearray()     # payload of a non-DATA frame being collected
        self._pad = 0                   # padding bytes at the end of the current DATA frame
        self._in_frame = False
        self._hflags = 0                # flags of the HEADERS frame a CONTINUATION extends
        self.streams: dict[int, Stream] = {}
        self.next_sid = 1
        self.conn_unacked = 0
        self.out: list[bytes] = []
        self.transport: Any = None
        self.path = job.path
        self.want_size = job.size
        self.left = 0
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.block = b""

    def set_request(self, path: str, size: int, count: int) -> None:
        """Prepare the next batch: ``count`` GETs of ``path`` expecting ``size`` bytes."""
        import hpack
        enc = hpack.Encoder()
        self.block = enc.encode([
            hpack.NeverIndexedHeaderTuple(":method", "GET"),
            hpack.NeverIndexedHeaderTuple(":scheme", "https"),
            hpack.NeverIndexedHeaderTuple(":authority", self.job.authority),
            hpack.NeverIndexedHeaderTuple(":path", path),
        ])
        if len(enc.header_table.dynamic_entries):
            raise BenchError("prebuilt HPACK block would use the dynamic table")
        self.path, self.want_size, self.left = path, size, count
        self.done = asyncio.get_running_loop().create_future()

    # -- asyncio ---------------------------------------------------------------------------
    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        settings = struct.pack(">HLHLHL", 2, 0, 4, MAX_WINDOW, 5, 1 << 20)
        transport.write(PREFACE + frame(SETTINGS, 0, 0, settings) +
                        frame(WINDOW_UPDATE, 0, 0, struct.pack(">L", MAX_WINDOW - 65535)))

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._view

    def connection_lost(self, exc: BaseException | None) -> None:
        self._fail(exc or BenchError("connection closed"))

    def buffer_updated(self, n: int) -> None:
        try:
            self._consume(n)
        except BaseException as exc:  # noqa: BLE001 - ends the run with the reason
            self._fail(exc)
            self.transport.abort()
            return
        if self.out:
            self.transport.write(b"".join(self.out))
            self.out.clear()

    def _fail(self, exc: BaseException) -> None:
        if not self.done.done():
            self.done.set_exception(exc)

    # -- requests --------------------------------------------------------------------------
    def start(self, inflight: int) -> None:
        """Open up to ``inflight`` streams now; each completion opens the next."""
        for _ in range(min(inflight, self.left)):
            self._open()
        self.transport.write(b"".join(self.out))
        self.out.clear()

    def _open(self) -> None:
        sid = self.next_sid
        self.next_sid += 2
        self.left -= 1
        self.streams[sid] = Stream()
        self.out.append(frame(HEADERS, END_STREAM | END_HEADERS, sid, self.block))

    def _stream_done(self, sid: int) -> None:
        st = self.streams.pop(sid)
        check(f"GET {self.path} (stream {sid})", st.status, st.size, self.want_size)
        self.stats.requests += 1
        self.stats.bytes += st.size
        if self.left > 0:
            if time.monotonic() < self.timer.deadline:
                self._open()
                return
            self.stats.partial = True
            self.left = 0
        if not self.streams and not self.done.done():
            self.done.set_result(None)

    # -- frames ----------------------------------------------------------------------------
    def _consume(self, n: int) -> None:
        buf, pos = self._buf, 0
        for _ in range(n + 1):       # bounded: each pass consumes bytes or returns
            if pos >= n:
                return
            if not self._in_frame:
                if self._hdr or n - pos < 9:
                    take = min(9 - len(self._hdr), n - pos)
                    self._hdr += bytes(buf[pos:pos + take])
                    pos += take
                    if len(self._hdr) < 9:
                        return
                    hi, lo, ftype, flags, sid = _HDR.unpack(self._hdr)
                    self._hdr = b""
                else:
                    hi, lo, ftype, flags, sid = _HDR.unpack_from(buf, pos)
                    pos += 9
                self._ftype, self._flags, self._sid = ftype, flags, sid & MAX_WINDOW
                self._need = (hi << 16) | lo
                self._in_frame = True
                self._pad = -1 if (ftype == DATA and flags & PADDED) else 0
                if ftype == DATA:
                    self._data_start(self._need)
                if self._need == 0:
                    self._frame_end()
                continue
            take = min(self._need, n - pos)
            if self._ftype == DATA and self._pad == 0:
                self._data_bytes(take)       # counted in place: the fast path
            else:
                self._payload += buf[pos:pos + take]
            self._need -= take
            pos += take
            if self._need == 0:
                self._frame_end()
        raise BenchError("frame loop made no progress")  # pragma: no cover

    def _data_start(self, length: int) -> None:
        self.conn_unacked += length
        st = self.streams.get(self._sid)
        if st is None:
            raise BenchError(f"DATA on unknown stream {self._sid}")
        st.unacked += length
        if st.unacked >= UPDATE_AT:
            self.out.append(frame(WINDOW_UPDATE, 0, self._sid, struct.pack(">L", st.unacked)))
            st.unacked = 0
        if self.conn_unacked >= UPDATE_AT:
            self.out.append(frame(WINDOW_UPDATE, 0, 0, struct.pack(">L", self.conn_unacked)))
            self.conn_unacked = 0

    def _data_bytes(self, n: int) -> None:
        self.streams[self._sid].size += n

    def _frame_end(self) -> None:
        self._in_frame = False
        ftype, flags, sid = self._ftype, self._flags, self._sid
        payload = bytes(self._payload)
        self._payload.clear()
        if ftype == DATA:
            if self._pad:                    # padded: count what is between the padding
                padlen = payload[0]
                self.streams[sid].size += len(payload) - 1 - padlen
            if flags & END_STREAM:
                self._stream_done(sid)
        elif ftype in (HEADERS, CONTINUATION):
            st = self.streams.get(sid)
            if st is None:
                raise BenchError(f"HEADERS on unknown stream {sid}")
            if ftype == HEADERS:
                if flags & PADDED:
                    payload = payload[1:len(payload) - payload[0]]
                if flags & PRIORITY:
                    payload = payload[5:]
                st.block = payload
                self._hflags = flags
            else:
                st.block += payload
            if flags & END_HEADERS:
                for name, value in self.decoder.decode(st.block):
                    if name == b":status":
                        st.status = int(value)
                st.block = b""
                if self._hflags & END_STREAM:
                    self._stream_done(sid)
        elif ftype == SETTINGS:
            if not flags & ACK:
                self.out.append(frame(SETTINGS, ACK, 0))
        elif ftype == PING:
            if not flags & ACK:
                self.out.append(frame(PING, ACK, 0, payload))
        elif ftype == RST_STREAM:
            raise BenchError(f"RST_STREAM {struct.unpack('>L', payload)[0]} on stream {sid}")
        elif ftype == GOAWAY:
            last, code = struct.unpack_from(">LL", payload)
            raise BenchError(f"GOAWAY code {code} last stream {last}: {payload[8:80]!r}")


async def run_async(job: Job, timer: Timer, stats: Stats) -> None:
    """GETs over one HTTP/2 TLS connection: ``inflight`` at once, ``count`` in all."""
    if job.op != "get":
        raise BenchError(f"raw HTTP/2 client does only GETs, not {job.op}")
    loop = asyncio.get_running_loop()
    ssl = job.ssl_context(["h2"])
    transport, proto = await loop.create_connection(
        lambda: RawH2(job, timer, stats), job.host, job.port, ssl=ssl,
        server_hostname=job.server_name)
    try:
        alpn = transport.get_extra_info("ssl_object").selected_alpn_protocol()
        if alpn != "h2":
            raise BenchError(f"server chose ALPN {alpn!r}, not h2")
        wait_s = max(30.0, 2 * job.deadline_s)
        warm = Stats()
        proto.stats = warm
        proto.set_request(job.warm_path, job.warm_size, 1)
        proto.start(1)
        await asyncio.wait_for(proto.done, wait_s)
        proto.stats = stats
        proto.set_request(job.path, job.size, job.count)
        timer.start(job.deadline_s)
        proto.start(job.inflight)
        await asyncio.wait_for(proto.done, wait_s)
        timer.stop()
        transport.write(frame(GOAWAY, 0, 0, struct.pack(">LL", 0, 0)))
    finally:
        transport.close()
