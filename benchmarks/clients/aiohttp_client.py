"""aiohttp client (asyncio, or uvloop with --uvloop). HTTP/1.1 only: no HTTP/2 scenarios.

One ``ClientSession`` per job; its ``TCPConnector`` holds one keep-alive connection per
worker (``force_close`` for cold requests). Small bodies use ``read()``, big ones
``content.iter_any()``; uploads stream an async generator with Content-Length set.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from . import common
from .common import BenchError, Job, Stats, Timer, agen_pieces, check, check_count


class AiohttpClient:
    """One job on aiohttp."""

    def __init__(self, job: Job) -> None:
        import aiohttp
        self.aiohttp = aiohttp
        self.job = job
        self.timeout = aiohttp.ClientTimeout(total=max(30.0, 2 * job.deadline_s))
        self.ssl = job.ssl_context() if job.tls else False

    def session(self, limit: int, force_close: bool = False) -> Any:
        connector = self.aiohttp.TCPConnector(limit=limit, ssl=self.ssl, force_close=force_close)
        return self.aiohttp.ClientSession(connector=connector, timeout=self.timeout,
                                          auto_decompress=False)

    async def get_one(self, session: Any, url: str, size: int) -> int:
        async with session.get(url) as resp:
            if size <= 65536:
                got = len(await resp.read())
            else:
                got = 0
                async for chunk in resp.content.iter_any():
                    got += len(chunk)
                    if got > size:             # bounds the loop: the body is too long
                        break
            check(f"GET {url}", resp.status, got, size)
            return got

    async def put_one(self, session: Any, size: int) -> int:
        job = self.job
        url = job.url(job.upload_path, port=job.sink_port, tls=False)
        async with session.put(url, data=agen_pieces(size, job.piece),
                               headers={"Content-Length": str(size)}) as resp:
            check_count(f"PUT {size}", resp.status, await resp.read(), size)
        return size

    async def run(self, timer: Timer, stats: Stats) -> None:
        job = self.job
        if job.op == "cold":
            async with self.session(1, force_close=True) as s:
                await self.get_one(s, job.url(), job.size)
                await common.repeat(job, timer, stats, lambda: self.get_one(s, job.url(), job.size))
        elif job.op == "put":
            async with self.session(1) as s:
                await self.put_one(s, 1)
                await common.repeat(job, timer, stats, lambda: self.put_one(s, job.size))
        elif job.op == "mem":
            async with self.session(2) as s:
                await self.get_one(s, job.url(job.warm_path), job.warm_size)
                await self.put_one(s, 1)
                timer.start(job.deadline_s)
                stats.bytes += await self.get_one(s, job.url(), job.size)
                stats.bytes += await self.put_one(s, job.size)
                stats.requests = 2
                timer.stop()
        else:
            await self.gets(timer, stats)

    async def gets(self, timer: Timer, stats: Stats) -> None:
        job = self.job
        n = job.connections
        async with self.session(n) as s:
            warm = job.url(job.warm_path)
            await asyncio.gather(*(self.get_one(s, warm, job.warm_size) for _ in range(n)))
            url = job.url()
            left = [job.count]

            async def worker() -> None:
                while left[0] > 0:
                    if timer.expired():
                        stats.partial = True
                        return
                    left[0] -= 1
                    got = await self.get_one(s, url, job.size)
                    stats.bytes += got
                    stats.requests += 1

            timer.start(job.deadline_s)
            await asyncio.gather(*(worker() for _ in range(n)))
            timer.stop()


def run(job: Job, timer: Timer, stats: Stats, args: argparse.Namespace) -> None:
    if job.h2:
        raise BenchError("aiohttp has no HTTP/2 client")
    coro = AiohttpClient(job).run(timer, stats)
    if args.uvloop:
        import uvloop
        uvloop.run(coro)
    else:
        asyncio.run(coro)


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop")


if __name__ == "__main__":
    common.exit_now(common.main(run, __doc__ or "", add_args))
