"""HTTP/2 "client MUST" conformance (RFC 9113, RFC 7541), the case list of h2spec's client
mode, each case a scripted server over a real socket (tests/faults/h2peer.py).

Every case ends with the delivered body exactly right or a named error, and checks what
the client told the server: the GOAWAY error code of a connection error, the RST_STREAM
code of a stream error (after which the connection must still serve a request), the
SETTINGS / PING acknowledgements. Protocol rules, not loop behaviour: asyncio only.
"""

from __future__ import annotations

import asyncio
import struct
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple

import pytest
from hyperframe.frame import (
    ContinuationFrame, DataFrame, GoAwayFrame, HeadersFrame, PingFrame, SettingsFrame,
)

from crt_http.exceptions import AwsCrtError
from tests.clients import connect
from tests.faults.h2peer import (
    CANCEL, COMPRESSION_ERROR, FLOW_CONTROL_ERROR, FRAME_SIZE_ERROR, NO_ERROR, PROTOCOL_ERROR,
    STREAM_CLOSED, H2Peer, client_frames, goaway_codes, raw_frame, rst_codes, script_server,
)

API = pytest.mark.parametrize("api", ["aio", "sync"])
PROTOCOL = "AWS_ERROR_HTTP_PROTOCOL_ERROR"
Script = Callable[[H2Peer, int], Awaitable[None]]

# Frame types
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, \
    CONTINUATION = range(10)
END_STREAM, END_HEADERS, PADDED, ACK = 0x1, 0x4, 0x8, 0x1


def setting(ident: int, value: int) -> bytes:
    return struct.pack(">HI", ident, value)


def u32(value: int) -> bytes:
    return struct.pack(">I", value)


@dataclass
class Case:
    """One conformance case: what the server does after the first request arrives."""

    script: Script
    body: Optional[bytes] = None  # the request succeeds with exactly this body
    error: Optional[str] = None  # ... or fails with this error name
    goaway: Optional[int] = None  # the client's GOAWAY carries this code
    rst: Optional[int] = None  # the client's RST_STREAM for stream 1 carries this code
    usable: bool = False  # the connection serves a second request afterwards
    header: Optional[Tuple[str, str]] = None  # a response header delivered as given
    kwargs: Dict[str, Any] = field(default_factory=dict)


async def ok(peer: H2Peer, sid: int, body: bytes = b"ok") -> None:
    peer.send(peer.head(sid), peer.data(sid, body, end_stream=True))


async def then_serve_next(peer: H2Peer) -> None:
    sid = await peer.request()
    await ok(peer, sid, b"second")


def frames(*raw: Any, respond: bool = False, serve_next: bool = False) -> Script:
    """A script writing ``raw`` (bytes, frames or callables of sid); then maybe a response."""
    async def script(peer: H2Peer, sid: int) -> None:
        for item in raw:
            peer.send(item(peer, sid) if callable(item) else item)
        if respond:
            await ok(peer, sid)
        if serve_next:
            await then_serve_next(peer)
    return script


def head(peer: H2Peer, sid: int) -> bytes:
    return peer.head(sid).serialize()


def block(headers: List[Tuple[str, str]], status: Optional[str] = "200") -> Callable[[H2Peer, int], bytes]:
    """A HEADERS frame (END_HEADERS, END_STREAM) with exactly these fields."""
    def make(peer: H2Peer, sid: int) -> bytes:
        fields = ([(":status", status)] if status is not None else []) + headers
        return raw_frame(HEADERS, END_HEADERS | END_STREAM, sid, peer.encoder.encode(fields))
    return make


def continuation_case(*pieces: Callable[[H2Peer, int, bytes], List[bytes]]) -> Script:
    """HEADERS without END_HEADERS carrying half a block, then whatever ``pieces`` write."""
    async def script(peer: H2Peer, sid: int) -> None:
        encoded = peer.block(200)
        half = len(encoded) // 2
        peer.send(raw_frame(HEADERS, 0, sid, encoded[:half]))
        for piece in pieces:
            for raw in piece(peer, sid, encoded[half:]):
                peer.send(raw)
    return script


def rest_on(stream_of: Callable[[int], int], ftype: int = CONTINUATION, flags: int = END_HEADERS,
            end_stream_data: bool = True) -> Callable[[H2Peer, int, bytes], List[bytes]]:
    def piece(peer: H2Peer, sid: int, rest: bytes) -> List[bytes]:
        out = [raw_frame(ftype, flags, stream_of(sid), rest)]
        if end_stream_data:
            out.append(peer.data(sid, b"ok", end_stream=True).serialize())
        return out
    return piece


def interleave(raw: Callable[[int], bytes]) -> Callable[[H2Peer, int, bytes], List[bytes]]:
    return lambda peer, sid, rest: [raw(sid)]


CASES: Dict[str, Case] = {
    # 4.1 frame format
    "4.1/unknown-frame-type-ignored": Case(frames(raw_frame(0xEE, 0, 0, b"hello"), respond=True), body=b"ok"),
    "4.1/undefined-flags-ignored": Case(frames(
        lambda p, s: raw_frame(HEADERS, END_HEADERS | 0x10 | 0x40, s, p.block(200)),
        lambda p, s: raw_frame(DATA, END_STREAM | 0x20, s, b"ok")), body=b"ok"),
    "4.1/reserved-bit-ignored": Case(frames(
        head, lambda p, s: raw_frame(DATA, END_STREAM, s | 0x80000000, b"ok")), body=b"ok"),
    # 4.2 frame size (we advertise MAX_FRAME_SIZE 1 MiB in automatic window mode)
    "4.2/data-over-max-frame-size": Case(frames(
        head, lambda p, s: raw_frame(DATA, 0, s, b"x" * (1024 * 1024 + 1))), error=PROTOCOL,
        goaway=FRAME_SIZE_ERROR),
    "4.2/headers-over-max-frame-size": Case(frames(
        lambda p, s: raw_frame(HEADERS, END_HEADERS, s, b"\x00" * (1024 * 1024 + 1))),
        error=PROTOCOL, goaway=FRAME_SIZE_ERROR),
    "4.2/data-over-advertised-16k": Case(frames(
        head, lambda p, s: raw_frame(DATA, 0, s, b"x" * 16385)), error=PROTOCOL,
        goaway=FRAME_SIZE_ERROR, kwargs={"manual_window_management": True, "initial_window_size": 65535}),
    # 4.3 header compression
    "4.3/invalid-header-block": Case(frames(
        lambda p, s: raw_frame(HEADERS, END_HEADERS | END_STREAM, s, b"\x80")),
        error=PROTOCOL, goaway=COMPRESSION_ERROR),
    "4.3/index-out-of-table": Case(frames(
        lambda p, s: raw_frame(HEADERS, END_HEADERS | END_STREAM, s, b"\xff\x80\x01")),
        error=PROTOCOL, goaway=COMPRESSION_ERROR),
    "4.3/table-size-update-over-setting": Case(frames(
        lambda p, s: raw_frame(HEADERS, END_HEADERS | END_STREAM, s, b"\x3f\xe1\xff\x03\x88")),
        error=PROTOCOL, goaway=COMPRESSION_ERROR),
    "4.3/priority-between-headers-and-continuation": Case(continuation_case(
        interleave(lambda sid: raw_frame(PRIORITY, 0, sid, u32(0) + b"\x10"))),
        error=PROTOCOL, goaway=PROTOCOL_ERROR),
    # 5.1 stream states
    "5.1/data-on-idle-stream": Case(frames(raw_frame(DATA, 0, 3, b"x")), error=PROTOCOL,
                                    goaway=PROTOCOL_ERROR),
    "5.1/rst-stream-on-idle-stream": Case(frames(raw_frame(RST_STREAM, 0, 3, u32(CANCEL))),
                                          error=PROTOCOL, goaway=PROTOCOL_ERROR),
    "5.1/window-update-on-idle-stream": Case(frames(raw_frame(WINDOW_UPDATE, 0, 3, u32(1))),
                                             error=PROTOCOL, goaway=PROTOCOL_ERROR),
    "5.1/data-on-closed-stream": Case(frames(
        head, lambda p, s: raw_frame(DATA, END_STREAM, s, b"ok"),
        lambda p, s: raw_frame(DATA, 0, s, b"late"), serve_next=True),
        body=b"ok", rst=STREAM_CLOSED, usable=True),
    "5.1.1/headers-on-even-stream": Case(frames(lambda p, s: raw_frame(
        HEADERS, END_HEADERS, 2, p.block(200))), error=PROTOCOL, goaway=PROTOCOL_ERROR),
    # 5.5 extending HTTP/2
    "5.5/unknown-frame-inside-header-block": Case(continuation_case(
        interleave(lambda sid: raw_frame(0xEE, 0, sid, b"x"))), error=PROTOCOL, goaway=PROTOCOL_ERROR),
    "5.5/altsvc-ignored": Case(frames(raw_frame(0xA, 0, 0, b"\x00\x09localhost" + b'h2=":443"'),
                                      respond=True), body=b"ok"),
    "5.5/malformed-altsvc-ignored": Case(frames(raw_frame(0xA, 0, 0, b""), respond=True), body=b"ok"),
    # 6.1 DATA
    "6.1/data-on-stream-0": Case(frames(raw_frame(DATA, 0, 0, b"x")), error=PROTOCOL,
                                 goaway=PROTOCOL_ERROR),
    "6.1/data-pad-length-too-long": Case(frames(
        head, lambda p, s: raw_frame(DATA, PADDED | END_STREAM, s, b"\x10ok")),
        error=PROTOCOL, goaway=PROTOCOL_ERROR),
    "6.1/padded-data-delivered": Case(frames(
        head, lambda p, s: raw_frame(DATA, PADDED | END_STREAM, s, b"\x05ok" + b"\0" * 5)), body=b"ok"),
    # 6.2 HEADERS
    "6.2/headers-on-stream-0": Case(frames(lambda p, s: raw_frame(
        HEADERS, END_HEADERS, 0, p.block(200))), error=PROTOCOL, goaway=PROTOCOL_ERROR),
    "6.2/headers-pad-length-too-long": Case(frames(lambda p, s: raw_frame(
        HEADERS, END_HEADERS | PADDED, s, b"\xff" + p.block(200))), error=PROTOCOL, goaway=PROTOCOL_ERROR),
    # 6.3 PRIORITY
    "6.3/priority-on-stream-0": Case(frames(raw_frame(PRIORITY, 0, 0, u32(1) + b"\x10")),
                                     error=PROTOCOL, goaway=PROTOCOL_ERROR),
    "6.3/priority-wrong-length": Case(frames(lambda p, s: raw_frame(PRIORITY, 0, s, u32(0))),
                                      error=PROTOCOL, goaway=FRAME_SIZE_ERROR),
    # 6.4 RST_STREAM
    "6.4/rst-stream-on-stream-0": Case(frames(raw_frame(RST_STREAM, 0, 0, u32(CANCEL))),
                                       error=PROTOCOL, goaway=PROTOCOL_ERROR),
    "6.4/rst-stream-wrong-length": Case(frames(lambda p, s: raw_frame(RST_STREAM, 0, s, b"\0\0\0")),
                                        error=PROTOCOL, goaway=FRAME_SIZE_ERROR),
    "6.4/rst-stream-fails-only-that-stream": Case(frames(
        lambda p, s: raw_frame(RST_STREAM, 0, s, u32(CANCEL)), serve_next=True),
        error="AWS_ERROR_HTTP_RST_STREAM_RECEIVED", usable=True),
    # 6.5 SETTINGS (after the handshake: handshake-time errors are tested below)
    "6.5/settings-ack-with-payload": Case(frames(raw_frame(SETTINGS, ACK, 0, b"\0")),
                                          error=PROTOCOL, goaway=FRAME_SIZE_ERROR),
    "6.5/settings-on-stream-1": Case(frames(lambda p, s: raw_frame(SETTINGS, 0, s, setting(3, 100))),
                                     error=PROTOCOL, goaway=PROTOCOL_ERROR),
    "6.5/settings-length-not-multiple-of-6": Case(frames(raw_frame(SETTINGS, 0, 0, b"\0\3\0")),
                                                  error=PROTOCOL, goaway=FRAME_SIZE_ERROR),
    "6.5.2/enable-push-2": Case(frames(raw_frame(SETTINGS, 0, 0, setting(2, 2))),
                                error=PROTOCOL, goaway=PROTOCOL_ERROR),
    "6.5.2/initial-window-size-2^31": Case(frames(raw_frame(SETTINGS, 0, 0, setting(4, 2**31))),
                                           error=PROTOCOL, goaway=FLOW_CONTROL_ERROR),
    "6.5.2/max-frame-size-too-small": Case(frames(raw_frame(SETTINGS, 0, 0, setting(5, 16383))),
                                           error=PROTOCOL, goaway=PROTOCOL_ERROR),
    "6.5.2/max-frame-size-too-large": Case(frames(raw_frame(SETTINGS, 0, 0, setting(5, 2**24))),
                                           error=PROTOCOL, goaway=PROTOCOL_ERROR),
    "6.5.2/unknown-setting-ignored": Case(frames(raw_frame(SETTINGS, 0, 0, setting(0xFF, 1)),
                                                 respond=True), body=b"ok"),
    # 6.7 PING
    "6.7/ping-on-stream-1": Case(frames(lambda p, s: raw_frame(PING, 0, s, b"12345678")),
                                 error=PROTOCOL, goaway=PROTOCOL_ERROR),
    "6.7/ping-wrong-length": Case(frames(raw_frame(PING, 0, 0, b"123456")),
                                  error=PROTOCOL, goaway=FRAME_SIZE_ERROR),
    # 6.8 GOAWAY
    "6.8/goaway-on-stream-1": Case(frames(lambda p, s: raw_frame(GOAWAY, 0, s, u32(0) + u32(0))),
                                   error=PROTOCOL, goaway=PROTOCOL_ERROR),
    "6.8/goaway-last-stream-id-lower": Case(frames(GoAwayFrame(0, last_stream_id=0, error_code=NO_ERROR)),
                                            error="AWS_ERROR_HTTP_GOAWAY_RECEIVED"),
    "6.8/goaway-last-stream-id-covers-stream": Case(frames(
        GoAwayFrame(0, last_stream_id=1, error_code=NO_ERROR), respond=True), body=b"ok"),
    # 6.9 WINDOW_UPDATE
    "6.9/window-update-0-connection": Case(frames(raw_frame(WINDOW_UPDATE, 0, 0, u32(0))),
                                           error=PROTOCOL, goaway=PROTOCOL_ERROR),
    "6.9/window-update-0-stream": Case(frames(lambda p, s: raw_frame(WINDOW_UPDATE, 0, s, u32(0))),
                                       error=PROTOCOL, goaway=PROTOCOL_ERROR),
    "6.9/window-update-wrong-length": Case(frames(raw_frame(WINDOW_UPDATE, 0, 0, b"\0\0\1")),
                                           error=PROTOCOL, goaway=FRAME_SIZE_ERROR),
    "6.9.1/connection-window-over-2^31-1": Case(frames(
        raw_frame(WINDOW_UPDATE, 0, 0, u32(2**31 - 1)), raw_frame(WINDOW_UPDATE, 0, 0, u32(2**31 - 1))),
        error=PROTOCOL, goaway=FLOW_CONTROL_ERROR),
    "6.9.1/stream-window-over-2^31-1": Case(frames(
        head, lambda p, s: raw_frame(WINDOW_UPDATE, 0, s, u32(2**31 - 1)),
        lambda p, s: raw_frame(WINDOW_UPDATE, 0, s, u32(2**31 - 1)), serve_next=True),
        error=PROTOCOL, rst=FLOW_CONTROL_ERROR, usable=True),
    "5.1/headers-on-idle-client-stream": Case(frames(lambda p, s: raw_frame(
        HEADERS, END_HEADERS, s + 2, p.block(200))), error=PROTOCOL, goaway=PROTOCOL_ERROR),
    "6.9.1/data-beyond-our-window": Case(frames(
        head, lambda p, s: raw_frame(DATA, 0, s, b"x" * 2000)), error=PROTOCOL,
        goaway=FLOW_CONTROL_ERROR, kwargs={"manual_window_management": True, "initial_window_size": 1000}),
    "6.9.2/initial-window-size-overflows-stream-window": Case(frames(
        head, lambda p, s: raw_frame(WINDOW_UPDATE, 0, s, u32(2**31 - 1 - 65535)),
        raw_frame(SETTINGS, 0, 0, setting(4, 65536))), error=PROTOCOL, goaway=FLOW_CONTROL_ERROR),
    # 6.10 CONTINUATION
    "6.10/continuation-frames-ok": Case(continuation_case(rest_on(lambda sid: sid)), body=b"ok"),
    "6.10/continuation-after-end-headers": Case(frames(
        head, lambda p, s: raw_frame(CONTINUATION, END_HEADERS, s, p.block(200))),
        error=PROTOCOL, goaway=PROTOCOL_ERROR),
    "6.10/continuation-on-stream-0": Case(continuation_case(rest_on(lambda sid: 0)),
                                          error=PROTOCOL, goaway=PROTOCOL_ERROR),
    "6.10/continuation-on-other-stream": Case(continuation_case(rest_on(lambda sid: sid + 2)),
                                              error=PROTOCOL, goaway=PROTOCOL_ERROR),
    "6.10/continuation-after-data": Case(frames(
        head, lambda p, s: raw_frame(DATA, 0, s, b"x"),
        lambda p, s: raw_frame(CONTINUATION, END_HEADERS, s, p.block(200))),
        error=PROTOCOL, goaway=PROTOCOL_ERROR),
    "6.10/data-inside-header-block": Case(continuation_case(
        interleave(lambda sid: raw_frame(DATA, 0, sid, b"x"))), error=PROTOCOL, goaway=PROTOCOL_ERROR),
    "6.10/ping-inside-header-block": Case(continuation_case(
        interleave(lambda sid: raw_frame(PING, 0, 0, b"12345678"))), error=PROTOCOL, goaway=PROTOCOL_ERROR),
    # 8.1 malformed responses. h2 detects most of them and ends the whole connection (RFC
    # 9113 5.4.1 lets a stream error be treated as a connection error); the checks of this
    # client (a :status that is not three digits) end only the stream. END_STREAM was on the
    # HEADERS frame, so the stream is closed on both sides and needs no RST_STREAM.
    "8.1/uppercase-header-name": Case(frames(block([("X-Upper", "v")])),
                                      error=PROTOCOL, goaway=PROTOCOL_ERROR),
    "8.1/pseudo-header-after-regular": Case(frames(
        block([("x-a", "v"), (":status", "200")], status=None)), error=PROTOCOL, goaway=PROTOCOL_ERROR),
    "8.1/connection-specific-header": Case(frames(block([("connection", "keep-alive")])),
                                           error=PROTOCOL, goaway=PROTOCOL_ERROR),
    "8.1/missing-status": Case(frames(block([("x-a", "v")], status=None)),
                               error=PROTOCOL, goaway=PROTOCOL_ERROR),
    "8.1/invalid-status": Case(frames(block([], status="2xx"), serve_next=True),
                               error=PROTOCOL, usable=True),
    "8.1/status-on-open-stream-reset": Case(frames(
        lambda p, s: raw_frame(HEADERS, END_HEADERS, s, p.encoder.encode([(":status", "20")])),
        serve_next=True), error=PROTOCOL, rst=PROTOCOL_ERROR, usable=True),
    "8.1/content-length-mismatch": Case(frames(
        lambda p, s: p.head(s, 200, [("content-length", "5")]).serialize(),
        lambda p, s: raw_frame(DATA, END_STREAM, s, b"ok")), error=PROTOCOL, goaway=PROTOCOL_ERROR),
    "8.1/cr-in-header-value": Case(frames(block([("x-a", "v\rw")])),
                                   error=PROTOCOL, goaway=PROTOCOL_ERROR),
    "8.1/nul-in-header-value": Case(frames(block([("x-a", "v\x00w")])),
                                    error=PROTOCOL, goaway=PROTOCOL_ERROR),
    "8.1/lf-in-header-value": Case(frames(block([("x-a", "v\nw")])),
                                   error=PROTOCOL, goaway=PROTOCOL_ERROR),
    "8.1/invalid-utf8-value-latin1": Case(frames(
        lambda p, s: raw_frame(HEADERS, END_HEADERS | END_STREAM, s, p.encoder.encode(
            [(b":status", b"200"), (b"x-a", b"\xff\xfe")]))), body=b"", header=("x-a", "\u00ff\u00fe")),
    # 8.4 server push
    "8.4/push-promise-when-disabled": Case(frames(lambda p, s: raw_frame(
        PUSH_PROMISE, END_HEADERS, s, u32(2) + p.encoder.encode(
            [(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "x")]))),
        error=PROTOCOL, goaway=PROTOCOL_ERROR),
}


@pytest.mark.parametrize("name", list(CASES))
async def test_h2_conformance(name, raw_server):
    """Each case on the aio API, then on the sync API (one scripted server, a connection
    each; the client's frames are checked per connection)."""
    case = CASES[name]

    async def script(peer: H2Peer) -> None:
        await peer.handshake()
        sid = await peer.request()
        await case.script(peer, sid)

    server = script_server(raw_server, script)
    for index, api in enumerate(("aio", "sync")):
        await check_case(api, case, server, index)


async def check_case(api: str, case: Case, server: Any, index: int) -> None:
    conn = await connect(api, "h2", "127.0.0.1", server.port, **case.kwargs)
    try:
        ex = conn.start("GET", "/")
        if case.error is None:
            response = await ex.response(5)
            assert response.body == case.body, api
            if case.header is not None:
                assert case.header in response.headers, response.headers
        else:
            with pytest.raises(AwsCrtError) as info:
                await ex.response(5)
            assert info.value.name == case.error, (api, info.value)
        if case.usable:
            assert (await conn.request("GET", "/", timeout=5)).body == b"second"
        sent = await client_said(server, case, index)
        if case.goaway is not None:
            assert goaway_codes(sent)[:1] == [case.goaway], (api, sent)
            await conn.shutdown(5)
        else:
            assert not [c for c in goaway_codes(sent) if c != NO_ERROR], (api, sent)
        if case.rst is not None:
            assert (1, case.rst) in rst_codes(sent), (api, sent)
    finally:
        await conn.close()


async def client_said(server: Any, case: Case, index: int, timeout: float = 2.0) -> List[Any]:
    """The frames of client connection ``index`` once the expected GOAWAY / RST_STREAM is
    in (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        records = server.received_per_connection
        sent = client_frames(records[index]) if len(records) > index else []
        done = ((case.goaway is None or goaway_codes(sent))
                and (case.rst is None or rst_codes(sent)))
        if done or time.monotonic() > deadline:
            return sent
        await asyncio.sleep(0.01)


# ---- handshake ----------------------------------------------------------------------------


@API
async def test_client_acks_server_settings_and_ping(api, raw_server):
    """6.5.3: SETTINGS are acknowledged; 6.7: a PING is answered with the same payload, a
    PING ACK is not answered."""
    async def script(peer: H2Peer) -> None:
        await peer.handshake(settings={3: 50})
        sid = await peer.request()
        peer.send(PingFrame(0, b"pingpong"), PingFrame(0, b"ackedack", flags=["ACK"]))
        await ok(peer, sid)

    server = script_server(raw_server, script)
    conn = await connect(api, "h2", "127.0.0.1", server.port)
    try:
        assert (await conn.request("GET", "/")).body == b"ok"
        await asyncio.sleep(0.1)
        sent = client_frames(server.received)
        assert any(isinstance(f, SettingsFrame) and "ACK" in f.flags for f in sent)
        pings = [f for f in sent if isinstance(f, PingFrame)]
        assert [(f.opaque_data, "ACK" in f.flags) for f in pings] == [(b"pingpong", True)]
    finally:
        await conn.close()


@API
async def test_first_server_frame_not_settings(api, raw_server):
    """3.4: the server preface is a SETTINGS frame; anything else fails the connection
    attempt (named 2060 by this client: the peer does not speak HTTP/2 as it must)."""
    async def script(peer: H2Peer) -> None:
        await peer.handshake(send_settings=False, ack=False)
        peer.send(PingFrame(0, b"12345678"))

    server = script_server(raw_server, script)
    with pytest.raises(AwsCrtError) as info:
        await connect(api, "h2", "127.0.0.1", server.port)
    assert info.value.name == "AWS_ERROR_HTTP_UNSUPPORTED_PROTOCOL"


@API
async def test_missing_server_settings_bounded_by_connect_timeout(api, raw_server):
    from crt_http.io import SocketOptions

    async def script(peer: H2Peer) -> None:
        await peer.handshake(send_settings=False, ack=False)

    server = script_server(raw_server, script)
    socket_options = SocketOptions()
    socket_options.connect_timeout_ms = 400
    started = time.monotonic()
    with pytest.raises(AwsCrtError) as info:
        await connect(api, "h2", "127.0.0.1", server.port, socket_options=socket_options)
    assert info.value.name == "AWS_ERROR_HTTP_UNSUPPORTED_PROTOCOL"
    assert time.monotonic() - started < 2


@API
async def test_goaway_lower_then_new_connection_retries(api, raw_server):
    """6.8: streams above last_stream_id were not processed: the error says so (retry on a
    new connection), and a new request on this connection is refused at once."""
    async def script(peer: H2Peer) -> None:
        await peer.handshake()
        await peer.request()
        peer.send(GoAwayFrame(0, last_stream_id=0, error_code=NO_ERROR))

    server = script_server(raw_server, script)
    conn = await connect(api, "h2", "127.0.0.1", server.port)
    try:
        with pytest.raises(AwsCrtError) as info:
            await conn.request("GET", "/", timeout=5)
        assert info.value.name == "AWS_ERROR_HTTP_GOAWAY_RECEIVED"
        assert "Establish a new connection" in info.value.message
        with pytest.raises(AwsCrtError) as info:
            conn.start()
        assert info.value.name in ("AWS_ERROR_HTTP_GOAWAY_RECEIVED", "AWS_ERROR_HTTP_CONNECTION_CLOSED")
        assert await conn.shutdown(5) is None
    finally:
        await conn.close()


def test_case_ids_follow_rfc_sections():
    assert all(name.split("/")[0][0].isdigit() for name in CASES)
    assert len(CASES) >= 50
    assert DataFrame and HeadersFrame and ContinuationFrame  # used through raw_frame equivalents
