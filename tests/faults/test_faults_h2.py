"""HTTP/2 fault injection against the h2 test server (``x-fault``), on both APIs.

RST_STREAM at every stage fails only that stream (2070 ``..._RST_STREAM_RECEIVED``; the
connection stays usable); GOAWAY fails the streams above its last stream id with
``..._GOAWAY_RECEIVED`` and closes (cleanly for NO_ERROR); a dropped connection is 2058;
frame and HPACK violations are 2074 with the client's GOAWAY carrying the right code; a
first-byte timeout resets just the stream (RST_STREAM CANCEL reaches the server) and the
connection keeps serving. Each case bounds every completion and pending aio waiter.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, List, Tuple

import pytest

from tests.clients import connect
from tests.faults.h2peer import CANCEL, COMPRESSION_ERROR, INTERNAL_ERROR, PROTOCOL_ERROR
from tests.faults.support import (
    OPEN, aio_waiters, assert_settled, delivered_body, expect_error, waiter_errors,
)
from tests.h1_support import tls_options
from tests.servers.common import pattern

# Transport-level cases run under both loops; the rest (protocol logic, timers) under asyncio.
API = pytest.mark.parametrize("api", ["aio", "sync"])

N = 1000
RST = "AWS_ERROR_HTTP_RST_STREAM_RECEIVED"
GOAWAY = "AWS_ERROR_HTTP_GOAWAY_RECEIVED"
CLOSED = "AWS_ERROR_HTTP_CONNECTION_CLOSED"
PROTOCOL = "AWS_ERROR_HTTP_PROTOCOL_ERROR"


def fault(name: str, *extra: Tuple[str, str]) -> List[Tuple[str, str]]:
    return [("x-fault", name), ("x-repeat-data", str(N)), *extra]


async def usable(conn: Any) -> None:
    """The connection still serves a request."""
    response = await conn.request("GET", "/echo", [("x-repeat-data", "300")], timeout=5)
    assert response.status == 200 and response.body == pattern(300)


@pytest.mark.both_loops
@API
@pytest.mark.parametrize("stage,delivered,code", [("before-headers", 0, INTERNAL_ERROR),
                                                  ("after-headers", 0, CANCEL),
                                                  ("mid-body", N // 2, INTERNAL_ERROR)])
async def test_rst_stream_fails_only_that_stream(api, stage, delivered, code, h2c_server, loop_impl):
    conn = await connect(api, "h2", "127.0.0.1", h2c_server.port, loop_impl=loop_impl)
    try:
        ex = conn.start("GET", "/", fault("rst-stream", ("x-fault-stage", stage),
                                          ("x-fault-code", str(code))))
        waiters = aio_waiters(ex)
        exc = await expect_error(ex.response(), RST)
        assert f"({code})" in exc.message
        await assert_settled(conn, [ex], waiters, shutdown=OPEN)
        if waiters:
            assert waiter_errors(waiters)[-1] == RST
        assert delivered_body(ex, waiters) == pattern(delivered)
        await usable(conn)
    finally:
        await conn.close()


@API
@pytest.mark.parametrize("code,shutdown", [(0, None), (INTERNAL_ERROR, GOAWAY)], ids=["no-error", "error"])
async def test_goaway_fails_streams_above_last_stream_id(api, code, shutdown, h2c_server, loop_impl):
    """Stream 1 is running (stalled, below the GOAWAY's last id) when stream 3 triggers a
    GOAWAY with last_stream_id 1: stream 3 fails, stream 1 still finishes (RFC 9113 6.8,
    whatever the error code), no new stream starts; then the connection closes, cleanly
    for NO_ERROR."""
    conn = await connect(api, "h2", "127.0.0.1", h2c_server.port, loop_impl=loop_impl)
    try:
        first = conn.start("GET", "/", [("x-repeat-data", "5000"), ("x-slow-response", "true"),
                                        ("x-throughput-bps", "20000")])
        second = conn.start("GET", "/", fault("goaway", ("x-fault-last-stream-id", "1"),
                                              ("x-fault-code", str(code))))
        waiters = aio_waiters(second)
        await expect_error(second.response(), GOAWAY)
        with pytest.raises(Exception) as info:
            conn.start()
        assert getattr(info.value, "name", "") in (GOAWAY, CLOSED)
        response = await first.response(5)  # at or below last_stream_id: it may finish
        assert response.body == pattern(5000)
        await assert_settled(conn, [first, second], waiters, shutdown=shutdown)
    finally:
        await conn.close()


@pytest.mark.both_loops
@API
async def test_server_drops_connection_mid_body(api, h2c_server, loop_impl):
    conn = await connect(api, "h2", "127.0.0.1", h2c_server.port, loop_impl=loop_impl)
    try:
        ex = conn.start("GET", "/", fault("close-mid-body"))
        waiters = aio_waiters(ex)
        await expect_error(ex.response(), CLOSED)
        await assert_settled(conn, [ex], waiters, shutdown=CLOSED)
        assert delivered_body(ex, waiters) == pattern(N // 2)
    finally:
        await conn.close()


@API
@pytest.mark.parametrize("variant,goaway_code", [("data-on-stream-0", PROTOCOL_ERROR),
                                                 ("bad-hpack", COMPRESSION_ERROR)])
async def test_protocol_violation_fails_connection_with_goaway(api, variant, goaway_code,
                                                               h2c_server, loop_impl):
    conn = await connect(api, "h2", "127.0.0.1", h2c_server.port, loop_impl=loop_impl)
    try:
        ex = conn.start("GET", "/", fault("protocol-error", ("x-fault-variant", variant)))
        waiters = aio_waiters(ex)
        await expect_error(ex.response(), PROTOCOL)
        await assert_settled(conn, [ex], waiters, shutdown=PROTOCOL)
        record = h2c_server.conn_records[-1]
        await _until(lambda: record.goaways_received)
        assert record.goaways_received[0][0] == goaway_code
    finally:
        await conn.close()


@API
async def test_push_promise_while_push_disabled(api, h2c_server, loop_impl):
    conn = await connect(api, "h2", "127.0.0.1", h2c_server.port, loop_impl=loop_impl)
    try:
        ex = conn.start("GET", "/", fault("push-promise"))
        await expect_error(ex.response(), PROTOCOL)
        await assert_settled(conn, [ex], shutdown=PROTOCOL)
        # ENABLE_PUSH=0 was advertised. (The client's GOAWAY code is checked by the
        # conformance suite: this server keeps writing, so the client's close may be a RST.)
        assert h2c_server.conn_records[-1].settings.get(2) == 0
    finally:
        await conn.close()


@API
async def test_server_ping_is_acked_and_response_delivered(api, h2c_server, loop_impl):
    conn = await connect(api, "h2", "127.0.0.1", h2c_server.port, loop_impl=loop_impl)
    try:
        response = await conn.request("GET", "/", fault("ping"))
        assert response.status == 200 and response.body == pattern(N)
        await _until(lambda: h2c_server.pings_acked)
        assert h2c_server.pings_acked[0].startswith(b"crtping")
    finally:
        await conn.close()


@API
async def test_first_byte_timeout_resets_stream_and_keeps_connection(api, make_h2_server, ca,
                                                                     client_ca_file, loop_impl):
    server = make_h2_server(tls=True)
    conn = await connect(api, "h2", "localhost", server.port, loop_impl=loop_impl,
                         tls_connection_options=tls_options(client_ca_file),
                         response_first_byte_timeout_ms=300)
    try:
        started = time.monotonic()
        ex = conn.start("GET", "/", fault("stall"))
        waiters = aio_waiters(ex)
        await expect_error(ex.response(), "AWS_ERROR_HTTP_RESPONSE_FIRST_BYTE_TIMEOUT")
        assert 0.25 < time.monotonic() - started < 3
        await assert_settled(conn, [ex], waiters, shutdown=OPEN)
        record = server.conn_records[-1]
        await _until(lambda: record.resets_received)
        assert record.resets_received == [(1, CANCEL)]
        await usable(conn)  # and the timeout did not fire on the answered stream
    finally:
        await conn.close()


@API
async def test_close_releases_stalled_body(api, h2c_server, loop_impl):
    conn = await connect(api, "h2", "127.0.0.1", h2c_server.port, loop_impl=loop_impl,
                         response_first_byte_timeout_ms=200)
    try:
        ex = conn.start("GET", "/", fault("stall-mid-body"))
        waiters = aio_waiters(ex)
        await asyncio.sleep(0.6)  # past the first-byte timeout: it ended at the first byte
        assert not ex.stream.completion_future.done()
        await conn.close()
        await expect_error(ex.response(), CLOSED)
        await assert_settled(conn, [ex], waiters, shutdown=None)
        assert delivered_body(ex, waiters) == pattern(N // 2)
    finally:
        await conn.close()


async def _until(predicate: Any, timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


# ---- GOAWAY at every stage (scripted peer) -----------------------------------------------

GOAWAY_STAGES = ["before-headers", "after-headers", "mid-body"]


@API
@pytest.mark.parametrize("stage", GOAWAY_STAGES)
@pytest.mark.parametrize("last,code", [(0, 0), (0, INTERNAL_ERROR), (1, 0), (1, INTERNAL_ERROR)],
                         ids=["lower-no-error", "lower-error", "covers-no-error", "covers-error"])
async def test_goaway_at_every_stage(api, stage, last, code, raw_server, loop_impl):
    """GOAWAY with last_stream_id below stream 1 fails it with GOAWAY_RECEIVED, whatever
    already arrived; covering stream 1, the stream completes when the server finishes it.
    Then the connection closes: cleanly for NO_ERROR, with the GOAWAY error otherwise."""
    from hyperframe.frame import GoAwayFrame

    from tests.faults.h2peer import H2Peer, script_server

    body = pattern(N)

    async def script(peer: H2Peer) -> None:
        await peer.handshake()
        sid = await peer.request()
        goaway = GoAwayFrame(0, last_stream_id=last, error_code=code)
        if stage == "before-headers":
            peer.send(goaway)
        peer.send(peer.head(sid, 200, [("content-length", str(N))]))
        if stage == "after-headers":
            peer.send(goaway)
        peer.send(peer.data(sid, body[:N // 2]))
        if stage == "mid-body":
            peer.send(goaway)
        peer.send(peer.data(sid, body[N // 2:], end_stream=True))

    server = script_server(raw_server, script)
    conn = await connect(api, "h2", "127.0.0.1", server.port, loop_impl=loop_impl)
    try:
        ex = conn.start("GET", "/")
        waiters = aio_waiters(ex)
        if last == 0:
            await expect_error(ex.response(), GOAWAY)
        else:
            await ex.response(5)
            assert delivered_body(ex, waiters) == body
        await assert_settled(conn, [ex], waiters, shutdown=GOAWAY if code else None)
    finally:
        await conn.close()


@API
@pytest.mark.parametrize("ender", ["rst-stream", "goaway-lower"])
async def test_frames_ending_a_stream_then_its_data_in_one_read(api, ender, raw_server, loop_impl):
    """RST_STREAM or GOAWAY(last 0) followed, in the same read, by DATA for the stream it
    ended: the stream fails with the frame's error, the DATA is not delivered, nothing
    raises inside the driver (the DATA fast path once took the stream before h2 ended it)."""
    from hyperframe.frame import GoAwayFrame, RstStreamFrame

    from tests.faults.h2peer import H2Peer, script_server

    async def script(peer: H2Peer) -> None:
        await peer.handshake()
        sid = await peer.request()
        peer.send(peer.head(sid, 200, [("content-length", "8")]), peer.data(sid, b"first"))
        await peer.writer.drain()
        await asyncio.sleep(0.05)  # the stream is open and has a body when the rest comes
        end = (RstStreamFrame(sid, error_code=CANCEL) if ender == "rst-stream"
               else GoAwayFrame(0, last_stream_id=0))
        peer.send(end.serialize() + peer.data(sid, b"bad").serialize()
                  + peer.data(sid, b"", end_stream=True).serialize())

    server = script_server(raw_server, script)
    conn = await connect(api, "h2", "127.0.0.1", server.port, loop_impl=loop_impl)
    try:
        ex = conn.start("GET", "/")
        waiters = aio_waiters(ex)
        await expect_error(ex.response(), RST if ender == "rst-stream" else GOAWAY)
        assert delivered_body(ex, waiters) == b"first"
        await assert_settled(conn, [ex], waiters, shutdown=OPEN if ender == "rst-stream" else None)
    finally:
        await conn.close()
