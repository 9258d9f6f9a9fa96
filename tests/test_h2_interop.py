"""HTTP/2 against real servers: nginx (h2 over TLS), nghttpd (TLS) and nghttpd (h2c).

Uploads: nghttpd runs with ``--echo-upload`` (the POST body comes back as the response
body); nginx proxies ``/echo`` unbuffered to an in-process HTTP/1.1 server whose JSON echo
holds the body. Both are compared byte for byte.
"""

from __future__ import annotations

import asyncio
import io
import json
from types import SimpleNamespace
from typing import Any

import pytest

from crt_http.http import HttpVersion
from tests.h2_support import APIS, opened, stream_get
from tests.servers.common import PatternChecker, pattern

pytestmark = [pytest.mark.interop, pytest.mark.both_loops]

SERVERS = ["nginx", "nghttpd", "nghttpd_h2c"]


@pytest.fixture(params=SERVERS)
def target(request: pytest.FixtureRequest) -> Any:
    """``.tls``, ``.port``, ``.name`` of one running interop server."""
    handle = request.getfixturevalue(request.param)
    if request.param == "nginx":
        return SimpleNamespace(name="nginx", tls=True, port=handle.https_port)
    return SimpleNamespace(name=request.param, tls=handle.tls, port=handle.port)


@pytest.mark.parametrize("api", APIS)
async def test_200_concurrent_gets_on_one_connection(api: str, target: Any, ca: Any, loop_impl: str) -> None:
    async with opened(api, target, ca, loop_impl) as conn:
        assert conn.version is HttpVersion.Http2
        exchanges = [conn.start("GET", "/hello.txt") for _ in range(200)]
        responses = await asyncio.gather(*(ex.response() for ex in exchanges))
    assert all(r.status == 200 and r.body == b"hello\n" for r in responses)


@pytest.mark.slow
@pytest.mark.parametrize("api", APIS)
async def test_download_100mib(api: str, target: Any, ca: Any, loop_impl: str) -> None:
    size = 100 << 20
    checker = PatternChecker()
    async with opened(api, target, ca, loop_impl) as conn:
        status = await stream_get(conn, "/100MiB.bin", on_chunk=lambda _s, chunk: checker.feed(chunk),
                                  timeout=40)
    assert status == 200
    assert checker.count == size
    assert checker.ok, f"first wrong byte at {checker.first_mismatch}"


@pytest.mark.parametrize("api", APIS)
async def test_upload_10mib(api: str, target: Any, ca: Any, loop_impl: str) -> None:
    size = 10 << 20
    body = pattern(size)
    path = "/echo" if target.name == "nginx" else "/hello.txt"
    async with opened(api, target, ca, loop_impl) as conn:
        r = await conn.request("POST", path, body=io.BytesIO(body), timeout=30)
    assert r.status == 200
    echoed = json.loads(r.body)["body"].encode("latin-1") if target.name == "nginx" else r.body
    assert len(echoed) == size
    assert echoed == body
