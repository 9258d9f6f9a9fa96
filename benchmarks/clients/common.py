"""What every client process shares: the job, the measurement, verification, the JSON line.

A client module is run as ``python -m benchmarks.clients.<name> --job '<json>' [options]``;
it prints exactly one line starting with ``RESULT `` followed by a JSON object:

    ok, error, scenario, requests, bytes, wall_s, cpu_s, maxrss_kib, rss_start_kib,
    hwm_kib, partial

``wall_s`` and ``cpu_s`` (``time.process_time``: every thread of the process) cover the timed
section only: connections are opened and warmed up before it, except in ``cold`` jobs.
``maxrss_kib`` is the peak RSS of the whole client process; ``rss_start_kib`` the RSS when
the timed section starts and ``hwm_kib`` the peak within it (growth = hwm - start).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Awaitable, Callable

RESULT_PREFIX = "RESULT "


class BenchError(Exception):
    """A response that failed verification, or an unsupported request; ends the run."""


@dataclass
class Job:
    """The job handed down by the runner (see scenarios.make_job)."""

    scenario: str
    op: str
    tls: bool
    h2: bool
    host: str
    port: int
    server_name: str
    ca_file: str
    path: str
    size: int
    count: int
    connections: int
    inflight: int
    sink_port: int
    upload_path: str
    piece: int
    warm_path: str
    warm_size: int
    deadline_s: float

    @property
    def authority(self) -> str:
        return f"{self.server_name}:{self.port}"

    def url(self, path: str | None = None, port: int | None = None, tls: bool | None = None) -> str:
        tls = self.tls if tls is None else tls
        return (f"{'https' if tls else 'http'}://{self.host}:{port or self.port}"
                f"{path or self.path}")

    def ssl_context(self, alpn: list[str] | None = None) -> Any:
        import ssl
        ctx = ssl.create_default_context(cafile=self.ca_file)
        if alpn:
            ctx.set_alpn_protocols(alpn)
        return ctx


@dataclass
class Stats:
    """Counters a client fills in while it runs."""

    requests: int = 0
    bytes: int = 0
    partial: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def check(what: str, status: int, size: int, want_size: int, want_status: int = 200) -> None:
    """Raise BenchError unless the response had the expected status and body size."""
    if status != want_status or size != want_size:
        raise BenchError(f"{what}: status {status} with {size} body bytes, "
                         f"expected {want_status} with {want_size}")


def check_count(what: str, status: int, body: bytes, sent: int) -> None:
    """Verify an upload answer: the sink replies 200 with the decimal count it received."""
    if status != 200 or body.strip() != str(sent).encode():
        raise BenchError(f"{what}: sink answered {status} {body[:80]!r}, expected 200 {sent}")


class PatternReader(io.RawIOBase):
    """A readable stream of ``total`` bytes made of one repeated ``piece``-sized block."""

    def __init__(self, total: int, piece: int) -> None:
        super().__init__()
        self._left = total
        self._block = memoryview(bytes(range(256)) * (max(piece, 256) // 256))
        self._pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        n = min(len(b), self._left, len(self._block) - self._pos)
        b[:n] = self._block[self._pos:self._pos + n]
        self._pos = (self._pos + n) % len(self._block)
        self._left -= n
        return n


def pieces(total: int, piece: int) -> list[int]:
    """Sizes of the pieces an upload of ``total`` bytes is cut into."""
    full, rest = divmod(total, piece)
    return [piece] * full + ([rest] if rest else [])


def block(piece: int) -> bytes:
    """One upload piece (the same object is sent again and again: no per-piece allocation)."""
    return bytes(range(256)) * (max(piece, 256) // 256)


async def agen_pieces(total: int, piece: int) -> AsyncIterator[bytes]:
    """Async generator of the upload body: pieces of one shared block, ``total`` bytes."""
    data = block(piece)
    for n in pieces(total, piece):
        yield data if n == len(data) else data[:n]


def rss_kib(field_name: str = "VmRSS") -> int:
    """Resident set (or VmHWM) of this process in KiB, from /proc; 0 where unavailable."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def reset_peak_rss() -> bool:
    """Reset the kernel's RSS high-water mark to the current RSS (Linux clear_refs 5)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class Timer:
    """Marks the timed section: wall and process CPU time, RSS at start and its peak."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0
        self._w0 = self._c0 = 0.0
        self.rss_start = 0
        self.hwm_setup = 0
        self.peak_reset = False
        self.deadline = float("inf")

    def start(self, deadline_s: float) -> None:
        self.hwm_setup = rss_kib("VmHWM")
        self.rss_start = rss_kib()
        self.peak_reset = reset_peak_rss()
        self._w0, self._c0 = time.perf_counter(), time.process_time()
        self.deadline = time.monotonic() + deadline_s

    def stop(self) -> None:
        self.wall = time.perf_counter() - self._w0
        self.cpu = time.process_time() - self._c0

    def expired(self) -> bool:
        return time.monotonic() >= self.deadline


RunFn = Callable[[Job, Timer, Stats, argparse.Namespace], None]


async def repeat(job: Job, timer: Timer, stats: Stats, once: Callable[[], Awaitable[int]]) -> None:
    """Run ``once`` (returning the bytes it moved) ``job.count`` times under the job's deadline."""
    timer.start(job.deadline_s)
    for _ in range(job.count):
        if timer.expired():
            stats.partial = True
            break
        stats.bytes += await once()
        stats.requests += 1
    timer.stop()


def main(run: RunFn, description: str, add_args: Callable[[argparse.ArgumentParser], None]
         | None = None) -> int:
    """Parse ``--job``, run it, print the RESULT line; any exception becomes ok=false."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--job", required=True, help="job JSON (scenarios.make_job)")
    parser.add_argument("--profile-out", help="run under cProfile, dump the stats here")
    if add_args:
        add_args(parser)
    args = parser.parse_args()
    # The child inherits the runner's high-water mark through fork: start ours afresh.
    fresh = reset_peak_rss()
    job = Job(**json.loads(args.job))
    timer, stats = Timer(), Stats()
    out: dict[str, Any] = {"scenario": job.scenario, "ok": False, "error": None}
    try:
        if args.profile_out:
            import cProfile
            prof = cProfile.Profile()
            try:
                prof.runcall(run, job, timer, stats, args)
            finally:
                prof.dump_stats(args.profile_out)
        else:
            run(job, timer, stats, args)
        out["ok"] = True
    except BaseException as exc:  # noqa: BLE001 - every failure is reported, not raised
        out["error"] = f"{type(exc).__name__}: {exc}"[:2000]
        out["traceback"] = traceback.format_exc(limit=8)[-4000:]
    ru_maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    hwm = rss_kib("VmHWM")
    out.update(requests=stats.requests, bytes=stats.bytes, wall_s=timer.wall, cpu_s=timer.cpu,
               # peak RSS of this process: since its start (kernel HWM) where /proc allows
               maxrss_kib=max(hwm, timer.hwm_setup) if fresh and hwm else ru_maxrss,
               rss_start_kib=timer.rss_start,
               hwm_kib=hwm if timer.peak_reset else ru_maxrss,
               partial=stats.partial, **stats.extra)
    sys.stdout.write(RESULT_PREFIX + json.dumps(out) + "\n")
    sys.stdout.flush()
    return 0 if out["ok"] else 1


def exit_now(code: int) -> None:
    """Flush and leave at once: no interpreter teardown (native threads can stall it)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
