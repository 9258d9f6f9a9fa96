"""Run by tests/test_sync_loops.py in a subprocess: open sync connections (HTTP/1.1 and
HTTP/2), leave a stream stalled mid-body on each, report the loop class that ran the
callbacks, print ``READY`` and return without closing anything. The interpreter must then
exit promptly (the EventLoopGroup's daemon loop threads are stopped at exit).

Usage: sync_exit_program.py --h1 PORT --h2 PORT --ca FILE [--group default|explicit]
[--loop-impl NAME]; ``default`` uses the static default bootstrap (``CRT_HTTP_LOOP`` picks
its loop), ``explicit`` an ``EventLoopGroup(2, loop_impl=NAME)``.
"""

from __future__ import annotations

import argparse
import asyncio
import threading
from typing import Any, List

from crt_http.http import Http2ClientConnection, HttpClientConnection, HttpHeaders, HttpRequest
from crt_http.io import (
    ClientBootstrap,
    ClientTlsContext,
    DefaultHostResolver,
    EventLoopGroup,
    TlsContextOptions,
)

KEEP: List[Any] = []  # module globals: alive until interpreter shutdown


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--h1", type=int, required=True)
    parser.add_argument("--h2", type=int, required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--group", choices=["default", "explicit"], default="default")
    parser.add_argument("--loop-impl", default=None)
    args = parser.parse_args()

    bootstrap = None
    if args.group == "explicit":
        group = EventLoopGroup(2, loop_impl=args.loop_impl)
        bootstrap = ClientBootstrap(group, DefaultHostResolver(group))
    opts = TlsContextOptions()
    opts.override_default_trust_store_from_path(ca_filepath=args.ca)
    tls = ClientTlsContext(opts).new_connection_options()
    tls.set_server_name("localhost")
    tls.set_alpn_list(["h2"])

    h1 = HttpClientConnection.new("127.0.0.1", args.h1, bootstrap=bootstrap).result(10)
    h2 = Http2ClientConnection.new("localhost", args.h2, bootstrap=bootstrap, tls_connection_options=tls).result(10)
    loops = set()
    for conn in (h1, h2):
        got_body = threading.Event()

        def on_response(**kwargs: Any) -> None:
            loops.add(type(asyncio.get_running_loop()).__module__ + "." + type(asyncio.get_running_loop()).__name__)

        def on_body(got_body: threading.Event = got_body, **kwargs: Any) -> None:
            got_body.set()

        headers = HttpHeaders([("Host", "localhost"), ("x-fault", "stall-mid-body"), ("x-repeat-data", "100000")])
        stream = conn.request(HttpRequest("GET", "/", headers), on_response, on_body)
        stream.activate()
        assert got_body.wait(10), "no body arrived"
        KEEP.extend([conn, stream])
    print("loops", " ".join(sorted(loops)))
    loop_threads = [t for t in threading.enumerate() if t.name.startswith("crt_http-elg-")]
    print("loop_threads", len(loop_threads), "daemon" if all(t.daemon for t in loop_threads) else "NOT-daemon")
    print("READY", flush=True)


if __name__ == "__main__":
    main()
