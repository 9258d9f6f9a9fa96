"""The main job, end to end, against the built-in local servers (``make demo``).

Starts the project's HTTP/1.1 and HTTP/2 test servers on 127.0.0.1 (TLS with a throw-away
CA), then with crt_http: an HTTP/1.1 GET and upload (aio API), 100 concurrent HTTP/2 GETs
on one TLS connection with ALPN, and the same GET through the synchronous awscrt-style API.
Every response is checked; the script exits non-zero if one is wrong.
"""

from __future__ import annotations

import asyncio
import io
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from crt_http.aio.http import AIOHttpClientConnectionUnified  # noqa: E402
from crt_http.http import HttpClientConnection, HttpHeaders, HttpRequest  # noqa: E402
from crt_http.io import ClientTlsContext, TlsContextOptions  # noqa: E402
from tests.servers.certs import get_certs  # noqa: E402
from tests.servers.common import pattern  # noqa: E402
from tests.servers.h1 import H1Server  # noqa: E402
from tests.servers.h2 import H2Server  # noqa: E402


def tls_options(ca_file: str):
    """TLS options that trust the demo CA (verification stays on)."""
    opts = TlsContextOptions()
    opts.override_default_trust_store_from_path(ca_filepath=ca_file)
    conn_opts = ClientTlsContext(opts).new_connection_options()
    conn_opts.set_server_name("localhost")
    return conn_opts


async def read_body(stream) -> bytes:
    parts = []
    while chunk := await stream.get_next_response_chunk():
        parts.append(chunk)
    return b"".join(parts)


async def aio_demo(h1_port: int, h2_port: int, ca_file: str) -> None:
    conn = await AIOHttpClientConnectionUnified.new("localhost", h1_port)
    size = 1_000_000
    stream = conn.request(HttpRequest("GET", "/echo", HttpHeaders([("x-repeat-data", str(size))])))
    status = await stream.get_response_status_code()
    body = await read_body(stream)
    assert status == 200 and body == pattern(size), "HTTP/1.1 GET returned the wrong body"
    print(f"HTTP/1.1 GET  {status}  {len(body):>9} bytes, pattern checked  ({conn.version.name})")

    upload = b"u" * 3_000_000
    stream = conn.request(HttpRequest("PUT", "/upload", HttpHeaders(
        [("x-upload-test", "true"), ("Content-Length", str(len(upload)))]), io.BytesIO(upload)))
    count = int(await read_body(stream))
    assert count == len(upload), f"server counted {count} bytes"
    print(f"HTTP/1.1 PUT  {await stream.wait_for_completion()}  {count:>9} bytes counted by the server")
    await conn.close()

    conn = await AIOHttpClientConnectionUnified.new(
        "localhost", h2_port, tls_connection_options=tls_options(ca_file))

    async def one(i: int) -> int:
        s = conn.request(HttpRequest("GET", f"/echo?i={i}", HttpHeaders([("x-repeat-data", "1024")])))
        data = await read_body(s)
        assert data == pattern(1024)
        return await s.wait_for_completion()

    start = time.perf_counter()
    statuses = await asyncio.gather(*(one(i) for i in range(100)))
    took = time.perf_counter() - start
    assert set(statuses) == {200}
    print(f"HTTP/2   100 concurrent GETs on one TLS connection ({conn.version.name}, ALPN h2): "
          f"all 200 in {took * 1000:.0f} ms")
    await conn.close()


def sync_demo(h1_port: int) -> None:
    conn = HttpClientConnection.new("localhost", h1_port).result(10)
    received = []
    stream = conn.request(
        HttpRequest("GET", "/echo", HttpHeaders([("x-repeat-data", "4096")])),
        on_body=lambda http_stream, chunk, **kw: received.append(bytes(chunk)))
    stream.activate()
    status = stream.completion_future.result(10)
    assert status == 200 and b"".join(received) == pattern(4096)
    print(f"sync API GET  {status}  {len(b''.join(received)):>9} bytes via on_body callbacks")
    conn.close().result(10)


def main() -> int:
    certs = get_certs()
    h1 = H1Server()
    h2 = H2Server(tls=True)
    try:
        asyncio.run(aio_demo(h1.port, h2.port, certs.ca_file))
        sync_demo(h1.port)
    finally:
        h1.stop()
        h2.stop()
    print("demo: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
