"""Synchronous awscrt-API client (``<package>.http``): awscrt-sync and crt_http-sync.

Sequential jobs wait on ``completion_future.result()`` per request; concurrent jobs keep
``inflight`` requests going from the main thread, a completion callback handing the slot
(connection) back through a queue. The library is never called from its own callbacks.
"""

from __future__ import annotations

import argparse
import queue
import threading
from typing import Any

from . import common
from .common import BenchError, Job, PatternReader, Stats, Timer, check, check_count
from .crt_api import PACKAGES, CrtApi


class Exchange:
    """Response callbacks of one request: status, body size, the body if asked."""

    __slots__ = ("status", "size", "body")

    def __init__(self, keep_body: bool = False) -> None:
        self.status = 0
        self.size = 0
        self.body: bytearray | None = bytearray() if keep_body else None

    def on_response(self, http_stream: Any, status_code: int, headers: Any, **kw: Any) -> None:
        self.status = status_code

    def on_body(self, http_stream: Any, chunk: Any, **kw: Any) -> None:
        self.size += len(chunk)
        if self.body is not None:
            self.body += chunk


class SyncClient:
    """One job on the synchronous API."""

    def __init__(self, api: CrtApi, job: Job) -> None:
        self.api, self.job = api, job
        self.wait_s = max(30.0, 2 * job.deadline_s)

    def connect(self, port: int, tls: bool, h2: bool) -> Any:
        http = self.api.http
        cls = http.Http2ClientConnection if h2 else http.HttpClientConnection
        fut = cls.new(host_name=self.job.host, port=port,
                      tls_connection_options=self.api.tls_options(h2) if tls else None)
        return fut.result(self.wait_s)

    def exchange(self, conn: Any, method: str, path: str, port: int,
                 length: int | None = None, keep_body: bool = False) -> Exchange:
        body = PatternReader(length, self.job.piece) if length is not None else None
        ex = Exchange(keep_body)
        stream = conn.request(self.api.request(method, path, port, length, body),
                              ex.on_response, ex.on_body)
        stream.activate()
        ex.status = stream.completion_future.result(self.wait_s)
        return ex

    def get_one(self, conn: Any, path: str, size: int) -> int:
        ex = self.exchange(conn, "GET", path, self.job.port)
        check(f"GET {path}", ex.status, ex.size, size)
        return ex.size

    def put_one(self, conn: Any, size: int) -> int:
        ex = self.exchange(conn, "PUT", self.job.upload_path, self.job.sink_port, size, True)
        check_count(f"PUT {size}", ex.status, bytes(ex.body or b""), size)
        return size

    # -- jobs ------------------------------------------------------------------------------
    def run(self, timer: Timer, stats: Stats) -> None:
        job = self.job
        if job.op == "cold":
            self.cold(timer, stats)
        elif job.op == "put":
            conn = self.connect(job.sink_port, False, False)
            self.put_one(conn, 1)
            timer.start(job.deadline_s)
            for _ in range(job.count):
                if timer.expired():
                    stats.partial = True
                    break
                stats.bytes += self.put_one(conn, job.size)
                stats.requests += 1
            timer.stop()
            conn.close().result(self.wait_s)
        elif job.op == "mem":
            down = self.connect(job.port, job.tls, job.h2)
            up = self.connect(job.sink_port, False, False)
            timer.start(job.deadline_s)
            stats.bytes += self.get_one(down, job.path, job.size)
            stats.bytes += self.put_one(up, job.size)
            stats.requests = 2
            timer.stop()
            for c in (down, up):
                c.close().result(self.wait_s)
        elif job.inflight == 1:
            conn = self.connect(job.port, job.tls, job.h2)
            self.get_one(conn, job.warm_path, job.warm_size)
            timer.start(job.deadline_s)
            for _ in range(job.count):
                if timer.expired():
                    stats.partial = True
                    break
                stats.bytes += self.get_one(conn, job.path, job.size)
                stats.requests += 1
            timer.stop()
            conn.close().result(self.wait_s)
        else:
            self.concurrent(timer, stats)

    def cold(self, timer: Timer, stats: Stats) -> None:
        job = self.job

        def once() -> int:
            conn = self.connect(job.port, job.tls, job.h2)
            n = self.get_one(conn, job.path, job.size)
            conn.close().result(self.wait_s)
            return n

        once()
        timer.start(job.deadline_s)
        for _ in range(job.count):
            if timer.expired():
                stats.partial = True
                break
            stats.bytes += once()
            stats.requests += 1
        timer.stop()

    def concurrent(self, timer: Timer, stats: Stats) -> None:
        """``inflight`` requests at once over ``connections`` connections (HTTP/2: one)."""
        job = self.job
        conns = [self.connect(job.port, job.tls, job.h2)
                 for _ in range(1 if job.h2 else job.connections)]
        for c in conns:
            self.get_one(c, job.warm_path, job.warm_size)
        slots: queue.SimpleQueue[Any] = queue.SimpleQueue()
        nslots = job.inflight if job.h2 else len(conns)
        for i in range(nslots):
            slots.put(conns[i % len(conns)])
        lock = threading.Lock()
        errors: list[BaseException] = []
        done = [0, 0]  # requests, bytes

        def finish(fut: Any, ex: Exchange, conn: Any) -> None:
            try:
                check(f"GET {job.path}", fut.result(), ex.size, job.size)
                with lock:
                    done[0] += 1
                    done[1] += ex.size
            except BaseException as exc:  # noqa: BLE001 - reported by the main thread
                errors.append(exc)
            slots.put(conn)

        timer.start(job.deadline_s)
        for _ in range(job.count):
            if errors:
                break
            if timer.expired():
                stats.partial = True
                break
            conn = slots.get(timeout=self.wait_s)
            ex = Exchange()
            stream = conn.request(self.api.request("GET", job.path, job.port),
                                  ex.on_response, ex.on_body)
            stream.activate()
            stream.completion_future.add_done_callback(
                lambda f, ex=ex, conn=conn: finish(f, ex, conn))
        for _ in range(nslots):  # every slot back: every request finished
            slots.get(timeout=self.wait_s)
        timer.stop()
        if errors:
            raise errors[0]
        stats.requests, stats.bytes = done
        for c in conns:
            c.close().result(self.wait_s)


def run(job: Job, timer: Timer, stats: Stats, args: argparse.Namespace) -> None:
    if job.h2 and job.op in ("put", "cold"):
        raise BenchError(f"op {job.op} over HTTP/2 is not a scenario")
    SyncClient(CrtApi(args.package, job), job).run(timer, stats)


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--package", choices=PACKAGES, default="awscrt")


if __name__ == "__main__":
    common.exit_now(common.main(run, __doc__ or "", add_args))
