"""Property-based tests of the HTTP/2 response side (marker ``fuzz``; count from
CRT_HTTP_FUZZ_EXAMPLES): a scripted peer completes the handshake, reads the request, then
writes a generated frame sequence and closes.

- A valid sequence (HEADERS, possibly split into CONTINUATION frames, DATA frames with or
  without padding, trailers, interleaved PING / PRIORITY / WINDOW_UPDATE / SETTINGS /
  unknown frames) is delivered exactly.
- A random sequence of frames (any type, flags, stream id and payload, some well formed)
  ends in a complete response or an AwsCrtError named AWS_..., within 2 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from typing import Any, Iterator, List, Tuple

import hpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crt_http.exceptions import AwsCrtError
from tests.clients import Response
from tests.faults.h2peer import H2Peer, raw_frame
from tests.faults.support import no_asyncio_errors  # noqa: F401  (the fixture)
from tests.fuzz_support import TEST_TIMEOUT, Runner, Script, exchange, fuzz_settings, write_in_pieces

pytestmark = [pytest.mark.fuzz, pytest.mark.usefixtures("no_asyncio_errors"),
              pytest.mark.timeout(TEST_TIMEOUT)]
API = pytest.mark.parametrize("api", ["aio", "sync"])

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, \
    CONTINUATION = range(10)
END_STREAM, END_HEADERS, PADDED = 0x1, 0x4, 0x8
NAME = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12).filter(
    lambda n: n not in ("connection", "te", "transfer-encoding", "keep-alive", "upgrade",
                        "content-length", "host", "proxy-connection"))
VALUE = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=30)
Frames = List[bytes]


def header_block_frames(draw: Any, sid: int, block: bytes, end_stream: bool) -> Frames:
    """HEADERS (+ CONTINUATION) carrying ``block``, cut where hypothesis says."""
    cuts = sorted(set(draw(st.lists(st.integers(1, max(1, len(block) - 1)), max_size=3))))
    pieces = [block[a:b] for a, b in zip([0] + cuts, cuts + [len(block)], strict=True)]
    flags = END_STREAM if end_stream else 0
    if len(pieces) == 1:
        return [raw_frame(HEADERS, flags | END_HEADERS, sid, block)]
    out = [raw_frame(HEADERS, flags, sid, pieces[0])]
    for i, piece in enumerate(pieces[1:], start=1):
        out.append(raw_frame(CONTINUATION, END_HEADERS if i == len(pieces) - 1 else 0, sid, piece))
    return out


def noise(draw: Any) -> Frames:
    """Frames that must not change the response: PING, PRIORITY, SETTINGS, unknown types."""
    choice = draw(st.sampled_from(["none", "ping", "priority", "settings", "unknown", "window"]))
    if choice == "ping":
        return [raw_frame(PING, 0, 0, draw(st.binary(min_size=8, max_size=8)))]
    if choice == "priority":
        return [raw_frame(PRIORITY, 0, 1, struct.pack(">IB", 0, draw(st.integers(0, 255))))]
    if choice == "settings":
        return [raw_frame(SETTINGS, 0, 0, struct.pack(">HI", 3, draw(st.integers(1, 1000))))]
    if choice == "unknown":
        return [raw_frame(draw(st.integers(0x0A, 0xFF)), draw(st.integers(0, 255)), draw(st.integers(0, 5)),
                          draw(st.binary(max_size=20)))]
    if choice == "window":
        return [raw_frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", draw(st.integers(1, 1000))))]
    return []


@st.composite
def valid_sequences(draw: Any) -> Tuple[Frames, int, List[Tuple[str, str]], bytes, List[Tuple[str, str]]]:
    encoder = hpack.Encoder()
    status = draw(st.sampled_from([200, 204, 206, 404, 500]))
    headers = draw(st.lists(st.tuples(NAME, VALUE), max_size=6))
    body = b"" if status == 204 else draw(st.binary(max_size=3000))
    trailers = draw(st.lists(st.tuples(NAME, VALUE), max_size=2)) if body else []
    frames: Frames = []
    block = encoder.encode([(":status", str(status))] + headers, huffman=draw(st.booleans()))
    frames += header_block_frames(draw, 1, block, end_stream=not body and not trailers)
    frames += noise(draw)
    cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=5)))
    pieces = [body[a:b] for a, b in zip([0] + cuts, cuts + [len(body)], strict=True) if b > a]
    for i, piece in enumerate(pieces):
        last = i == len(pieces) - 1 and not trailers
        pad = draw(st.integers(0, 20))
        if pad:
            frames.append(raw_frame(DATA, PADDED | (END_STREAM if last else 0), 1,
                                    bytes([pad]) + piece + b"\0" * pad))
        else:
            frames.append(raw_frame(DATA, END_STREAM if last else 0, 1, piece))
        frames += noise(draw)
    if trailers:
        frames += header_block_frames(draw, 1, encoder.encode(trailers), end_stream=True)
    return frames, status, headers, body, trailers


@st.composite
def random_frame(draw: Any) -> bytes:
    ftype = draw(st.integers(0, 12))
    sid = draw(st.sampled_from([0, 1, 1, 1, 2, 3, 0x80000001]))
    flags = draw(st.integers(0, 255))
    kind = draw(st.sampled_from(["bytes", "status", "u32", "settings"]))
    if kind == "status":
        payload = hpack.Encoder().encode([(":status", draw(st.sampled_from(["200", "404", "2", "abc"])))])
    elif kind == "u32":
        payload = struct.pack(">I", draw(st.integers(0, 2**32 - 1)))
    elif kind == "settings":
        payload = struct.pack(">HI", draw(st.integers(0, 8)), draw(st.integers(0, 2**32 - 1)))
    else:
        payload = draw(st.binary(max_size=64))
    return raw_frame(ftype, flags, sid & 0xFFFFFFFF, payload)


@st.composite
def random_sequences(draw: Any) -> Frames:
    frames = draw(st.lists(random_frame(), min_size=1, max_size=8))
    if draw(st.booleans()):  # start from a valid head, then go wrong
        frames.insert(0, raw_frame(HEADERS, END_HEADERS, 1, hpack.Encoder().encode([(":status", "200")])))
    if draw(st.booleans()):  # or a valid sequence with bytes flipped
        seq = b"".join(draw(valid_sequences())[0])
        if seq:
            at = draw(st.integers(0, len(seq) - 1))
            frames = [seq[:at] + bytes([draw(st.integers(0, 255))]) + seq[at + 1:]]
    return frames


@pytest.fixture
def h2_fuzz_server(raw_server: Any) -> Iterator[Tuple[Any, Script]]:
    script = Script()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = H2Peer(reader, writer)
        try:
            await peer.handshake()
            await peer.request()
        except (AssertionError, asyncio.IncompleteReadError, ConnectionError):
            return
        frames, cuts = script.value
        await write_in_pieces(writer, b"".join(frames), cuts)
        with contextlib.suppress(Exception):  # let the client close first when it is done
            await asyncio.wait_for(peer.finish(), 0.15)

    yield raw_server(handler), script


@API
def test_valid_frame_sequences_delivered_exactly(api, h2_fuzz_server):
    server, script = h2_fuzz_server
    runner = Runner()

    @fuzz_settings()
    @given(valid_sequences(), st.lists(st.integers(1, 4000), max_size=4))
    def check(case: Any, cuts: List[int]) -> None:
        frames, status, headers, body, trailers = case
        script.value = (frames, cuts)
        result = runner.run(exchange(api, "h2", server.port))
        assert isinstance(result, Response), result
        assert (result.status, result.body) == (status, body)
        assert [(n, v) for n, v in result.headers if n != ":status"] == headers
        assert result.trailers == trailers

    try:
        check()
    finally:
        runner.close()


@API
def test_random_frame_sequences_end_named(api, h2_fuzz_server):
    server, script = h2_fuzz_server
    runner = Runner()

    @fuzz_settings()
    @given(random_sequences(), st.lists(st.integers(1, 300), max_size=3))
    def check(frames: Frames, cuts: List[int]) -> None:
        script.value = (frames, cuts)
        result = runner.run(exchange(api, "h2", server.port))
        assert isinstance(result, (Response, AwsCrtError))

    try:
        check()
    finally:
        runner.close()
