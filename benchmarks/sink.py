"""Upload sink: an HTTP/1.1 server that counts every request body byte, then answers the count.

Run as ``python -m benchmarks.sink [--port 0]``; it prints ``PORT <n>`` once listening and
serves until SIGTERM/SIGINT. Bodies (Content-Length or chunked) are counted in place in a
reused receive buffer (``asyncio.BufferedProtocol``): nothing is copied but the request head
and chunk-size lines, so it keeps up with multi-GB/s clients. The response body is the decimal
byte count (``Content-Type: text/plain``), sent only after the last body byte arrived.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

RECV_BUFFER = 1 << 20          # bytes handed to the kernel per read
MAX_HEAD = 64 * 1024           # a larger request head is answered 431 and closed
MAX_LINE = 1024                # a longer chunk-size line is a protocol error

_HEAD, _BODY, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_CRLF, _TRAILER = range(6)


class SinkProtocol(asyncio.BufferedProtocol):
    """One connection: parse heads, count bodies, answer with the count; keep-alive."""

    def __init__(self) -> None:
        self._buf = bytearray(RECV_BUFFER)
        self._view = memoryview(self._buf)
        self._transport: asyncio.Transport | None = None
        self._state = _HEAD
        self._pending = bytearray()     # partial head / chunk-size line / trailer line
        self._left = 0                  # body or chunk bytes still expected
        self._count = 0                 # body bytes counted for the current request
        self._close_after = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._view

    def buffer_updated(self, nbytes: int) -> None:
        try:
            self._consume(nbytes)
        except ValueError as exc:
            self._reply(400, f"bad request: {exc}\n".encode(), close=True)

    def eof_received(self) -> bool:
        return False

    # -- parsing -------------------------------------------------------------------------
    def _consume(self, n: int) -> None:
        buf = self._buf
        pos = 0
        for _ in range(n + 2):          # bounded: every pass consumes >= 1 byte or ends
            if pos >= n:
                return
            state = self._state
            if state == _BODY or state == _CHUNK_DATA:
                take = min(self._left, n - pos)
                self._left -= take
                self._count += take
                pos += take
                if self._left == 0:
                    if state == _BODY:
                        self._finish()
                    else:
                        self._state = _CHUNK_CRLF
                        self._pending.clear()
            elif state == _HEAD:
                pos = self._head(pos, n)
            else:  # a CRLF-terminated line: chunk size, chunk CRLF, trailer
                end = buf.find(b"\n", pos, n)
                if end < 0:
                    self._pending += buf[pos:n]
                    if len(self._pending) > MAX_LINE:
                        raise ValueError("line too long")
                    return
                self._pending += buf[pos:end]
                pos = end + 1
                line = bytes(self._pending).rstrip(b"\r")
                self._pending.clear()
                self._line(line)
        raise RuntimeError("parser made no progress")  # pragma: no cover

    def _head(self, pos: int, n: int) -> int:
        buf = self._buf
        if not self._pending:
            end = buf.find(b"\r\n\r\n", pos, n)
            if end >= 0:
                self._start(bytes(buf[pos:end]))
                return end + 4
        old = len(self._pending)
        self._pending += buf[pos:n]
        end = self._pending.find(b"\r\n\r\n")
        if end < 0:
            if len(self._pending) > MAX_HEAD:
                self._reply(431, b"head too large\n", close=True)
                self._pending.clear()
            return n
        head = bytes(self._pending[:end])
        self._pending.clear()
        self._start(head)
        return pos + (end + 4 - old)

    def _start(self, head: bytes) -> None:
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ")
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
            raise ValueError("bad request line")
        length = None
        chunked = False
        self._close_after = parts[2] == b"HTTP/1.0"
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep:
                raise ValueError("bad header line")
            name = name.strip().lower()
            value = value.strip().lower()
            if name == b"content-length":
                length = int(value)
                if length < 0:
                    raise ValueError("negative content-length")
            elif name == b"transfer-encoding":
                chunked = value.endswith(b"chunked")
            elif name == b"connection":
                self._close_after = value == b"close"
            elif name == b"expect" and value == b"100-continue" and self._transport:
                self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self._count = 0
        if chunked:
            self._state = _CHUNK_SIZE
        elif length:
            self._state = _BODY
            self._left = length
        else:
            self._finish()

    def _line(self, line: bytes) -> None:
        if self._state == _CHUNK_CRLF:
            if line:
                raise ValueError("missing CRLF after chunk")
            self._state = _CHUNK_SIZE
        elif self._state == _CHUNK_SIZE:
            size = int(line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                self._state = _TRAILER
            else:
                self._left = size
                self._state = _CHUNK_DATA
        elif not line:  # _TRAILER: the empty line ends the message
            self._finish()

    def _finish(self) -> None:
        self._state = _HEAD
        self._reply(200, b"%d" % self._count, close=self._close_after)

    def _reply(self, status: int, body: bytes, close: bool) -> None:
        t = self._transport
        if t is None or t.is_closing():
            return
        reason = {200: b"OK", 400: b"Bad Request", 431: b"Request Header Fields Too Large"}[status]
        head = b"HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n%s\r\n" % (
            status, reason, len(body), b"Connection: close\r\n" if close else b"")
        t.write(head + body)
        if close:
            t.close()


async def serve(port: int) -> None:
    """Listen on 127.0.0.1:port (0: any free port), print ``PORT n``, serve until signalled."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(SinkProtocol, "127.0.0.1", port, backlog=1024)
    stop = loop.create_future()

    def on_signal() -> None:
        if not stop.done():
            stop.set_result(None)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    print("PORT", server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await stop


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--no-uvloop", action="store_true", help="use the stock asyncio loop")
    args = parser.parse_args(argv)
    runner = asyncio.run
    if not args.no_uvloop:
        try:
            import uvloop
            runner = uvloop.run
        except ImportError:
            pass
    runner(serve(args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
