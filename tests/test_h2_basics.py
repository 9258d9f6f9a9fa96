"""HTTP/2 connection set-up (TLS+ALPN, h2c, Unified), multiplexing, MAX_CONCURRENT_STREAMS,
pseudo-headers and header rules, SETTINGS (initial_settings, on_remote_settings_changed)."""

from __future__ import annotations

import asyncio
import io
import json
import time
from typing import Any

import pytest

from crt_http import http as sync_http
from crt_http.aio import http as aio_http
from crt_http.exceptions import AwsCrtError
from crt_http.http import Http2Setting, Http2SettingID, HttpVersion
from tests.clients import connect
from tests.h2_support import (
    APIS, ENABLE_PUSH, INITIAL_WINDOW_SIZE, MAX_CONCURRENT_STREAMS, TRANSPORTS, host_of,
    new_server, opened, tls_options,
)
from tests.servers.common import pattern

pytestmark = pytest.mark.both_loops

H2_CLASS = {"aio": aio_http.AIOHttp2ClientConnection, "sync": sync_http.Http2ClientConnection}
H1_CLASS = {"aio": aio_http.AIOHttpClientConnection, "sync": sync_http.HttpClientConnection}


def echo_of(body: bytes) -> Any:
    return json.loads(body)


# ---- connecting ---------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("api", APIS)
async def test_h2_connection_serves_requests(api: str, transport: str, make_h2_server: Any,
                                             ca: Any, loop_impl: str) -> None:
    """TLS with ALPN h2, and h2c with prior knowledge on plain TCP."""
    server = new_server(make_h2_server, transport)
    async with opened(api, server, ca, loop_impl) as conn:
        assert type(conn.raw) is H2_CLASS[api]
        assert conn.version is HttpVersion.Http2
        assert conn.is_open()
        r = await conn.request("GET", "/echo")
        assert r.status == 200
        assert r.version is HttpVersion.Http2
        assert echo_of(r.body)["method"] == "GET"
    assert [req.http_version for req in server.requests] == ["2"]
    assert server.connections_accepted == 1


@pytest.mark.parametrize("peer", ["h1-tls", "h2-server-offering-http/1.1-only", "h1-plain"])
@pytest.mark.parametrize("api", APIS)
async def test_h2_connection_refuses_http11_peer(api: str, peer: str, make_h1_server: Any,
                                                 make_h2_server: Any, ca: Any, loop_impl: str) -> None:
    """TLS server that only offers http/1.1 -> 2060; h2c meeting an HTTP/1.1 server -> 2060."""
    if peer == "h1-tls":
        server = make_h1_server(tls=True)
    elif peer == "h1-plain":
        server = make_h1_server(tls=False)
    else:
        server = make_h2_server(tls=True, alpn=("http/1.1",))
    kwargs = {"tls_connection_options": tls_options(ca)} if server.tls else {}
    started = time.monotonic()
    with pytest.raises(AwsCrtError) as info:
        await connect(api, "h2", host_of(server), server.port, loop_impl=loop_impl, **kwargs)
    assert info.value.name == "AWS_ERROR_HTTP_UNSUPPORTED_PROTOCOL"
    assert info.value.code == 2060
    assert time.monotonic() - started < 3.0  # decided by what the peer sent, not a timeout


@pytest.mark.parametrize("peer", ["h2-only", "h2-and-http/1.1", "http/1.1-only"])
@pytest.mark.parametrize("api", APIS)
async def test_unified_connection_class_follows_alpn(api: str, peer: str, make_h1_server: Any,
                                                     make_h2_server: Any, ca: Any, loop_impl: str) -> None:
    """aio Unified with no ALPN list offers h2 and http/1.1; sync HttpClientConnection with
    ALPN list ["h2", "http/1.1"] yields an Http2ClientConnection when h2 is picked."""
    if peer == "http/1.1-only":
        server = make_h1_server(tls=True)
    else:
        server = make_h2_server(tls=True, alpn=("h2",) if peer == "h2-only" else ("h2", "http/1.1"))
    alpn = None if api == "aio" else ["h2", "http/1.1"]
    async with opened(api, server, ca, loop_impl, proto="unified",
                      tls_connection_options=tls_options(ca, alpn)) as conn:
        h2 = peer != "http/1.1-only"
        assert type(conn.raw) is (H2_CLASS if h2 else H1_CLASS)[api]
        assert conn.version is (HttpVersion.Http2 if h2 else HttpVersion.Http1_1)
        r = await conn.request("GET", "/echo")
        assert r.status == 200
        assert r.version is conn.version
    assert server.requests[-1].http_version == ("2" if h2 else "1.1")


async def test_sync_http_connection_without_alpn_list_stays_http11(make_h2_server: Any, ca: Any,
                                                                   loop_impl: str) -> None:
    """awscrt's HttpClientConnection offers http/1.1 only unless the caller's ALPN list says h2."""
    server = make_h2_server(tls=True, alpn=("h2", "http/1.1"))
    async with opened("sync", server, ca, loop_impl, proto="unified") as conn:
        assert type(conn.raw) is sync_http.HttpClientConnection
        assert (await conn.request("GET", "/echo")).status == 200
    assert server.requests[-1].http_version == "1.1"


# ---- multiplexing -------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("api", APIS)
async def test_200_concurrent_streams_on_one_connection(api: str, transport: str, make_h2_server: Any,
                                                        ca: Any, loop_impl: str) -> None:
    server = new_server(make_h2_server, transport, max_concurrent_streams=256)
    async with opened(api, server, ca, loop_impl) as conn:
        exchanges = [conn.start("GET", f"/echo?i={i}") for i in range(200)]
        responses = await asyncio.gather(*(ex.response() for ex in exchanges))
    for i, r in enumerate(responses):
        assert r.status == 200
        assert echo_of(r.body)["path"] == f"/echo?i={i}"
    assert server.connections_accepted == 1
    assert len({req.stream_id for req in server.requests}) == 200
    record = server.conn_records[0]
    assert record.streams_opened == 200
    assert record.refused_streams == []


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("api", APIS)
async def test_streams_truly_overlap(api: str, transport: str, make_h2_server: Any, ca: Any,
                                     loop_impl: str) -> None:
    """50 responses paced to ~0.3 s each finish together, far below 50 * 0.3 s."""
    server = new_server(make_h2_server, transport)
    slow = [("x-repeat-data", "30000"), ("x-slow-response", "true"), ("x-throughput-bps", "100000")]
    async with opened(api, server, ca, loop_impl) as conn:
        started = time.monotonic()
        exchanges = [conn.start("GET", "/slow", slow) for _ in range(50)]
        responses = await asyncio.gather(*(ex.response() for ex in exchanges))
        elapsed = time.monotonic() - started
    assert all(r.status == 200 and r.body == pattern(30000) for r in responses)
    assert 0.25 < elapsed < 3.0, elapsed
    assert server.connections_accepted == 1


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("api", APIS)
async def test_max_concurrent_streams_makes_streams_wait(api: str, transport: str, make_h2_server: Any,
                                                         ca: Any, loop_impl: str) -> None:
    """With the server's MAX_CONCURRENT_STREAMS=2, 20 streams started at once all succeed and
    the server never sees a third open stream (it would refuse it with REFUSED_STREAM)."""
    server = new_server(make_h2_server, transport, max_concurrent_streams=2)
    slow = [("x-repeat-data", "5000"), ("x-slow-response", "true"), ("x-throughput-bps", "100000")]
    async with opened(api, server, ca, loop_impl) as conn:
        started = time.monotonic()
        exchanges = [conn.start("GET", "/slow", slow) for _ in range(20)]
        responses = await asyncio.gather(*(ex.response() for ex in exchanges))
        elapsed = time.monotonic() - started
    assert all(r.status == 200 and r.body == pattern(5000) for r in responses)
    record = server.conn_records[0]
    assert record.refused_streams == []
    assert record.streams_opened == 20
    assert server.connections_accepted == 1
    assert elapsed >= 0.35  # 10 rounds of two >= 40 ms responses: they really waited for slots


# ---- pseudo-headers and header rules --------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("api", APIS)
async def test_pseudo_headers(api: str, transport: str, make_h2_server: Any, ca: Any,
                              loop_impl: str) -> None:
    """:method :scheme :authority :path come first; :authority is the Host header, else
    host:port of the connection; Host itself is not sent."""
    server = new_server(make_h2_server, transport)
    async with opened(api, server, ca, loop_impl) as conn:
        plain = await conn.request("PUT", "/echo?q=1&r=%20", body=io.BytesIO(b"abc"))
        hosted = await conn.request("GET", "/echo", [("Host", "example.com:8443")])
    scheme = "https" if server.tls else "http"
    echo = echo_of(plain.body)
    assert echo["headers"][:4] == [
        [":method", "PUT"], [":scheme", scheme],
        [":authority", f"{host_of(server)}:{server.port}"], [":path", "/echo?q=1&r=%20"],
    ]
    assert echo["body"] == "abc"
    echo = echo_of(hosted.body)
    assert echo["headers"][:4] == [
        [":method", "GET"], [":scheme", scheme], [":authority", "example.com:8443"], [":path", "/echo"],
    ]
    assert "host" not in [name for name, _ in echo["headers"]]


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("api", APIS)
async def test_connection_specific_headers_never_sent(api: str, transport: str, make_h2_server: Any,
                                                      ca: Any, loop_impl: str) -> None:
    """Connection, Keep-Alive, Transfer-Encoding, Upgrade, Proxy-Connection are dropped; names
    are lower-cased, values and order kept; TE survives only as ``trailers``."""
    server = new_server(make_h2_server, transport)
    headers = [
        ("Connection", "keep-alive"), ("X-Mixed-Case", "Some Value"), ("Keep-Alive", "timeout=5"),
        ("Transfer-Encoding", "chunked"), ("Upgrade", "h2c"), ("Proxy-Connection", "keep-alive"),
        ("TE", "trailers"), ("ACCEPT", "*/*"),
    ]
    async with opened(api, server, ca, loop_impl) as conn:
        r = await conn.request("GET", "/echo", headers)
        r_te = await conn.request("GET", "/echo", [("TE", "gzip")])
    regular = [[k, v] for k, v in echo_of(r.body)["headers"] if not k.startswith(":")]
    assert regular == [["x-mixed-case", "Some Value"], ["te", "trailers"], ["accept", "*/*"]]
    assert [k for k, _ in echo_of(r_te.body)["headers"] if not k.startswith(":")] == []


# ---- SETTINGS -------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("api", APIS)
async def test_initial_settings_sent_in_preface(api: str, transport: str, make_h2_server: Any,
                                                ca: Any, loop_impl: str) -> None:
    server = new_server(make_h2_server, transport)
    initial = [
        Http2Setting(Http2SettingID.MAX_CONCURRENT_STREAMS, 10),
        Http2Setting(Http2SettingID.HEADER_TABLE_SIZE, 8192),
        Http2Setting(Http2SettingID.MAX_HEADER_LIST_SIZE, 32768),
    ]
    async with opened(api, server, ca, loop_impl, initial_settings=initial) as conn:
        assert (await conn.request("GET", "/echo")).status == 200
    frames = server.conn_records[0].settings_frames
    assert len(frames) == 1  # everything in the preface's SETTINGS
    first = frames[0]
    assert first[MAX_CONCURRENT_STREAMS] == 10
    assert first[1] == 8192  # HEADER_TABLE_SIZE
    assert first[6] == 32768  # MAX_HEADER_LIST_SIZE
    assert first[ENABLE_PUSH] == 0


@pytest.mark.parametrize("setting_id, value", [
    (Http2SettingID.ENABLE_PUSH, 2),
    (Http2SettingID.INITIAL_WINDOW_SIZE, 2**31),
    (Http2SettingID.MAX_FRAME_SIZE, 2**14 - 1),
    (Http2SettingID.MAX_FRAME_SIZE, 2**24),
    (Http2SettingID.HEADER_TABLE_SIZE, -1),
    (Http2SettingID.MAX_HEADER_LIST_SIZE, 2**32),
])
def test_http2_setting_out_of_range(setting_id: Http2SettingID, value: int) -> None:
    with pytest.raises(ValueError, match=setting_id.name):
        Http2Setting(setting_id, value)


@pytest.mark.parametrize("api", APIS)
async def test_initial_settings_items_are_checked(api: str, h2c_server: Any, loop_impl: str) -> None:
    with pytest.raises(TypeError, match="initial_settings"):
        await connect(api, "h2", "127.0.0.1", h2c_server.port, loop_impl=loop_impl,
                      initial_settings=[(Http2SettingID.ENABLE_PUSH, 0)])
    assert h2c_server.connections_accepted == 0


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("api", APIS)
async def test_on_remote_settings_changed(api: str, transport: str, make_h2_server: Any, ca: Any,
                                          loop_impl: str) -> None:
    server = new_server(make_h2_server, transport, max_concurrent_streams=7,
                        initial_window_size=100_000, max_frame_size=32768)
    calls: list = []
    async with opened(api, server, ca, loop_impl, on_remote_settings_changed=calls.append) as conn:
        assert calls, "the server's first SETTINGS is applied before new() completes"
        assert (await conn.request("GET", "/echo")).status == 200
    assert all(isinstance(call, list) for call in calls)
    assert all(isinstance(s, Http2Setting) for call in calls for s in call)
    seen = {s.id: s.value for call in calls for s in call}
    assert seen[Http2SettingID.MAX_CONCURRENT_STREAMS] == 7
    assert seen[Http2SettingID.INITIAL_WINDOW_SIZE] == 100_000
    assert seen[Http2SettingID.MAX_FRAME_SIZE] == 32768
    assert seen[Http2SettingID.MAX_HEADER_LIST_SIZE] == 65536
    assert server.client_settings[INITIAL_WINDOW_SIZE] > 0
