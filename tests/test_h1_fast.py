"""The HTTP/1.1 fast path's head reader and request builder give exactly h11's events.

``read_response_head`` must return the event h11's own reader returns (status, reason,
version, headers with wire case) and leave the same bytes behind, or raise the same error;
``request_event`` must build the request h11 builds, or refuse what h11 refuses. Compared on
the conformance corpus, on hand-picked edge heads and on generated ones.
"""

from __future__ import annotations

from typing import Any, Tuple

import h11
import pytest
from h11._readers import maybe_read_from_SEND_RESPONSE_server
from h11._receivebuffer import ReceiveBuffer
from hypothesis import given, settings
from hypothesis import strategies as st

from crt_http.aio._h1_fast import read_response_head, request_event
from tests.clients import connect
from tests.faults.test_conformance_h1 import CASES

EDGE_HEADS = [
    b"HTTP/1.1 200 OK\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
    b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n",                 # incomplete
    b"HTTP/1.1 200 OK\r\nA: b\r\n\r",                            # incomplete
    b"HTTP/1.1 200\r\nA: b\r\n\r\n",                             # no reason
    b"HTTP/1.1 200 \r\nA: b\r\n\r\n",                            # empty reason
    b"HTTP/1.1 200 O\tK \t\r\nA: b\r\n\r\n",
    b"HTTP/1.0 404 Not Found\r\nA:b\r\nC:  d e  \r\n\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nA: b\r\n\r\n",
    b"HTTP/1.1 101 Switching\r\nUpgrade: x\r\n\r\n",
    b"HTTP/1.1 200 OK\nA: b\n\n",                                # bare LF
    b"HTTP/1.1 200 OK\r\nA: b\n\r\nrest\r\n\r\n",                # bare LF ends the head early
    b"HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n",                    # obs-fold
    b"HTTP/1.1 200 OK\r\n c\r\n\r\n",                            # fold at the start
    b"\r\nHTTP/1.1 200 OK\r\n\r\n",                              # leading empty line
    b"\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nA : b\r\n\r\n",                         # space before the colon
    b"HTTP/1.1 200 OK\r\nA: b\x00c\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nA: b\x0bc\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nA: \xff\xfe\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n@A: b\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nA:\r\n\r\n",
    b"HTTP/2.0 200 OK\r\n\r\n",
    b"HTTP/1.1 20 OK\r\n\r\n",
    b"http/1.1 200 OK\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
    b"\x16\x03\x01\x00",                                         # TLS where HTTP was expected
]


def outcome(reader: Any, data: bytes) -> Tuple[Any, ...]:
    """What ``reader`` makes of ``data``: (event fields or error) and the bytes left."""
    buf = ReceiveBuffer()
    buf += data
    try:
        event = reader(buf)
    except h11.ProtocolError as exc:
        return ("error", type(exc), str(exc), bytes(buf))
    if event is None:
        return ("need data", bytes(buf))
    return (type(event), event.status_code, bytes(event.reason), bytes(event.http_version),
            [(bytes(n), bytes(v)) for n, v in event.headers.raw_items()], list(event.headers),
            bytes(buf))


def assert_same(data: bytes) -> None:
    assert outcome(read_response_head, data) == outcome(maybe_read_from_SEND_RESPONSE_server, data)


@pytest.mark.parametrize("name", list(CASES))
def test_conformance_heads_read_as_h11_reads_them(name):
    assert_same(CASES[name][0].encode("latin-1"))


@pytest.mark.parametrize("data", EDGE_HEADS)
def test_edge_heads_read_as_h11_reads_them(data):
    assert_same(data)


def test_fast_reader_takes_a_plain_head_itself():
    """The equality above must not come from always handing over to h11's reader."""
    buf = ReceiveBuffer()
    buf += b"HTTP/1.1 200 OK\r\nA: b\r\n\r\nbody"
    event = read_response_head(buf)
    assert type(event) is h11.Response and bytes(buf) == b"body"
    assert type(event.headers.raw_items()[0][0]) is bytes  # ours: bytes; h11's: bytearray


def test_a_head_read_again_is_the_same_event_and_errors_are_not_kept():
    head = b"HTTP/1.1 200 OK\r\nX-Memo: 1\r\nContent-Length: 2\r\n\r\n"
    events = []
    for _ in range(2):
        buf = ReceiveBuffer()
        buf += head + b"ok"
        events.append(read_response_head(buf))
        assert bytes(buf) == b"ok"
    assert events[0] is events[1] and events[0].headers.raw_items()[0] == (b"X-Memo", b"1")
    bad = b"HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n"
    for _ in range(2):
        assert outcome(read_response_head, bad)[0] == "error"


def test_a_request_head_sent_again_is_the_same_event():
    headers = [("Host", "a"), ("X-Memo", "1")]
    first = request_event("GET", "/memo", headers)
    assert request_event("GET", "/memo", list(headers)) is first
    assert request_event("GET", "/memo", [("Host", "a"), ("X-Memo", "2")]) is not first
    assert request_event("PUT", "/memo", headers).method == b"PUT"


LINE = st.sampled_from([
    b"A: b", b"Content-Length: 3", b"X-Y:z", b"A: b c", b"A:  ", b" folded", b"\tfolded",
    b"A b", b"A: \x00", b"A: \x7f\x80", b"Transfer-Encoding: chunked", b"", b"A: b\r",
    b"Connection: close", b":x", b"A:\tb\t",
])
STATUS = st.sampled_from([b"HTTP/1.1 200 OK", b"HTTP/1.1 204", b"HTTP/1.0 100 Continue",
                          b"HTTP/1.1 200 O\x01K", b"HTTP/1.1 99 X", b"", b"HTTP/1.1 302 Found "])
ENDING = st.sampled_from([b"\r\n", b"\n"])


@settings(max_examples=300, deadline=None)
@given(STATUS, st.lists(st.tuples(LINE, ENDING), max_size=6), ENDING, st.binary(max_size=8))
def test_generated_heads_read_as_h11_reads_them(status, lines, last, rest):
    data = status + b"\r\n" + b"".join(line + end for line, end in lines) + last + rest
    assert_same(data)


REQUEST_HEADERS = [
    [("Host", "example.com"), ("User-Agent", "x/1")],
    [("host", "a"), ("Content-Length", "5")],
    [("Host", "a"), ("Transfer-Encoding", "chunked")],
    [("Host", "a"), ("X-Empty", "")],
    [("Host", "a"), ("X-Tab", "a\tb")],
]


@pytest.mark.parametrize("headers", REQUEST_HEADERS)
def test_request_event_equals_h11_request(headers):
    ours = request_event("GET", "/p?q=1", headers)
    theirs = h11.Request(method="GET", target="/p?q=1", headers=headers)
    assert (ours.method, ours.target, ours.http_version) == (theirs.method, theirs.target, theirs.http_version)
    assert ours.headers.raw_items() == theirs.headers.raw_items() and list(ours.headers) == list(theirs.headers)
    a, b = h11.Connection(h11.CLIENT), h11.Connection(h11.CLIENT)
    assert a.send(ours) == b.send(theirs)


@pytest.mark.parametrize("headers", [
    [("Host", "a"), ("X", " leading")], [("Host", "a"), ("X", "trailing ")],
    [("Host", "a"), ("X", "a\x0bb")], [("X", "no host")], [("Host", "a"), ("host", "b")],
    [("Host", "a"), ("Content-Length", "1"), ("Content-Length", "2")],
    [("Host", "a"), ("Transfer-Encoding", "gzip")],
])
def test_request_event_refuses_what_h11_refuses(headers):
    with pytest.raises(h11.LocalProtocolError):
        h11.Request(method="GET", target="/", headers=headers)
    with pytest.raises(h11.LocalProtocolError):
        request_event("GET", "/", headers)


def test_request_event_sends_non_ascii_values_as_utf8():
    event = request_event("GET", "/", [("Host", "a"), ("X-Name", "caf\u00e9")])
    assert event.headers.raw_items()[1] == (b"X-Name", "caf\u00e9".encode())


@pytest.mark.parametrize("api", ["aio", "sync"])
async def test_same_head_frames_by_request_method(api, raw_server):
    """One head, byte for byte, answers GET, HEAD and GET on one connection: the repeated
    (same) event must still be framed by each request's method (HEAD: no body)."""
    head = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"
    server = raw_server(responses=[(head + "ok").encode(), head.encode(), (head + "ok").encode()])
    conn = await connect(api, "h1", "127.0.0.1", server.port)
    try:
        got = [await conn.request(method, "/", timeout=5) for method in ("GET", "HEAD", "GET")]
    finally:
        await conn.close()
    assert [(r.status, r.body) for r in got] == [(200, b"ok"), (200, b""), (200, b"ok")]
    assert server.connections_accepted == 1
