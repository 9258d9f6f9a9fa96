"""The HTTP/2 read path: frames cut anywhere across reads (up to our 1 MiB MAX_FRAME_SIZE,
larger than one read), runs of small DATA frames delivered as joined chunks (fast path),
DATA of two streams interleaved in one write. Every body must
arrive byte for byte, on both APIs and loops, with the fast path on or off."""

from __future__ import annotations

import asyncio
from typing import Any, List

import pytest

from crt_http.aio import _h2
from tests.clients import connect
from tests.faults.h2peer import H2Peer, script_server
from tests.servers.common import pattern

pytestmark = pytest.mark.both_loops
APIS = pytest.mark.parametrize("api", ["aio", "sync"])
MiB = 1 << 20


async def write_in_pieces(peer: H2Peer, data: bytes, piece: int) -> None:
    """``data`` in writes of ``piece`` bytes, each drained and given time to be read."""
    for offset in range(0, len(data), piece):
        peer.writer.write(data[offset:offset + piece])
        await peer.writer.drain()
        await asyncio.sleep(0.002)


@APIS
async def test_max_size_frames_cut_across_reads(api: str, raw_server: Any, loop_impl: str) -> None:
    body = pattern(3 * MiB + 5)

    async def script(peer: H2Peer) -> None:
        await peer.handshake()
        sid = await peer.request()
        frames = [peer.head(sid, 200, [("content-length", str(len(body)))]).serialize()]
        for offset in range(0, len(body), MiB):
            piece = body[offset:offset + MiB]
            frames.append(peer.data(sid, piece, offset + MiB >= len(body)).serialize())
        await write_in_pieces(peer, b"".join(frames), 100_003)

    server = script_server(raw_server, script)
    conn = await connect(api, "h2", "127.0.0.1", server.port, loop_impl=loop_impl)
    try:
        r = await conn.request("GET", "/", timeout=20)
    finally:
        await conn.close()
    assert r.status == 200 and r.body == body


@APIS
async def test_runs_of_small_frames_are_joined(api: str, raw_server: Any, loop_impl: str) -> None:
    size, frame = 600_000, 1000
    body = pattern(size)

    async def script(peer: H2Peer) -> None:
        await peer.handshake()
        sid = await peer.request()
        frames = [peer.head(sid, 200, [("content-length", str(size))]).serialize()]
        frames += [peer.data(sid, body[o:o + frame], o + frame >= size).serialize()
                   for o in range(0, size, frame)]
        await write_in_pieces(peer, b"".join(frames), 150_001)

    server = script_server(raw_server, script)
    conn = await connect(api, "h2", "127.0.0.1", server.port, loop_impl=loop_impl)
    try:
        ex = conn.start("GET", "/")
        r = await ex.response(20)
    finally:
        await conn.close()
    assert r.status == 200 and r.body == body
    if _h2.FAST_PATH:  # joined up to MAX_JOINED_DATA; one chunk per frame through h2
        assert r.chunks < size // frame // 10, r.chunks
        assert max(len(c) for c in ex._chunks) <= _h2.MAX_JOINED_DATA + frame


@APIS
async def test_two_streams_interleaved_in_one_write(api: str, raw_server: Any, loop_impl: str) -> None:
    bodies = [pattern(70_000), pattern(50_000, offset=7)]

    async def script(peer: H2Peer) -> None:
        await peer.handshake()
        sids = [await peer.request(), await peer.request()]
        out: List[bytes] = [peer.head(sids[1], 200).serialize(), peer.head(sids[0], 200).serialize()]
        for offset in range(0, 70_000, 5000):
            for sid, body in zip(sids, bodies, strict=True):
                if offset < len(body):
                    out.append(peer.data(sid, body[offset:offset + 5000]).serialize())
        out.append(peer.data(sids[1], b"", end_stream=True).serialize())
        out.append(peer.data(sids[0], b"", end_stream=True).serialize())
        peer.send(b"".join(out))

    server = script_server(raw_server, script)
    conn = await connect(api, "h2", "127.0.0.1", server.port, loop_impl=loop_impl)
    try:
        exchanges = [conn.start("GET", "/a"), conn.start("GET", "/b")]
        results = await asyncio.wait_for(asyncio.gather(*(ex.response(10) for ex in exchanges)), 15)
    finally:
        await conn.close()
    assert [r.body for r in results] == bodies


@APIS
@pytest.mark.parametrize("limit", ["content-length", "window"])
async def test_run_breaking_a_limit_midway_fails_the_connection(api: str, limit: str, raw_server: Any,
                                                               loop_impl: str) -> None:
    """Ten 1000-byte DATA frames in one write; the sixth passes the content-length (5500) or
    the stream window (5500, manual window management): h2's error, as without the fast path."""
    from tests.faults.h2peer import FLOW_CONTROL_ERROR, PROTOCOL_ERROR, goaway_codes
    from tests.faults.support import expect_error

    recorded: List[Any] = []

    async def script(peer: H2Peer) -> None:
        recorded.append(peer)  # before sending: the client may be done before this returns
        await peer.handshake()
        sid = await peer.request()
        length = "5500" if limit == "content-length" else "10000"
        frames = [peer.head(sid, 200, [("content-length", length)]).serialize()]
        frames += [peer.data(sid, pattern(1000), i == 9).serialize() for i in range(10)]
        peer.send(b"".join(frames))

    kwargs = {} if limit == "content-length" else {"manual_window_management": True, "initial_window_size": 5500}
    server = script_server(raw_server, script)
    conn = await connect(api, "h2", "127.0.0.1", server.port, loop_impl=loop_impl, **kwargs)
    try:
        await expect_error(conn.start("GET", "/").response(5), "AWS_ERROR_HTTP_PROTOCOL_ERROR")
    finally:
        await conn.close()
    for _ in range(200):  # the peer records frames as they come (bounded wait)
        if goaway_codes(recorded[0].frames):
            break
        await asyncio.sleep(0.01)
    expected = PROTOCOL_ERROR if limit == "content-length" else FLOW_CONTROL_ERROR
    assert goaway_codes(recorded[0].frames)[:1] == [expected]
