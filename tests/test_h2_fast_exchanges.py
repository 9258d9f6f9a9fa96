"""The HTTP/2 fast path end to end: many exchanges on one connection whose response heads
repeat, change and move through the server's HPACK table (our test server indexes every
field), and whose request heads repeat and change ours; every answer and every request the
server saw must be exact. Runs on both APIs, both loops, with the fast path on or off."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.h2_support import APIS, TRANSPORTS, new_server, opened
from tests.servers.common import pattern

pytestmark = pytest.mark.both_loops

SIZES = [10, 10, 20, 20, 10, 0, 30, 30, 10, 1024]


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("api", APIS)
async def test_repeating_and_changing_heads(api: str, transport: str, make_h2_server: Any, ca: Any,
                                            loop_impl: str) -> None:
    server = new_server(make_h2_server, transport)
    async with opened(api, server, ca, loop_impl) as conn:
        for round_ in range(3):
            for n in SIZES:
                r = await conn.request("GET", "/data", [("x-repeat-data", str(n))])
                assert (r.status, r.body) == (200, pattern(n))
                assert ("content-length", str(n)) in r.headers, (round_, n, r.headers)
            r = await conn.request("HEAD", "/data", [("x-repeat-data", "77")])
            assert (r.status, r.body) == (200, b"")
            assert ("content-length", "77") in r.headers


@pytest.mark.parametrize("api", APIS)
async def test_concurrent_requests_with_changing_headers(api: str, make_h2_server: Any, ca: Any,
                                                         loop_impl: str) -> None:
    """60 requests in flight, header values that repeat and that evict entries from our
    encoder's table: the server must decode each exactly."""
    server = new_server(make_h2_server, "tls")
    big = "v" * 1500

    def headers(i: int) -> list:
        return [("x-i", str(i % 4)), ("x-big", big + str(i % 3))] if i % 2 else [("x-i", "same")]

    async with opened(api, server, ca, loop_impl) as conn:
        exchanges = [conn.start("GET", f"/p{i % 5}/echo", headers(i)) for i in range(60)]
        results = await asyncio.wait_for(asyncio.gather(*(ex.response(20) for ex in exchanges)), 30)
    for i, r in enumerate(results):
        echo = json.loads(r.body)
        assert echo["path"] == f"/p{i % 5}/echo"
        sent = [(k, v) for k, v in echo["headers"] if k.startswith("x-")]
        assert sent == [(k, v) for k, v in headers(i)], i
