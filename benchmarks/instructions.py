"""Instructions per request of crt_http's HTTP/1.1 client path: a count that does not move
with the load of a shared machine, for judging a change to the hot path.

    python -m benchmarks.instructions              # under valgrind: k instructions per request
    python -m benchmarks.instructions --loop 1000  # just the loop (what valgrind runs)

The loop is S1 without the network's variance: sequential 1 KiB GETs on one HTTP/1.1
connection to a server on the same event loop (uvloop when installed) that answers every
request with nginx's head and 1 KiB. The count is the difference between a run of
``SHORT + STEP`` requests and one of ``SHORT`` (start-up and warm-up cancel out), over
``STEP``: client, canned server and loop together, user space only (valgrind's callgrind).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys

SHORT, STEP = 300, 1000
RESPONSE = (b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sun, 29 Nov 2026 02:21:51 GMT\r\n"
            b"Content-Type: application/octet-stream\r\nContent-Length: 1024\r\n"
            b"Last-Modified: Sun, 29 Nov 2026 02:21:51 GMT\r\nConnection: keep-alive\r\n"
            b"ETag: \"6574e6cf-400\"\r\nAccept-Ranges: bytes\r\n\r\n") + b"x" * 1024


class CannedServer(asyncio.Protocol):
    """Answers each request head it receives with :data:`RESPONSE`."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.pending = b""

    def data_received(self, data: bytes) -> None:
        self.pending += data
        heads = self.pending.count(b"\r\n\r\n")
        if heads:
            self.pending = self.pending[self.pending.rindex(b"\r\n\r\n") + 4:]
            self.transport.write(RESPONSE * heads)  # type: ignore[attr-defined]


async def run_loop(requests: int) -> None:
    """``requests`` GETs, each status and body size checked."""
    from crt_http.aio.http import AIOHttpClientConnection
    from crt_http.http import HttpHeaders, HttpRequest

    loop = asyncio.get_running_loop()
    server = await loop.create_server(CannedServer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    conn = await AIOHttpClientConnection.new("127.0.0.1", port)
    headers = [("Host", f"127.0.0.1:{port}"), ("User-Agent", "instructions")]
    try:
        for _ in range(requests):
            stream = conn.request(HttpRequest("GET", "/1k", HttpHeaders(headers)))
            status = await stream.get_response_status_code()
            size = 0
            for _ in range(1026):  # every chunk holds at least one byte
                chunk = await stream.get_next_response_chunk()
                if not chunk:
                    break
                size += len(chunk)
            await stream.wait_for_completion()
            if (status, size) != (200, 1024):
                raise SystemExit(f"bad response: status {status}, {size} body bytes")
    finally:
        await conn.close()
        server.close()


def loop_main(requests: int) -> None:
    try:
        import uvloop
    except ImportError:
        asyncio.run(run_loop(requests))
    else:
        uvloop.run(run_loop(requests))


def count(requests: int) -> int:
    """Instructions of one ``--loop requests`` run under callgrind."""
    out = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
         sys.executable, "-m", "benchmarks.instructions", "--loop", str(requests)],
        capture_output=True, text=True, timeout=600, check=True)
    found = re.search(r"Collected : (\d+)", out.stderr)
    if found is None:
        raise SystemExit(f"no instruction count in valgrind's output: {out.stderr[-500:]}")
    return int(found.group(1))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.instructions", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--loop", type=int, metavar="N", help="only run N requests (no valgrind)")
    args = p.parse_args(argv)
    if args.loop is not None:
        loop_main(args.loop)
        print(f"{args.loop} requests, every response checked")
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind not found (apt-get install valgrind): nothing measured", file=sys.stderr)
        return 1
    per_request = (count(SHORT + STEP) - count(SHORT)) / STEP
    print(f"{per_request / 1000:.1f} k instructions per request "
          f"(HTTP/1.1 GET of 1 KiB, canned server on the same loop)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
