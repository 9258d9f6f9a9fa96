"""Asyncio awscrt-API client (``<package>.aio.http``): awscrt-aio, crt_http-aio (+uvloop).

Concurrency comes from worker tasks: one per connection on HTTP/1.1, ``inflight`` on the
single HTTP/2 connection. Bodies are read with ``get_next_response_chunk()`` until ``b""``;
upload bodies go through ``HttpRequest.body_stream`` (awscrt's aio API streams
``request_body_generator`` on HTTP/2 only), or with ``--body-generator`` (crt_http only)
through ``request_body_generator``, fed the async generator the aiohttp client gets.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from . import common
from .common import BenchError, Job, PatternReader, Stats, Timer, agen_pieces, check, check_count
from .crt_api import PACKAGES, CrtApi


class AioClient:
    """One job on the asyncio API."""

    def __init__(self, api: CrtApi, job: Job, body_generator: bool = False) -> None:
        self.api, self.job, self.body_generator = api, job, body_generator
        self.wait_s = max(30.0, 2 * job.deadline_s)

    async def connect(self, port: int, tls: bool, h2: bool) -> Any:
        aio = self.api.aio
        assert aio is not None
        cls = aio.AIOHttp2ClientConnection if h2 else aio.AIOHttpClientConnection
        return await asyncio.wait_for(cls.new(
            host_name=self.job.host, port=port,
            tls_connection_options=self.api.tls_options(h2) if tls else None), self.wait_s)

    async def exchange(self, conn: Any, method: str, path: str, port: int, want: int,
                       length: int | None = None, keep_body: bool = False) -> tuple[int, int, bytes]:
        """One request; reads at most ``want`` body bytes (+1 to notice a longer body)."""
        if length is not None and self.body_generator:
            stream = conn.request(self.api.request(method, path, port, length),
                                  request_body_generator=agen_pieces(length, self.job.piece))
        else:
            body = PatternReader(length, self.job.piece) if length is not None else None
            stream = conn.request(self.api.request(method, path, port, length, body))
        status = await stream.get_response_status_code()
        size = 0
        kept = bytearray()
        for _ in range(want + 2):             # every chunk holds at least one byte
            chunk = await stream.get_next_response_chunk()
            if not chunk or size > want:
                break
            size += len(chunk)
            if keep_body:
                kept += chunk
        await stream.wait_for_completion()
        return status, size, bytes(kept)

    async def get_one(self, conn: Any, path: str, size: int) -> int:
        status, got, _ = await self.exchange(conn, "GET", path, self.job.port, size)
        check(f"GET {path}", status, got, size)
        return got

    async def put_one(self, conn: Any, size: int) -> int:
        status, _, body = await self.exchange(
            conn, "PUT", self.job.upload_path, self.job.sink_port, 64, size, True)
        check_count(f"PUT {size}", status, body, size)
        return size

    # -- jobs ------------------------------------------------------------------------------
    async def run(self, timer: Timer, stats: Stats) -> None:
        job = self.job
        if job.op == "cold":
            async def once() -> int:
                conn = await self.connect(job.port, job.tls, job.h2)
                n = await self.get_one(conn, job.path, job.size)
                await conn.close()
                return n
            await once()
            await common.repeat(job, timer, stats, once)
        elif job.op == "put":
            conn = await self.connect(job.sink_port, False, False)
            await self.put_one(conn, 1)
            await common.repeat(job, timer, stats, lambda: self.put_one(conn, job.size))
            await conn.close()
        elif job.op == "mem":
            down = await self.connect(job.port, job.tls, job.h2)
            up = await self.connect(job.sink_port, False, False)
            timer.start(job.deadline_s)
            stats.bytes += await self.get_one(down, job.path, job.size)
            stats.bytes += await self.put_one(up, job.size)
            stats.requests = 2
            timer.stop()
            await down.close()
            await up.close()
        else:
            await self.gets(timer, stats)

    async def gets(self, timer: Timer, stats: Stats) -> None:
        """``count`` GETs by ``inflight`` workers over ``connections`` conns (HTTP/2: one)."""
        job = self.job
        conns = await asyncio.gather(*(self.connect(job.port, job.tls, job.h2)
                                       for _ in range(1 if job.h2 else job.connections)))
        await asyncio.gather(*(self.get_one(c, job.warm_path, job.warm_size) for c in conns))
        left = [job.count]

        async def worker(conn: Any) -> None:
            while left[0] > 0:
                if timer.expired():
                    stats.partial = True
                    return
                left[0] -= 1
                got = await self.get_one(conn, job.path, job.size)
                stats.bytes += got  # not `+= await`: that would race between workers
                stats.requests += 1

        nworkers = job.inflight if job.h2 else len(conns)
        timer.start(job.deadline_s)
        await asyncio.wait_for(
            asyncio.gather(*(worker(conns[i % len(conns)]) for i in range(nworkers))),
            self.wait_s)
        timer.stop()
        for c in conns:
            await c.close()


def run(job: Job, timer: Timer, stats: Stats, args: argparse.Namespace) -> None:
    if job.h2 and job.op in ("put", "cold"):
        raise BenchError(f"op {job.op} over HTTP/2 is not a scenario")
    if args.body_generator and args.package != "crt_http":
        raise BenchError("awscrt's aio API streams request_body_generator on HTTP/2 only")
    api = CrtApi(args.package, job, with_aio=True)
    coro = AioClient(api, job, args.body_generator).run(timer, stats)
    if args.uvloop:
        import uvloop
        uvloop.run(coro)
    else:
        asyncio.run(coro)


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--package", choices=PACKAGES, default="awscrt")
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop")
    parser.add_argument("--body-generator", action="store_true",
                        help="uploads from request_body_generator (the async generator of 1 MiB "
                             "pieces aiohttp gets) instead of body_stream (crt_http only)")


if __name__ == "__main__":
    common.exit_now(common.main(run, __doc__ or "", add_args))
