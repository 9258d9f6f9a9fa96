"""HTTP/1.1 response conformance: RFC 9112 message-body-length rules and the response
vectors of llhttp's test corpus (test/response/*.md), each sent byte for byte by a raw
server (which closes after it) to both APIs. Every case ends with the status and body
delivered exactly, or a named error.

Where RFC 9112 lets a recipient choose (a bare LF as line terminator, obs-fold replaced by
SP, trailing whitespace after a chunk size) h11's lenient choice is pinned; where API.md
says "error" (CR/LF/NUL in a value, chunk size over 16 hex digits, conflicting lengths)
the error name is pinned.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import pytest

from crt_http.exceptions import AwsCrtError
from crt_http.http import HttpVersion
from tests.clients import connect
from tests.h1_support import fast_path  # noqa: F401  (fixture: the fast path on and off)

API = pytest.mark.parametrize("api", ["aio", "sync"])
PROTOCOL = "AWS_ERROR_HTTP_PROTOCOL_ERROR"
CLOSED = "AWS_IO_SOCKET_CLOSED"
OK = "HTTP/1.1 200 OK\r\n"
CHUNKED = OK + "Transfer-Encoding: chunked\r\n\r\n"

# name -> (response, expected body or error name, expected status, extra checks)
Expect = Tuple[str, Any, Optional[int], Dict[str, Any]]
CASES: Dict[str, Expect] = {
    # -- RFC 9112 6.3 message body length -----------------------------------------------
    "cl-and-te-both": (OK + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
                       PROTOCOL, None, {}),
    "te-and-cl-both": (OK + "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
                       PROTOCOL, None, {}),
    "cl-differing-values": (OK + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", PROTOCOL, None, {}),
    "cl-list-differing": (OK + "Content-Length: 5, 6\r\n\r\nhello!", PROTOCOL, None, {}),
    "cl-repeated-same-value": (OK + "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello", b"hello", 200, {}),
    "cl-list-same-value": (OK + "Content-Length: 5, 5\r\n\r\nhello", b"hello", 200, {}),
    "cl-leading-zeros": (OK + "Content-Length: 005\r\n\r\nhello", b"hello", 200, {}),
    "cl-not-a-number": (OK + "Content-Length: abc\r\n\r\nhello", PROTOCOL, None, {}),
    "cl-negative": (OK + "Content-Length: -5\r\n\r\nhello", PROTOCOL, None, {}),
    "cl-plus-sign": (OK + "Content-Length: +5\r\n\r\nhello", PROTOCOL, None, {}),
    "cl-hex": (OK + "Content-Length: 0x5\r\n\r\nhello", PROTOCOL, None, {}),
    "cl-two-numbers": (OK + "Content-Length: 5 5\r\n\r\nhello", PROTOCOL, None, {}),
    "cl-larger-than-body": (OK + "Content-Length: 10\r\n\r\nhello", CLOSED, None, {}),
    "cl-zero": (OK + "Content-Length: 0\r\n\r\n", b"", 200, {}),
    "no-length-read-until-close": (OK + "\r\nhello world", b"hello world", 200, {}),
    "te-chunked-not-last": (OK + "Transfer-Encoding: chunked, deflate\r\n\r\nWorld", PROTOCOL, None, {}),
    "te-chunked-then-identity": (OK + "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\nWorld",
                                 PROTOCOL, None, {}),
    "te-chunkedchunked": (OK + "Transfer-Encoding: chunkedchunked\r\n\r\n2\r\nOK\r\n0\r\n\r\n", PROTOCOL, None, {}),
    "te-empty": (OK + "Transfer-Encoding:\r\nContent-Length: 5\r\n\r\nhello", PROTOCOL, None, {}),
    "te-gzip-only": (OK + "Transfer-Encoding: gzip\r\n\r\nWorld", PROTOCOL, None, {}),
    "te-case-insensitive": (OK + "transfer-encoding: CHUNKED\r\n\r\n5\r\nhello\r\n0\r\n\r\n", b"hello", 200, {}),
    # -- chunked framing ---------------------------------------------------------------------
    "chunked-two-chunks": (CHUNKED + "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", b"hello world", 200, {}),
    "chunk-size-uppercase-hex": (CHUNKED + "A\r\n0123456789\r\n0\r\n\r\n", b"0123456789", 200, {}),
    "chunk-size-plus": (CHUNKED + "+5\r\nhello\r\n0\r\n\r\n", PROTOCOL, None, {}),
    "chunk-size-0x": (CHUNKED + "0x5\r\nhello\r\n0\r\n\r\n", PROTOCOL, None, {}),
    "chunk-size-underscore": (CHUNKED + "5_0\r\nhello\r\n0\r\n\r\n", PROTOCOL, None, {}),
    "chunk-size-negative": (CHUNKED + "-5\r\nhello\r\n0\r\n\r\n", PROTOCOL, None, {}),
    "chunk-size-empty": (CHUNKED + "\r\nhello\r\n0\r\n\r\n", PROTOCOL, None, {}),
    "chunk-size-16-hex-digits": (CHUNKED + "0000000000000005\r\nhello\r\n0\r\n\r\n", b"hello", 200, {}),
    "chunk-size-17-hex-digits": (CHUNKED + "00000000000000005\r\nhello\r\n0\r\n\r\n", PROTOCOL, None, {}),
    "chunk-size-over-64-bits": (CHUNKED + "FFFFFFFFFFFFFFFFFF\r\nhello\r\n0\r\n\r\n", PROTOCOL, None, {}),
    "chunk-size-no-semicolon-before-ext": (CHUNKED + "2 erfrferferf\r\naa\r\n0\r\n\r\n", PROTOCOL, None, {}),
    "chunk-size-trailing-space": (CHUNKED + "5  \r\nhello\r\n0\r\n\r\n", b"hello", 200, {}),
    "chunk-extensions": (CHUNKED + "5;ilovew3;somuchlove=aretheseparametersfor\r\nhello\r\n"
                                   "6;blahblah;blah\r\n world\r\n0\r\n\r\n", b"hello world", 200, {}),
    "chunk-extension-quoted": (CHUNKED + '5;a="I love; extensions"\r\nhello\r\n0\r\n\r\n', b"hello", 200, {}),
    "chunk-data-longer-than-size": (CHUNKED + "5\r\nhello!\r\n0\r\n\r\n", PROTOCOL, None, {}),
    "chunk-missing-crlf-after-data": (CHUNKED + "5\r\nhello0\r\n\r\n", PROTOCOL, None, {}),
    "chunked-bare-lf-framing": (CHUNKED + "5\nhello\n0\n\n", CLOSED, None, {}),  # waits for CRLF
    "chunked-trailers": (CHUNKED + "5\r\nhello\r\n0\r\nX-Trailer: yes\r\n\r\n", b"hello", 200,
                         {"trailers": [("X-Trailer", "yes")]}),
    "chunked-truncated": (CHUNKED + "5\r\nhello\r\n", CLOSED, None, {}),
    # -- status line -------------------------------------------------------------------------
    "status-no-reason": ("HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok", b"ok", 200, {}),
    "status-empty-reason": ("HTTP/1.1 200 \r\nContent-Length: 2\r\n\r\nok", b"ok", 200, {}),
    "status-999": ("HTTP/1.1 999 Odd\r\nContent-Length: 2\r\n\r\nok", b"ok", 999, {}),
    "status-one-digit": ("HTTP/1.1 2 OK\r\n\r\n", PROTOCOL, None, {}),
    "status-four-digits": ("HTTP/1.1 2000 OK\r\n\r\n", PROTOCOL, None, {}),
    "status-extra-space-before-code": ("HTTP/1.1  200 OK\r\n\r\n", PROTOCOL, None, {}),
    "status-tab-after-version": ("HTTP/1.1\t200 OK\r\n\r\n", PROTOCOL, None, {}),
    "status-incomplete-protocol": ("HTP/1.1 200 OK\r\n\r\n", PROTOCOL, None, {}),
    "status-two-digit-major": ("HTTP/01.1 200 OK\r\n\r\n", PROTOCOL, None, {}),
    "status-two-digit-minor": ("HTTP/1.01 200 OK\r\n\r\n", PROTOCOL, None, {}),
    "status-http-2.0": ("HTTP/2.0 200 OK\r\nContent-Length: 2\r\n\r\nok", PROTOCOL, None, {}),
    "status-lowercase-http": ("http/1.1 200 OK\r\n\r\n", PROTOCOL, None, {}),
    "status-garbage": ("ICY 200 OK\r\n\r\n", PROTOCOL, None, {}),
    # -- header lines ------------------------------------------------------------------------
    "header-no-colon": (OK + "no-colon-here\r\nContent-Length: 0\r\n\r\n", PROTOCOL, None, {}),
    "header-empty-name": (OK + ": value\r\nContent-Length: 0\r\n\r\n", PROTOCOL, None, {}),
    "header-space-before-colon": (OK + "X-A : v\r\nContent-Length: 0\r\n\r\n", PROTOCOL, None, {}),
    "header-space-in-name": (OK + "X A: v\r\nContent-Length: 0\r\n\r\n", PROTOCOL, None, {}),
    "header-nul-in-value": (OK + "X-A: a\x00b\r\nContent-Length: 0\r\n\r\n", PROTOCOL, None, {}),
    "header-bare-cr-in-value": (OK + "X-A: a\rb\r\nContent-Length: 0\r\n\r\n", PROTOCOL, None, {}),
    "headers-separated-by-cr": (OK + "Foo: 1\rBar: 2\r\nContent-Length: 0\r\n\r\n", PROTOCOL, None, {}),
    "header-space-after-start-line": (OK + " Host: foo\r\nContent-Length: 0\r\n\r\n", PROTOCOL, None, {}),
    "header-obs-fold": (OK + "X-A: a\r\n  b\r\nContent-Length: 2\r\n\r\nok", b"ok", 200,
                        {"header": ("X-A", "a b")}),
    "header-ows-trimmed": (OK + "X-A: \t v \t\r\nContent-Length: 2\r\n\r\nok", b"ok", 200,
                           {"header": ("X-A", "v")}),
    "header-value-utf8": (OK + "X-A: caf\u00c3\u00a9\r\nContent-Length: 2\r\n\r\nok", b"ok", 200,
                          {"header": ("X-A", "caf\u00e9")}),
    "header-value-invalid-utf8-latin1": (OK + "X-A: \u00ff\u00fe\r\nContent-Length: 2\r\n\r\nok", b"ok", 200,
                                         {"header": ("X-A", "\u00ff\u00fe")}),
    "header-name-case-kept": (OK + "X-MiXeD: v\r\nContent-Length: 2\r\n\r\nok", b"ok", 200,
                              {"header": ("X-MiXeD", "v")}),
    "bare-lf-line-endings": ("HTTP/1.1 200 OK\nContent-Length: 2\nX-A: v\n\nok", b"ok", 200,
                             {"header": ("X-A", "v")}),
    # -- interim, no-body statuses, HTTP/1.0 -------------------------------------------------
    "100-then-200": ("HTTP/1.1 100 Continue\r\n\r\n" + OK + "Content-Length: 2\r\n\r\nok", b"ok", 200, {}),
    "103-hints-then-200": ("HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n" + OK
                           + "X-Final: 1\r\nContent-Length: 2\r\n\r\nok", b"ok", 200, {"header": ("X-Final", "1")}),
    "two-interim-then-200": ("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n" + OK
                             + "Content-Length: 2\r\n\r\nok", b"ok", 200, {}),
    "101-switching-refused": ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n", PROTOCOL, None, {}),
    "204-with-body-not-read": ("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello", b"", 204, {}),
    "304-with-body-not-read": ("HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n", b"", 304, {}),
    "http10-read-until-close": ("HTTP/1.0 200 OK\r\n\r\nhello", b"hello", 200, {"version": HttpVersion.Http1_0}),
    "http10-keep-alive-not-reused": ("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok",
                                     b"ok", 200, {"version": HttpVersion.Http1_0, "closes": True}),
    "http11-connection-close": (OK + "Connection: close\r\nContent-Length: 2\r\n\r\nok", b"ok", 200,
                                {"closes": True}),
}


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.usefixtures("fast_path")
async def test_h1_response_conformance(name, raw_server):
    """Each case on the aio API, then on the sync API (one server: a connection each), with
    the fast path on and off."""
    response, expected, status, checks = CASES[name]
    server = raw_server(responses=[response.encode("latin-1")])
    for api in ("aio", "sync"):
        await check_case(api, server.port, expected, status, checks)


async def check_case(api: str, port: int, expected: Any, status: Optional[int],
                     checks: Dict[str, Any]) -> None:
    conn = await connect(api, "h1", "127.0.0.1", port)
    try:
        if isinstance(expected, str):
            with pytest.raises(AwsCrtError) as info:
                await conn.request("GET", "/", timeout=5)
            assert info.value.name == expected, (api, info.value)
            return
        result = await conn.request("GET", "/", timeout=5)
        assert (result.status, result.body) == (status, expected), api
        if "header" in checks:
            assert checks["header"] in result.headers, result.headers
        if "trailers" in checks:
            assert result.trailers == checks["trailers"]
        if "version" in checks:
            assert result.version is checks["version"]
        if checks.get("closes"):
            await conn.shutdown(5)
            assert not conn.is_open()
    finally:
        await conn.close()


@API
async def test_head_response_has_no_body_and_connection_is_reused(api, raw_server):
    server = raw_server(responses=[(OK + "Content-Length: 5\r\n\r\n").encode(),
                                   (OK + "Content-Length: 2\r\n\r\nok").encode()])
    conn = await connect(api, "h1", "127.0.0.1", server.port)
    try:
        head = await conn.request("HEAD", "/", timeout=5)
        assert (head.status, head.body, head.header("content-length")) == (200, b"", "5")
        assert (await conn.request("GET", "/", timeout=5)).body == b"ok"
        assert server.connections_accepted == 1
    finally:
        await conn.close()


@API
async def test_bytes_after_204_never_become_a_response(api, raw_server):
    """A 204 that carries bytes anyway: those bytes are not its body, and are never taken
    for the next response: the connection is not reused."""
    server = raw_server(responses=[b"HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil"],
                        close_after=False)
    conn = await connect(api, "h1", "127.0.0.1", server.port)
    try:
        first = await conn.request("GET", "/", timeout=5)
        assert (first.status, first.body) == (204, b"")
        with pytest.raises(AwsCrtError) as info:
            await conn.request("GET", "/", timeout=5)
        assert info.value.name in ("AWS_ERROR_HTTP_CONNECTION_CLOSED", PROTOCOL)
    finally:
        await conn.close()


def test_case_list_covers_the_brief():
    for needle in ("cl-and-te", "cl-differing", "chunk-size-plus", "chunk-size-0x", "underscore",
                   "17-hex", "negative", "bare-lf", "nul-in-value", "bare-cr", "obs-fold",
                   "space-before-colon", "no-reason", "100-then", "204-with-body", "http10-keep-alive"):
        assert any(needle in name for name in CASES), needle
    assert all(isinstance(v[0], str) for v in CASES.values())
    assert List and Optional  # typing names used in annotations above
