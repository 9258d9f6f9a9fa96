"""HTTP/1.1 semantics on one connection: keep-alive, queued streams in order, HEAD / 204 /
304, interim 1xx, HTTP/1.0 servers, ``Connection: close`` from either side, the ``Host``
header, trailers.

Issue 2 item 4. Every test runs on both APIs and both event loops.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List

import pytest

from crt_http.exceptions import AwsCrtError
from crt_http.http import HttpVersion
from tests.clients import Conn, connect
from tests.h1_support import API, assert_pattern
from tests.servers.h1 import H1Server

pytestmark = pytest.mark.both_loops


async def _open(api: str, loop_impl: str, server: H1Server) -> Conn:
    return await connect(api, "h1", "127.0.0.1", server.port, loop_impl=loop_impl)


def _echo(body: bytes) -> Dict[str, Any]:
    return json.loads(body)


@API
async def test_keep_alive_50_sequential_requests(api: str, loop_impl: str, h1_server: H1Server) -> None:
    conn = await _open(api, loop_impl, h1_server)
    try:
        for i in range(50):
            r = await conn.request("GET", f"/r{i}", [("x-repeat-data", str(i * 37))])
            assert r.status == 200
            assert_pattern(r.body, i * 37)
        assert conn.is_open()
    finally:
        await conn.close()
    assert h1_server.connections_accepted == 1
    assert [req.path for req in h1_server.requests] == [f"/r{i}" for i in range(50)]


@API
async def test_streams_started_together_are_answered_in_order(
        api: str, loop_impl: str, h1_server: H1Server) -> None:
    conn = await _open(api, loop_impl, h1_server)
    try:
        exchanges = [conn.start("GET", f"/echo?i={i}", [("x-order", str(i))]) for i in range(8)]
        responses = [await ex.response() for ex in exchanges]
    finally:
        await conn.close()
    assert [_echo(r.body)["path"] for r in responses] == [f"/echo?i={i}" for i in range(8)]
    assert [req.path for req in h1_server.requests] == [f"/echo?i={i}" for i in range(8)]
    assert h1_server.connections_accepted == 1


@API
async def test_bodiless_responses_leave_connection_reusable(
        api: str, loop_impl: str, h1_server: H1Server) -> None:
    """HEAD (with the GET's Content-Length), 204 and 304: no body, and the next response on
    the same connection is intact."""
    conn = await _open(api, loop_impl, h1_server)
    try:
        for method, status in (("HEAD", 200), ("GET", 204), ("GET", 304)):
            r = await conn.request(method, "/", [("x-repeat-data", "1000"),
                                                 ("x-expect-status", str(status))])
            assert (r.status, r.body) == (status, b"")
            if method == "HEAD":
                assert r.header("content-length") == "1000"
            after = await conn.request("GET", "/", [("x-repeat-data", "1000")])
            assert after.status == 200
            assert_pattern(after.body, 1000)
    finally:
        await conn.close()
    assert h1_server.connections_accepted == 1


@API
@pytest.mark.parametrize("interim", [1, 4])
async def test_interim_responses_are_skipped(api: str, loop_impl: str, h1_server: H1Server,
                                             interim: int) -> None:
    conn = await _open(api, loop_impl, h1_server)
    try:
        r = await conn.request("GET", "/", [("x-interim", str(interim)), ("x-repeat-data", "500")])
        assert r.status == 200
        assert r.header("server") == "crt-http-test-h1"
        assert r.header("link") is None  # the 103's header is not the final head's
        assert_pattern(r.body, 500)
        assert (await conn.request("GET", "/")).status == 200
    finally:
        await conn.close()


@API
@pytest.mark.parametrize("framing", ["content-length", "close"])
async def test_http10_server(api: str, loop_impl: str, h1_server: H1Server, framing: str) -> None:
    conn = await _open(api, loop_impl, h1_server)
    try:
        r = await conn.request("GET", "/", [("x-http10", "true"), ("x-framing", framing),
                                            ("x-repeat-data", "70000")])
        assert r.status == 200
        assert r.version is HttpVersion.Http1_0
        assert_pattern(r.body, 70000)
        assert await conn.shutdown() is None
        assert not conn.is_open()
    finally:
        await conn.close()


@API
@pytest.mark.parametrize("header", [("Connection", "close"), ("x-server-close", "true")],
                         ids=["client", "server"])
async def test_connection_close_ends_cleanly_after_response(
        api: str, loop_impl: str, h1_server: H1Server, header: tuple) -> None:
    conn = await _open(api, loop_impl, h1_server)
    try:
        r = await conn.request("GET", "/", [header, ("x-repeat-data", "3000")])
        assert r.status == 200
        assert r.header("connection") == "close"
        assert_pattern(r.body, 3000)
        assert await conn.shutdown() is None
        assert not conn.is_open()
        with pytest.raises(AwsCrtError) as info:
            conn.start("GET", "/")
        assert info.value.name == "AWS_ERROR_HTTP_CONNECTION_CLOSED"
    finally:
        await conn.close()


@API
async def test_queued_stream_behind_connection_close_fails_2058(
        api: str, loop_impl: str, h1_server: H1Server) -> None:
    """A stream queued behind a response that closes the connection is never sent.

    The first body is paced over ~0.2 s so that the sync API's second ``request()`` (made on
    the test's thread) surely happens while the first exchange is still in flight."""
    conn = await _open(api, loop_impl, h1_server)
    try:
        first = conn.start("GET", "/", [("x-server-close", "true"), ("x-repeat-data", "4000"),
                                        ("x-slow-response", "true"), ("x-throughput-bps", "20000")])
        second = conn.start("GET", "/second")
        assert (await first.response()).status == 200
        with pytest.raises(AwsCrtError) as info:
            await second.response()
        assert info.value.name == "AWS_ERROR_HTTP_CONNECTION_CLOSED"
        assert await conn.shutdown() is None
    finally:
        await conn.close()
    assert [req.path for req in h1_server.requests] == ["/"]


@API
async def test_host_header_added_when_missing(api: str, loop_impl: str, h1_server: H1Server) -> None:
    conn = await _open(api, loop_impl, h1_server)
    try:
        added = _echo((await conn.request("GET", "/echo")).body)
        given = _echo((await conn.request("GET", "/echo", [("Host", "example.org")])).body)
    finally:
        await conn.close()
    hosts: List[List[str]] = [[v for k, v in e["headers"] if k.lower() == "host"] for e in (added, given)]
    assert hosts == [[f"127.0.0.1:{h1_server.port}"], ["example.org"]]


@API
async def test_trailers_delivered(api: str, loop_impl: str, h1_server: H1Server) -> None:
    conn = await _open(api, loop_impl, h1_server)
    try:
        r = await conn.request("GET", "/", [("x-trailers", "a=1,b=2"), ("x-repeat-data", "2000")])
        assert r.header("transfer-encoding") == "chunked"
        assert_pattern(r.body, 2000)
        assert r.trailers == [("a", "1"), ("b", "2")]
        plain = await conn.request("GET", "/", [("x-repeat-data", "10")])
        assert plain.trailers == []
    finally:
        await conn.close()
