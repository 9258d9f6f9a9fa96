"""A scripted HTTP/2 server side for conformance, fault and fuzz tests (runs in a RawServer).

``H2Peer(reader, writer)`` speaks just enough HTTP/2 to get a client's request in, then lets
the script write any frame, valid or not:

- ``await peer.handshake(settings=..., send_settings=True)``: read the client preface and
  its SETTINGS, send ours (hyperframe ``SettingsFrame``; ``send_settings=False`` lets the
  script send its own first frame) and ACK the client's.
- ``await peer.request()``: read frames until the client's first HEADERS; return its stream id.
- ``peer.send(*frames_or_bytes)``: write hyperframe frames or raw bytes.
- ``peer.head(sid, status=200, headers=(), end_stream=False)``: a HEADERS frame, HPACK by
  ``hpack``; ``peer.data(sid, data, end_stream)``.
- ``await peer.finish(timeout)``: read until the client closes (bounded); then
  ``peer.frames`` holds every frame the client sent after its preface.

``raw_frame(type, flags, stream_id, payload)`` builds a frame byte by byte (any length, any
type, reserved bit included) for the cases hyperframe refuses to serialise.
``client_frames(data)`` parses recorded client bytes (preface skipped) into frames;
``goaway_codes(frames)`` / ``rst_codes(frames)`` pick out what the client said.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import hpack
from hyperframe.frame import (
    DataFrame, Frame, GoAwayFrame, HeadersFrame, RstStreamFrame, SettingsFrame,
)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
FrameLike = Union[Frame, bytes]

# Error codes (RFC 9113 7).
NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR = 0, 1, 2, 3
STREAM_CLOSED, FRAME_SIZE_ERROR, REFUSED_STREAM, CANCEL, COMPRESSION_ERROR = 5, 6, 7, 8, 9


def raw_frame(ftype: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    """One frame, byte for byte: 24-bit length, type, flags, 32-bit stream id, payload."""
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", stream_id) + payload


def parse_frames(data: bytes) -> List[Frame]:
    """Every complete frame in ``data`` (unknown types as ExtensionFrame; junk stops it)."""
    frames = []
    view = memoryview(data)
    offset = 0
    while len(view) - offset >= 9:
        try:
            frame, length = Frame.parse_frame_header(view[offset:offset + 9])
        except Exception:
            break
        if len(view) - offset - 9 < length:
            break
        with contextlib.suppress(Exception):
            frame.parse_body(view[offset + 9:offset + 9 + length])
            frames.append(frame)
        offset += 9 + length
    return frames


def client_frames(data: bytes) -> List[Frame]:
    """The frames of a recorded client connection (the preface is skipped)."""
    return parse_frames(data[len(PREFACE):] if data.startswith(PREFACE) else data)


def goaway_codes(frames: Iterable[Frame]) -> List[int]:
    return [f.error_code for f in frames if isinstance(f, GoAwayFrame)]


def rst_codes(frames: Iterable[Frame]) -> List[Tuple[int, int]]:
    return [(f.stream_id, f.error_code) for f in frames if isinstance(f, RstStreamFrame)]


class H2Peer:
    """Server side of one HTTP/2 connection, driven by a test script (see module docstring)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.encoder = hpack.Encoder()
        self.frames: List[Frame] = []

    async def read_frame(self) -> Optional[Frame]:
        """The next frame from the client, or None at EOF."""
        try:
            header = await self.reader.readexactly(9)
            frame, length = Frame.parse_frame_header(memoryview(header))
            body = await self.reader.readexactly(length)
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        frame.parse_body(memoryview(body))
        self.frames.append(frame)
        return frame

    async def handshake(self, settings: Optional[Dict[int, int]] = None,
                        send_settings: bool = True, ack: bool = True) -> Dict[int, int]:
        """Read the preface and the client's SETTINGS; answer with ours and (``ack``) an ACK."""
        preface = await self.reader.readexactly(len(PREFACE))
        assert preface == PREFACE, preface
        client: Dict[int, int] = {}
        while True:
            frame = await self.read_frame()
            assert frame is not None, "client closed during the preface"
            if isinstance(frame, SettingsFrame) and "ACK" not in frame.flags:
                client = dict(frame.settings)
                break
        if send_settings:
            self.send(SettingsFrame(0, settings=settings or {}))
        if ack:
            self.send(SettingsFrame(0, flags=["ACK"]))
        return client

    async def request(self) -> int:
        """Read until the client's first HEADERS frame; return its stream id."""
        while True:
            frame = await self.read_frame()
            assert frame is not None, "client closed before sending a request"
            if isinstance(frame, HeadersFrame):
                return frame.stream_id

    def send(self, *frames: FrameLike) -> None:
        for frame in frames:
            self.writer.write(frame if isinstance(frame, (bytes, bytearray)) else frame.serialize())

    def block(self, status: int = 200, headers: Sequence[Tuple[str, str]] = (),
              huffman: bool = True) -> bytes:
        """An HPACK header block for a response head."""
        return self.encoder.encode([(":status", str(status)), *headers], huffman=huffman)

    def head(self, sid: int, status: int = 200, headers: Sequence[Tuple[str, str]] = (),
             end_stream: bool = False) -> HeadersFrame:
        flags = ["END_HEADERS"] + (["END_STREAM"] if end_stream else [])
        return HeadersFrame(sid, self.block(status, headers), flags=flags)

    @staticmethod
    def data(sid: int, data: bytes, end_stream: bool = False) -> DataFrame:
        return DataFrame(sid, data, flags=["END_STREAM"] if end_stream else [])

    async def finish(self, timeout: float = 3.0) -> List[Frame]:
        """Read frames until the client closes (at most ``timeout`` s); return them all."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._read_to_eof(), timeout)
        return self.frames

    async def _read_to_eof(self) -> None:
        while await self.read_frame() is not None:
            pass


def script_server(raw_server: Any, script: Any, **kwargs: Any) -> Any:
    """A RawServer whose connections run ``await script(peer)`` then wait for the client to close."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = H2Peer(reader, writer)
        await script(peer)
        await writer.drain()
        await peer.finish()

    return raw_server(handler, **kwargs)
