"""Input validation: what the caller passes is refused before anything reaches the wire.

CR, LF or NUL in a header name or value, an invalid method or path: AwsCrtError with
awscrt's name at ``request()`` on both APIs and protocols, and the raw server that stands
in for the peer records no request byte (HTTP/1.1: no byte at all; HTTP/2: no HEADERS
frame after the preface). Window increments and HTTP/2 settings out of range: ValueError /
TypeError naming the argument.
"""

from __future__ import annotations

from typing import Any, List, Tuple

import pytest
from hyperframe.frame import HeadersFrame

from crt_http.exceptions import AwsCrtError
from crt_http.http import Http2Setting, Http2SettingID, HttpHeaders, HttpRequest
from tests.clients import connect
from tests.faults.h2peer import H2Peer, client_frames, script_server

API = pytest.mark.parametrize("api", ["aio", "sync"])
PROTO = pytest.mark.parametrize("proto", ["h1", "h2"])

NAME, VALUE = "AWS_ERROR_HTTP_INVALID_HEADER_NAME", "AWS_ERROR_HTTP_INVALID_HEADER_VALUE"
METHOD, PATH = "AWS_ERROR_HTTP_INVALID_METHOD", "AWS_ERROR_HTTP_INVALID_PATH"

# (method, path, headers) -> error name
BAD_REQUESTS: List[Tuple[str, str, str, List[Tuple[str, str]], str]] = [
    ("name-cr", "GET", "/", [("x-a\r", "v")], NAME),
    ("name-lf", "GET", "/", [("x-a\nx-b", "v")], NAME),
    ("name-nul", "GET", "/", [("x-a\0", "v")], NAME),
    ("name-space", "GET", "/", [("x a", "v")], NAME),
    ("name-colon", "GET", "/", [("x:a", "v")], NAME),
    ("name-empty", "GET", "/", [("", "v")], NAME),
    ("value-cr", "GET", "/", [("x-a", "v\rinjected: 1")], VALUE),
    ("value-lf", "GET", "/", [("x-a", "v\ninjected: 1")], VALUE),
    ("value-crlf", "GET", "/", [("x-a", "v\r\n\r\nGET /smuggled HTTP/1.1")], VALUE),
    ("value-nul", "GET", "/", [("x-a", "v\0w")], VALUE),
    ("method-empty", "", "/", [], METHOD),
    ("method-space", "GET /x", "/", [], METHOD),
    ("method-crlf", "GET\r\n", "/", [], METHOD),
    ("method-non-token", "GE(T", "/", [], METHOD),
    ("method-nul", "GET\0", "/", [], METHOD),
    ("path-empty", "GET", "", [], PATH),
    ("path-space", "GET", "/a b", [], PATH),
    ("path-crlf", "GET", "/a\r\nHost: evil", [], PATH),
    ("path-lf", "GET", "/a\nb", [], PATH),
    ("path-nul", "GET", "/a\0", [], PATH),
    ("path-del", "GET", "/a\x7f", [], PATH),
]


def build(method: str, path: str, headers: List[Tuple[str, str]]) -> HttpRequest:
    """The request; an empty header name is refused already by HttpHeaders (as in awscrt)."""
    request = HttpRequest(method, path, HttpHeaders())
    for name, value in headers:
        request.headers._pairs.append((name, value))  # bypass add(): test the send-time check
    return request


async def answer_h2(peer: H2Peer) -> None:
    await peer.handshake()
    sid = await peer.request()
    peer.send(peer.head(sid), peer.data(sid, b"ok", end_stream=True))


def start(conn: Any, request: HttpRequest) -> Any:
    if conn.api == "aio":
        return conn.raw.request(request)
    stream = conn.raw.request(request)
    stream.activate()
    return stream


@PROTO
@pytest.mark.parametrize("case,method,path,headers,error", BAD_REQUESTS, ids=[b[0] for b in BAD_REQUESTS])
async def test_bad_request_refused_before_sending(proto, case, method, path, headers, error, raw_server):
    """On each API: the bad request raises at once; a good request sent next is the first
    and only request the server receives (TCP keeps order: nothing of the bad one went
    before it)."""
    for api in ("aio", "sync"):
        if proto == "h1":
            server = raw_server(responses=[b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"])
        else:
            server = script_server(raw_server, answer_h2)
        conn = await connect(api, proto, "127.0.0.1", server.port)
        try:
            with pytest.raises(AwsCrtError) as info:
                start(conn, build(method, path, headers))
            assert info.value.name == error, api
            assert conn.is_open()
            assert (await conn.request("GET", "/good", [("host", "x")], timeout=5)).body == b"ok"
            if proto == "h1":
                assert server.received.startswith(b"GET /good HTTP/1.1\r\n")
                assert server.received.count(b"HTTP/1.1") == 1
            else:
                assert len([f for f in client_frames(server.received) if isinstance(f, HeadersFrame)]) == 1
        finally:
            await conn.close()


def test_empty_header_name_refused_by_headers():
    with pytest.raises(AwsCrtError) as info:
        HttpHeaders([("", "v")])
    assert info.value.name == NAME


BAD_INCREMENTS = [(-1, ValueError), (2**31, ValueError), (1.5, TypeError), ("1", TypeError),
                  (None, TypeError)]


@API
@PROTO
@pytest.mark.parametrize("increment,exc_type", BAD_INCREMENTS, ids=["negative", "2^31", "float", "str", "none"])
async def test_bad_window_increment(api, proto, increment, exc_type, h1_server, h2c_server, loop_impl):
    server = h1_server if proto == "h1" else h2c_server
    conn = await connect(api, proto, "127.0.0.1", server.port, loop_impl=loop_impl,
                         manual_window_management=True, initial_window_size=1000)
    try:
        ex = conn.start("GET", "/echo", [("x-repeat-data", "10")])
        with pytest.raises(exc_type) as info:
            ex.stream.update_window(increment)
        assert "increment" in str(info.value)
        if proto == "h2":
            with pytest.raises(exc_type):
                conn.raw.update_window(increment)
        assert (await ex.response(5)).status == 200  # the stream was not disturbed
    finally:
        await conn.close()


BAD_SETTINGS = [
    (Http2SettingID.ENABLE_PUSH, 2),
    (Http2SettingID.ENABLE_PUSH, -1),
    (Http2SettingID.INITIAL_WINDOW_SIZE, 2**31),
    (Http2SettingID.MAX_FRAME_SIZE, 2**14 - 1),
    (Http2SettingID.MAX_FRAME_SIZE, 2**24),
    (Http2SettingID.HEADER_TABLE_SIZE, 2**32),
    (Http2SettingID.MAX_CONCURRENT_STREAMS, -1),
    (Http2SettingID.MAX_HEADER_LIST_SIZE, 2**32),
]


@pytest.mark.parametrize("setting_id,value", BAD_SETTINGS)
def test_setting_out_of_range(setting_id, value):
    with pytest.raises(ValueError) as info:
        Http2Setting(setting_id, value)
    assert setting_id.name in str(info.value)


@API
async def test_setting_made_invalid_after_construction_is_refused_by_new(api, h2c_server, loop_impl):
    """A setting whose value was changed after it was checked does not reach the wire."""
    setting = Http2Setting(Http2SettingID.ENABLE_PUSH, 0)
    setting.value = 2
    with pytest.raises(ValueError) as info:
        await connect(api, "h2", "127.0.0.1", h2c_server.port, loop_impl=loop_impl,
                      initial_settings=[setting])
    assert "ENABLE_PUSH" in str(info.value)
    assert h2c_server.conn_records == [] or h2c_server.conn_records[-1].settings_frames == []


@API
async def test_setting_of_wrong_type_is_refused(api, h2c_server, loop_impl):
    with pytest.raises(TypeError):
        await connect(api, "h2", "127.0.0.1", h2c_server.port, loop_impl=loop_impl,
                      initial_settings=[(Http2SettingID.ENABLE_PUSH, 0)])
