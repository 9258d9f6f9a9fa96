"""HTTP/1.1 against a real nginx (``nginx`` fixture; skipped with its reason when missing):
GET of the 1 MiB and 100 MiB docroot files, PUT of a 10 MiB body, byte for byte, plain and
TLS, on both APIs and both loops.

nginx serves the docroot with sendfile; ``/echo`` and ``/upload`` are proxied (request
buffering off) to an in-process H1Server (see tests/servers/interop.py): ``/echo`` returns
the body it got, ``/upload`` its byte count. Issue 2 item 7.
"""

from __future__ import annotations

import io
import json
from typing import Any, Dict

import pytest

from tests.clients import Conn, connect
from tests.h1_support import API, assert_pattern, tls_options
from tests.servers.common import pattern
from tests.servers.interop import NginxHandle

pytestmark = [pytest.mark.both_loops, pytest.mark.interop]

TLS = pytest.mark.parametrize("tls", [False, True], ids=["tcp", "tls"])
PUT_SIZE = 10 * 1024 * 1024


async def _open(api: str, loop_impl: str, nginx: NginxHandle, tls: bool, ca_file: str) -> Conn:
    kw: Dict[str, Any] = {}
    port = nginx.http_port
    if tls:
        kw["tls_connection_options"] = tls_options(ca_file)
        port = nginx.https_port
    return await connect(api, "h1", "localhost", port, loop_impl=loop_impl, **kw)


@API
@TLS
async def test_get_docroot_files(api: str, loop_impl: str, tls: bool, nginx: NginxHandle,
                                 client_ca_file: str) -> None:
    conn = await _open(api, loop_impl, nginx, tls, client_ca_file)
    try:
        for path, size in (("/1MiB.bin", 1 << 20), ("/100MiB.bin", 100 << 20), ("/1MiB.bin", 1 << 20)):
            r = await conn.request("GET", path, timeout=60)
            assert r.status == 200
            assert r.header("content-length") == str(size)
            assert_pattern(r.body, size)
    finally:
        await conn.close()


@API
@TLS
async def test_put_10_mib(api: str, loop_impl: str, tls: bool, nginx: NginxHandle,
                          client_ca_file: str) -> None:
    """Through /echo the body comes back whole (byte for byte); /upload counts it."""
    body = pattern(PUT_SIZE)
    conn = await _open(api, loop_impl, nginx, tls, client_ca_file)
    try:
        headers = [("Content-Length", str(PUT_SIZE))]
        echoed = await conn.request("PUT", "/echo", headers, body=io.BytesIO(body), timeout=60)
        counted = await conn.request("PUT", "/upload", headers, body=io.BytesIO(body), timeout=60)
    finally:
        await conn.close()
    assert echoed.status == 200
    echo = json.loads(echoed.body)
    assert (echo["method"], echo["body_len"]) == ("PUT", PUT_SIZE)
    assert_pattern(echo["body"].encode("latin-1"), PUT_SIZE)
    assert (counted.status, counted.body) == (200, str(PUT_SIZE).encode())
