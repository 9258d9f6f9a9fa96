"""httpx client: ``httpx.AsyncClient`` (HTTP/2 through the h2 extra for the HTTP/2 scenarios).

One client per job with a pool sized to the job: one connection (HTTP/2: one multiplexed
connection), 64 for S7, no keep-alive for cold requests. Bodies are read with
``aread()`` (small) or ``aiter_raw()`` (big); uploads stream an async generator with
Content-Length set.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from . import common
from .common import Job, Stats, Timer, agen_pieces, check, check_count


class HttpxClient:
    """One job on httpx."""

    def __init__(self, job: Job) -> None:
        import httpx
        self.httpx = httpx
        self.job = job

    def client(self, connections: int, keepalive: bool = True) -> Any:
        httpx = self.httpx
        limits = httpx.Limits(max_connections=connections,
                              max_keepalive_connections=connections if keepalive else 0)
        return httpx.AsyncClient(
            http2=self.job.h2, http1=not self.job.h2, limits=limits,
            verify=self.job.ssl_context() if self.job.tls else False,
            timeout=max(30.0, 2 * self.job.deadline_s))

    async def get_one(self, client: Any, url: str, size: int) -> int:
        if size <= 65536:
            resp = await client.get(url)
            got = len(resp.content)
        else:
            got = 0
            async with client.stream("GET", url) as resp:
                async for chunk in resp.aiter_raw():
                    got += len(chunk)
                    if got > size:             # bounds the loop: the body is too long
                        break
        if self.job.h2 and resp.http_version != "HTTP/2":
            raise common.BenchError(f"expected HTTP/2, got {resp.http_version}")
        check(f"GET {url}", resp.status_code, got, size)
        return got

    async def put_one(self, client: Any, size: int) -> int:
        job = self.job
        url = job.url(job.upload_path, port=job.sink_port, tls=False)
        resp = await client.put(url, content=agen_pieces(size, job.piece),
                                headers={"Content-Length": str(size)})
        check_count(f"PUT {size}", resp.status_code, resp.content, size)
        return size

    async def run(self, timer: Timer, stats: Stats) -> None:
        job = self.job
        if job.op == "cold":
            async with self.client(1, keepalive=False) as c:
                await self.get_one(c, job.url(), job.size)
                await common.repeat(job, timer, stats, lambda: self.get_one(c, job.url(), job.size))
        elif job.op == "put":
            async with self.client(1) as c:
                await self.put_one(c, 1)
                await common.repeat(job, timer, stats, lambda: self.put_one(c, job.size))
        elif job.op == "mem":
            async with self.client(2) as c:
                await self.get_one(c, job.url(job.warm_path), job.warm_size)
                await self.put_one(c, 1)
                timer.start(job.deadline_s)
                stats.bytes += await self.get_one(c, job.url(), job.size)
                stats.bytes += await self.put_one(c, job.size)
                stats.requests = 2
                timer.stop()
        else:
            await self.gets(timer, stats)

    async def gets(self, timer: Timer, stats: Stats) -> None:
        job = self.job
        nconn = 1 if job.h2 else job.connections
        nworkers = job.inflight if job.h2 else job.connections
        async with self.client(nconn) as c:
            warm = job.url(job.warm_path)
            await asyncio.gather(*(self.get_one(c, warm, job.warm_size) for _ in range(nconn)))
            url = job.url()
            left = [job.count]

            async def worker() -> None:
                while left[0] > 0:
                    if timer.expired():
                        stats.partial = True
                        return
                    left[0] -= 1
                    got = await self.get_one(c, url, job.size)
                    stats.bytes += got
                    stats.requests += 1

            timer.start(job.deadline_s)
            await asyncio.gather(*(worker() for _ in range(nworkers)))
            timer.stop()


def run(job: Job, timer: Timer, stats: Stats, args: argparse.Namespace) -> None:
    asyncio.run(HttpxClient(job).run(timer, stats))


if __name__ == "__main__":
    common.exit_now(common.main(run, __doc__ or ""))
