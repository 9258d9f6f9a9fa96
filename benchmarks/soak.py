"""Soak test (``make soak``, not part of ``make test``): many requests on long-lived
connections and with connection churn, over HTTP/1.1 and HTTP/2, on both APIs.

Reports open file descriptors, RSS, live asyncio tasks, and live crt_http drivers and stream
cores at the start, middle and end of each phase (after a warm-up, so caches and pools are
counted in the baseline), and fails (exit 1) if any of them grew: descriptors, tasks,
drivers and streams over the whole phase, RSS over its second half beyond a small tolerance
(the first half lets the allocator's arenas and bounded caches reach their plateau: with
many TLS connections open at once that takes a few hundred connections; growth after it is
a leak).

    python -m benchmarks.soak [--requests 100000] [--churn-every 100] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, List

from benchmarks.scenarios import SMALL_PATH, SMALL_SIZE
from benchmarks.servers import Servers
from crt_http.aio.http import AIOHttp2ClientConnection, AIOHttpClientConnection
from crt_http.http import Http2ClientConnection, HttpClientConnection, HttpHeaders, HttpRequest
from crt_http.io import ClientTlsContext, TlsContextOptions

RSS_TOLERANCE = 8 * 1024 * 1024
TIME_LIMIT_S = 900


@dataclass
class Sample:
    """Resource figures at one moment."""

    fds: int
    rss: int
    tasks: int
    drivers: int
    streams: int


def sample() -> Sample:
    """Figures now; waits up to 2 s for connections the loop threads are still closing."""
    from crt_http.aio._driver import ConnectionDriver
    from crt_http.aio._stream import StreamCore

    deadline = time.monotonic() + 2.0
    while True:
        gc.collect()
        drivers = streams = 0
        for obj in gc.get_objects():
            if isinstance(obj, ConnectionDriver):
                drivers += 1
            elif isinstance(obj, StreamCore):
                streams += 1
        if (drivers == 0 and streams == 0) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    try:
        tasks = len(asyncio.all_tasks())
    except RuntimeError:
        tasks = 0
    with open("/proc/self/statm") as f:
        rss = int(f.read().split()[1]) * resource.getpagesize()
    return Sample(len(os.listdir("/proc/self/fd")), rss, tasks, drivers, streams)


def tls_options(ca_file: str) -> Any:
    opts = TlsContextOptions()
    opts.override_default_trust_store_from_path(ca_filepath=ca_file)
    conn = ClientTlsContext(opts).new_connection_options()
    conn.set_server_name("localhost")
    return conn


def request() -> HttpRequest:
    return HttpRequest("GET", SMALL_PATH, HttpHeaders([("Host", "localhost")]))


async def aio_phase(proto: str, port: int, ca_file: str, count: int, churn: int, concurrency: int) -> int:
    """``count`` GETs from ``concurrency`` workers; a new connection every ``churn`` requests
    per worker (0: one connection for the whole phase). Returns the requests done."""
    cls: Any = AIOHttpClientConnection if proto == "h1" else AIOHttp2ClientConnection
    tls = tls_options(ca_file) if proto == "h2" else None
    per_worker = count // concurrency

    async def worker() -> int:
        done = 0
        conn = await cls.new("127.0.0.1", port, tls_connection_options=tls)
        try:
            while done < per_worker:
                if churn and done and done % churn == 0:
                    await conn.close()
                    conn = await cls.new("127.0.0.1", port, tls_connection_options=tls)
                stream = conn.request(request())
                size = 0
                while chunk := await stream.get_next_response_chunk():
                    size += len(chunk)
                if await stream.wait_for_completion() != 200 or size != SMALL_SIZE:
                    raise RuntimeError(f"bad response: {size} bytes")
                done += 1
        finally:
            await conn.close()
        return done

    results = await asyncio.gather(*(worker() for _ in range(concurrency)))
    return sum(results)


def sync_phase(proto: str, port: int, ca_file: str, count: int, churn: int, concurrency: int) -> int:
    """The same with the synchronous API: ``concurrency`` requests in flight at a time."""
    cls: Any = HttpClientConnection if proto == "h1" else Http2ClientConnection
    tls = tls_options(ca_file) if proto == "h2" else None
    conns = [cls.new("127.0.0.1", port, tls_connection_options=tls).result(10) for _ in range(concurrency)]
    done = 0
    try:
        while done < count:
            futures = []
            for i, conn in enumerate(conns):
                if churn and done and (done // concurrency) % churn == 0:
                    conn.close().result(10)
                    conn = conns[i] = cls.new("127.0.0.1", port, tls_connection_options=tls).result(10)
                sizes: List[int] = [0]

                def add_size(chunk: bytes, s: List[int] = sizes, **kw: Any) -> None:
                    s[0] += len(chunk)

                stream = conn.request(request(), on_body=add_size)
                stream.activate()
                futures.append((stream.completion_future, sizes))
            for future, sizes in futures:
                if future.result(30) != 200 or sizes[0] != SMALL_SIZE:
                    raise RuntimeError(f"bad response: {sizes[0]} bytes")
            done += len(futures)
    finally:
        for conn in conns:
            conn.close().result(10)
    return done


def run_phase(name: str, fn: Callable[[int], int], count: int) -> dict:
    """Run ``fn`` for ``count`` requests in two halves (after the caller's warm-up), sampling
    before, between and after; report what grew (RSS: over the second half)."""
    before = sample()
    started = time.monotonic()
    done = fn(count // 2)
    mid = sample()
    done += fn(count - count // 2)
    took = time.monotonic() - started
    after = sample()
    grew = {
        "fds": after.fds - before.fds,
        "rss": after.rss - mid.rss,
        "tasks": after.tasks - before.tasks,
        "drivers": after.drivers - before.drivers,
        "streams": after.streams - before.streams,
    }
    ok = (grew["fds"] <= 0 and grew["rss"] <= RSS_TOLERANCE and grew["tasks"] <= 0
          and after.drivers == 0 and after.streams == 0)
    row = {"phase": name, "requests": done, "seconds": round(took, 1), "req_per_s": round(done / took),
           "before": asdict(before), "mid": asdict(mid), "after": asdict(after), "grew": grew, "ok": ok}
    print(f"{name:<28} {done:>7} req {took:>6.1f} s  fds {before.fds}->{after.fds}  "
          f"rss {before.rss / 2**20:.1f}->{mid.rss / 2**20:.1f}->{after.rss / 2**20:.1f} MiB  "
          f"tasks {before.tasks}->{after.tasks}  "
          f"drivers {after.drivers} streams {after.streams}  {'ok' if ok else 'GREW'}", flush=True)
    return row


def main(argv: List[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--churn-every", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--json", default="benchmarks/results/soak.json")
    args = parser.parse_args(argv)
    rows = []
    with Servers(big_size=1 << 20, mem_size=1 << 20, want_sink=False) as servers:
        ep = servers.endpoints
        if not ep.http_port:
            print(f"soak: skipped: {servers.nginx_skip}")
            return 0
        ports = {"h1": ep.http_port, "h2": ep.https_port}
        deadline = time.monotonic() + TIME_LIMIT_S
        for proto in ("h1", "h2"):
            for churn in (0, args.churn_every):
                if time.monotonic() > deadline:
                    print("soak: time limit reached, remaining phases not run")
                    break
                label = f"{proto} {'churn/' + str(churn) if churn else 'long-lived'}"

                def aio(n: int, p: str = proto, c: int = churn) -> int:
                    return asyncio.run(aio_phase(p, ports[p], ep.ca_file, n, c, args.concurrency))

                def sync(n: int, p: str = proto, c: int = churn) -> int:
                    return sync_phase(p, ports[p], ep.ca_file, n, c, args.concurrency)

                # Warm-up with the same code (a tenth of the count), so that lazily made objects,
                # TLS session state and the allocator's arenas are in the baseline.
                warm = max(args.requests // 10, 2000)
                asyncio.run(aio_phase(proto, ports[proto], ep.ca_file, warm, churn, args.concurrency))
                rows.append(run_phase(f"aio {label}", aio, args.requests))
                sync_phase(proto, ports[proto], ep.ca_file, warm, churn, args.concurrency)
                rows.append(run_phase(f"sync {label}", sync, args.requests))
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(rows, f, indent=1)
    bad = [r["phase"] for r in rows if not r["ok"]]
    print(f"soak: {len(rows)} phases, {sum(r['requests'] for r in rows)} requests; "
          + ("nothing grew" if not bad else f"GREW in: {', '.join(bad)}"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
