"""Raw ceiling: the least work an asyncio client can do, to put the libraries in context.

HTTP/1.1 (plain and TLS through ``loop.create_connection(ssl=...)``): a ``BufferedProtocol``
sends prebuilt request bytes, finds the end of the response head with ``bytes.find``, reads
the status and Content-Length, and counts body bytes in a reused buffer without copying.
Sequential and multi-connection GETs are chained in the protocol: the next request is
written from ``buffer_updated`` when a response completes, with no future per request.
HTTP/2 jobs go to ``raw_h2``. Runs on uvloop when it is installed (``--no-uvloop``: not).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any, Callable

from . import common
from .common import BenchError, Job, Stats, Timer, block, check, check_count, pieces

RECV_BUFFER = 256 * 1024
MAX_HEAD = 64 * 1024

Done = Callable[[int, int, bytes], None]


class RawH1(asyncio.BufferedProtocol):
    """One HTTP/1.1 connection; ``on_done(status, body_size, body)`` per response."""

    def __init__(self, on_done: Done | None = None, keep_body: bool = False) -> None:
        self._buf = bytearray(RECV_BUFFER)
        self._view = memoryview(self._buf)
        self._partial = b""
        self._left = -1                # body bytes still due; -1: reading a head
        self._status = 0
        self._size = 0
        self._body = bytearray()
        self.keep_body = keep_body
        self.on_done = on_done or self._resolve
        self.transport: Any = None
        self.waiter: asyncio.Future[tuple[int, int, bytes]] | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._drain: asyncio.Future[None] | None = None
        self.error: BaseException | None = None

    # -- asyncio callbacks -----------------------------------------------------------------
    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        transport.set_write_buffer_limits(high=2 * 1024 * 1024)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._view

    def buffer_updated(self, n: int) -> None:
        try:
            self._consume(n)
        except BaseException as exc:  # noqa: BLE001 - fail the connection, report it
            self._fail(exc)

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._left != -1 or self.waiter is not None:
            self._fail(exc or BenchError("connection closed mid-response"))
        if not self.closed.done():
            self.closed.set_result(None)
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    def pause_writing(self) -> None:
        self._drain = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)
        self._drain = None

    # -- parsing ---------------------------------------------------------------------------
    def _consume(self, n: int) -> None:
        buf = self._buf
        pos = 0
        for _ in range(n + 1):        # bounded: each pass ends a head or a body, or returns
            if self._left == -1:
                if self._partial:
                    old = len(self._partial)
                    data = self._partial + bytes(buf[pos:n])
                    end = data.find(b"\r\n\r\n")
                    if end < 0:
                        if len(data) > MAX_HEAD:
                            raise BenchError("response head too large")
                        self._partial = data
                        return
                    self._partial = b""
                    self._head(data[:end])
                    pos += end + 4 - old
                else:
                    end = buf.find(b"\r\n\r\n", pos, n)
                    if end < 0:
                        self._partial = bytes(buf[pos:n])
                        return
                    self._head(bytes(buf[pos:end]))
                    pos = end + 4
                if self._left == 0:
                    self._complete()
                    continue
            take = min(self._left, n - pos)
            if take <= 0:
                return
            if self.keep_body:
                self._body += buf[pos:pos + take]
            self._left -= take
            self._size += take
            pos += take
            if self._left == 0:
                self._complete()
            if pos >= n:
                return
        raise BenchError("parser made no progress")  # pragma: no cover

    def _head(self, head: bytes) -> None:
        if not head.startswith(b"HTTP/1.1 "):
            raise BenchError(f"bad status line {head[:40]!r}")
        self._status = int(head[9:12])
        low = head.lower()
        i = low.find(b"\r\ncontent-length:")
        if i < 0:
            raise BenchError("response without Content-Length")
        j = low.find(b"\r\n", i + 17)
        self._left = int(low[i + 17:j if j >= 0 else len(low)])
        self._size = 0

    def _complete(self) -> None:
        self._left = -1
        body = bytes(self._body) if self.keep_body else b""
        self._body.clear()
        self.on_done(self._status, self._size, body)

    def _resolve(self, status: int, size: int, body: bytes) -> None:
        w, self.waiter = self.waiter, None
        if w is not None and not w.done():
            w.set_result((status, size, body))

    def _fail(self, exc: BaseException) -> None:
        self.error = self.error or exc
        w, self.waiter = self.waiter, None
        if w is not None and not w.done():
            w.set_exception(exc)
        if self.transport is not None:
            self.transport.abort()

    # -- requests --------------------------------------------------------------------------
    async def roundtrip(self, head: bytes, body_size: int = 0,
                        piece: int = 1 << 20) -> tuple[int, int, bytes]:
        """Send head (+ a body of ``body_size`` pattern bytes), await the whole response."""
        self.waiter = waiter = asyncio.get_running_loop().create_future()
        self.transport.write(head)
        if body_size:
            data = memoryview(block(piece))
            for n in pieces(body_size, piece):
                self.transport.write(data[:n])
                if self._drain is not None:
                    await self._drain
                if self.error is not None:
                    break
        return await waiter


class Chain:
    """``count`` GETs spread over connections; each response triggers the next request."""

    def __init__(self, job: Job, request: bytes, timer: Timer, stats: Stats) -> None:
        self.job, self.request, self.timer, self.stats = job, request, timer, stats
        self.left = job.count
        self.active = 0
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def attach(self, proto: RawH1) -> None:
        proto.on_done = lambda status, size, body: self._next(proto, status, size)
        self.active += 1
        self._issue(proto)

    def _issue(self, proto: RawH1) -> None:
        if self.left > 0 and time.monotonic() < self.timer.deadline:
            self.left -= 1
            proto.transport.write(self.request)
            return
        if self.left > 0:
            self.stats.partial = True
        self.active -= 1
        if self.active == 0 and not self.done.done():
            self.done.set_result(None)

    def _next(self, proto: RawH1, status: int, size: int) -> None:
        try:
            check(f"GET {self.job.path}", status, size, self.job.size)
        except BenchError as exc:
            if not self.done.done():
                self.done.set_exception(exc)
            return
        self.stats.requests += 1
        self.stats.bytes += size
        self._issue(proto)


def get_head(job: Job, path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {job.authority}\r\n\r\n".encode()


_SSL: dict[str, Any] = {}


async def connect(job: Job, port: int, tls: bool, keep_body: bool = False) -> RawH1:
    loop = asyncio.get_running_loop()
    ssl = None
    if tls:  # one context per process, as every library client keeps one
        ssl = _SSL.get(job.ca_file) or _SSL.setdefault(job.ca_file, job.ssl_context(["http/1.1"]))
    _, proto = await loop.create_connection(
        lambda: RawH1(keep_body=keep_body), job.host, port, ssl=ssl,
        server_hostname=job.server_name if tls else None)
    return proto


async def get_one(proto: RawH1, job: Job, path: str, size: int) -> int:
    status, got, _ = await proto.roundtrip(get_head(job, path))
    check(f"GET {path}", status, got, size)
    return got


async def put_one(proto: RawH1, job: Job, size: int) -> int:
    head = (f"PUT {job.upload_path} HTTP/1.1\r\nHost: {job.server_name}:{job.sink_port}\r\n"
            f"Content-Length: {size}\r\n\r\n").encode()
    status, _, body = await proto.roundtrip(head, size, job.piece)
    check_count(f"PUT {size}", status, body, size)
    return size


async def close(proto: RawH1) -> None:
    proto.transport.close()
    await asyncio.wait_for(proto.closed, 10)


async def run_async(job: Job, timer: Timer, stats: Stats) -> None:
    wait_s = max(30.0, 2 * job.deadline_s)
    if job.op == "cold":
        async def once() -> int:
            proto = await connect(job, job.port, job.tls)
            n = await get_one(proto, job, job.path, job.size)
            await close(proto)
            return n
        await once()
        await common.repeat(job, timer, stats, once)
    elif job.op == "put":
        proto = await connect(job, job.sink_port, False, keep_body=True)
        await put_one(proto, job, 1)
        await common.repeat(job, timer, stats, lambda: put_one(proto, job, job.size))
        await close(proto)
    elif job.op == "mem":
        down = await connect(job, job.port, job.tls)
        up = await connect(job, job.sink_port, False, keep_body=True)
        timer.start(job.deadline_s)
        stats.bytes += await get_one(down, job, job.path, job.size)
        stats.bytes += await put_one(up, job, job.size)
        stats.requests = 2
        timer.stop()
        await close(down)
        await close(up)
    else:
        protos = await asyncio.gather(*(connect(job, job.port, job.tls)
                                        for _ in range(job.connections)))
        await asyncio.gather(*(get_one(p, job, job.warm_path, job.warm_size) for p in protos))
        chain = Chain(job, get_head(job, job.path), timer, stats)
        timer.start(job.deadline_s)
        for p in protos:
            chain.attach(p)
        await asyncio.wait_for(chain.done, wait_s)
        timer.stop()
        for p in protos:
            await close(p)


def run(job: Job, timer: Timer, stats: Stats, args: argparse.Namespace) -> None:
    if job.h2:
        from . import raw_h2
        coro = raw_h2.run_async(job, timer, stats)
    else:
        coro = run_async(job, timer, stats)
    if args.no_uvloop:
        asyncio.run(coro)
        return
    try:
        import uvloop
    except ImportError:
        asyncio.run(coro)
    else:
        uvloop.run(coro)


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-uvloop", action="store_true", help="use the stock asyncio loop")


if __name__ == "__main__":
    common.exit_now(common.main(run, __doc__ or "", add_args))
