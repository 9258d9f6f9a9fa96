"""The HTTP/2 fast path keeps h2's state exact: two client states take the same frames from
a real h2 server state machine, one through the fast routes of crt_http.aio._h2_fast (as
the driver routes frames), one through h2's ``send_headers``/``receive_data``; after every
step both must hold the same state (streams, windows, content-length counts, HPACK tables),
produce the same bytes to send and report the same events or the same error."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import pytest

from crt_http.aio._h2 import _H2State
from crt_http.aio._h2_fast import ResponseHead

Headers = List[Tuple[bytes, bytes]]
GET = [(b":method", b"GET"), (b":scheme", b"https"), (b":authority", b"example.com"), (b":path", b"/x")]


def client() -> _H2State:
    return _H2State(h2.config.H2Configuration(
        client_side=True, header_encoding=None, validate_outbound_headers=False,
        normalize_outbound_headers=False, validate_inbound_headers=True))


def server() -> h2.connection.H2Connection:
    return h2.connection.H2Connection(h2.config.H2Configuration(
        client_side=False, header_encoding=None, validate_outbound_headers=False,
        normalize_outbound_headers=False))


def h2_outcome(events: List[Any]) -> List[Tuple[Any, ...]]:
    """Events as comparable tuples (the ones the driver acts on)."""
    out: List[Tuple[Any, ...]] = []
    for e in events:
        name = type(e).__name__
        if isinstance(e, (h2.events.ResponseReceived, h2.events.InformationalResponseReceived,
                          h2.events.TrailersReceived)):
            out.append((name, e.stream_id, list(e.headers)))
        elif isinstance(e, h2.events.DataReceived):
            out.append((name, e.stream_id, bytes(e.data), e.flow_controlled_length))
        else:
            out.append((name, getattr(e, "stream_id", None)))
    return out


def fast_receive(conn: _H2State, data: bytes) -> List[Tuple[Any, ...]]:
    """Route frames as H2Driver.data_received does with the fast path on."""
    out: List[Tuple[Any, ...]] = []
    pos = start = 0
    while len(data) - pos >= 9:
        length = int.from_bytes(data[pos:pos + 3], "big")
        ftype, flags = data[pos + 3], data[pos + 4]
        stream_id = int.from_bytes(data[pos + 5:pos + 9], "big") & 0x7FFFFFFF
        end = pos + 9 + length
        if ((ftype == 0 and not flags & 0x08) or (ftype == 1 and flags & 0x2C == 0x04)) \
                and stream_id in conn.streams:
            if start < pos:
                out += h2_outcome(conn.receive_data(data[start:pos]))
                start = pos
            payload = data[pos + 9:end]
            ended = bool(flags & 0x1)
            taken: Any
            if ftype == 0:
                taken = conn.consume_data(stream_id, length, ended)
                if taken:
                    out.append(("DataReceived", stream_id, payload, length))
            else:
                taken = conn.receive_head(stream_id, payload, ended)
                if isinstance(taken, ResponseHead):
                    out.append(("ResponseReceived", stream_id, list(taken.headers)))
                elif taken is not None:
                    out += h2_outcome(taken)
            if taken:
                if ended:
                    out.append(("StreamEnded", stream_id))
                start = end
        pos = end
    if start < pos:
        out += h2_outcome(conn.receive_data(data[start:pos]))
    return out


def snapshot(conn: _H2State) -> Dict[str, Any]:
    streams = {}
    for sid, s in conn.streams.items():
        m = s.state_machine
        streams[sid] = (m.state, m.client, m.headers_sent, m.trailers_sent, m.headers_received,
                        m.trailers_received, m.stream_closed_by, vars(s._inbound_window_manager),
                        s.outbound_flow_control_window, s._expected_content_length,
                        s._actual_content_length, s.request_method, s._authority)
    dec, enc = conn.decoder, conn.encoder
    return {
        "state": conn.state_machine.state,
        "window": vars(conn._inbound_flow_control_window_manager),
        "streams": streams,
        "highest": (conn.highest_outbound_stream_id, conn.highest_inbound_stream_id),
        "decoder": (list(dec.header_table.dynamic_entries), dec.header_table.maxsize,
                    dec.header_table._current_size, dec.max_allowed_table_size, dec.max_header_list_size),
        "encoder": (list(enc.header_table.dynamic_entries), enc.header_table.maxsize,
                    enc.header_table._current_size, enc.header_table.resized),
    }


def outcome(step: Callable[[], Any]) -> Any:
    try:
        return step()
    except h2.exceptions.ProtocolError as exc:
        return ("error", type(exc).__name__, exc.error_code)


class Pair:
    """The fast and the h2 client, and the server they talk to."""

    def __init__(self) -> None:
        self.fast, self.slow, self.server = client(), client(), server()
        self.fast.initiate_connection()
        self.slow.initiate_connection()
        self.server.initiate_connection()
        self.server.receive_data(self.sent())
        self.deliver()
        self.server.receive_data(self.sent())
        self.next_id = 1

    def sent(self) -> bytes:
        """What both clients queued (identical, or the test fails)."""
        fast, slow = self.fast.data_to_send(), self.slow.data_to_send()
        assert fast == slow
        assert snapshot(self.fast) == snapshot(self.slow)
        return fast

    def request(self, headers: Headers = GET, end_stream: bool = True) -> int:
        sid = self.next_id
        self.next_id += 2
        method = dict(headers)[b":method"]
        authority = dict(headers)[b":authority"]
        assert outcome(lambda: self.fast.send_request(sid, tuple(headers), end_stream, method, authority)) \
            == outcome(lambda: self.slow.send_headers(sid, headers, end_stream=end_stream))
        self.server.receive_data(self.sent())
        return sid

    def deliver(self, data: Optional[bytes] = None) -> Any:
        """Server's pending bytes (or ``data``) to both clients; the (common) outcome."""
        if data is None:
            data = self.server.data_to_send()
        fast = outcome(lambda: fast_receive(self.fast, data))
        slow = outcome(lambda: h2_outcome(self.slow.receive_data(data)))
        assert fast == slow
        self.sent()
        return fast

    def respond(self, sid: int, headers: Headers, body: Optional[bytes] = None,
                trailers: Optional[Headers] = None) -> Any:
        self.server.send_headers(sid, headers, end_stream=body is None and trailers is None)
        if body is not None:
            self.server.send_data(sid, body, end_stream=trailers is None)
        if trailers is not None:
            self.server.send_headers(sid, trailers, end_stream=True)
        return self.deliver()


def ok(n: int, *extra: Tuple[bytes, bytes]) -> Headers:
    return [(b":status", b"200"), (b"content-length", str(n).encode()), *extra]


def test_repeated_heads_are_memoized_and_exact() -> None:
    pair = Pair()
    for _ in range(4):
        sid = pair.request()
        events = pair.respond(sid, ok(5, (b"server", b"x")), b"hello")
        assert events[0] == ("ResponseReceived", sid, ok(5, (b"server", b"x")))
    assert pair.fast._heads  # the fast route served repeats from its memo


def test_same_block_bytes_after_a_table_change_decode_anew() -> None:
    """``content-length: 10`` then ``20`` each land at dynamic index 62: identical bytes,
    different headers; the memo must not answer the second."""
    pair = Pair()
    for n in (10, 10, 10, 20, 20, 20, 10, 30, 30, 10):
        sid = pair.request()
        events = pair.respond(sid, ok(n), b"x" * n)
        assert events[0][2] == ok(n)


def test_server_shrinks_its_table() -> None:
    pair = Pair()
    for size in (4096, 64, 0, 4096):
        pair.server.encoder.header_table_size = size
        for _ in range(2):
            sid = pair.request()
            pair.respond(sid, ok(3, (b"x-long", b"v" * 40)), b"abc")


def headers_frame(sid: int, block: bytes) -> bytes:
    """A HEADERS frame with END_HEADERS and END_STREAM."""
    return len(block).to_bytes(3, "big") + bytes((0x1, 0x5)) + sid.to_bytes(4, "big") + block


def test_stale_index_after_the_table_was_resized_fails() -> None:
    """A block served from the memo while it referred to a dynamic entry; the server then
    resizes its table to 0 (emptying it) and sends the same bytes: now an invalid index."""
    pair = Pair()
    sid = pair.request()
    pair.respond(sid, [(b":status", b"204"), (b"x-a", b"1")])
    sid = pair.request()
    pair.server.send_headers(sid, [(b":status", b"204"), (b"x-a", b"1")], end_stream=True)
    frame = pair.server.data_to_send()
    pair.deliver(frame)
    assert pair.fast._heads
    indexed_block = frame[9:]
    pair.deliver(headers_frame(pair.request(), b"\x20\x88"))  # size update to 0, :status 200
    assert pair.deliver(headers_frame(pair.request(), indexed_block))[:2] == ("error", "_CompressionError")


@pytest.mark.parametrize("request_end", [True, False])
def test_head_with_end_stream(request_end: bool) -> None:
    pair = Pair()
    for _ in range(3):
        sid = pair.request(end_stream=request_end)
        events = pair.respond(sid, [(b":status", b"204")])
        assert events[-1] == ("StreamEnded", sid)


def test_head_request_ignores_content_length() -> None:
    pair = Pair()
    head = [(b":method", b"HEAD"), *GET[1:]]
    for _ in range(3):
        sid = pair.request(head)
        pair.respond(sid, ok(100))


def test_informational_then_final_and_trailers() -> None:
    pair = Pair()
    for _ in range(3):
        sid = pair.request()
        pair.server.send_headers(sid, [(b":status", b"103"), (b"link", b"</a>")])
        pair.deliver()
        pair.respond(sid, ok(2), b"ab", trailers=[(b"x-t", b"1")])


@pytest.mark.parametrize("response, body", [
    (ok(5), b"abc"),                                     # END_STREAM short of content-length
    (ok(2), b"abc"),                                     # past content-length
    ([(b":status", b"200"), (b"X-Upper", b"1")], b""),   # uppercase name
    ([(b":status", b"200"), (b"connection", b"close")], b""),
    ([(b"x-first", b"1"), (b":status", b"200")], b""),  # pseudo-header after a field
    ([(b"x-a", b"1")], b""),                             # no :status
    (ok(1, (b"content-length", b"2")), b"a"),            # conflicting content-length
], ids=["short", "long", "upper", "connection", "order", "nostatus", "conflict"])
def test_bad_responses_fail_alike(response: Headers, body: bytes) -> None:
    pair = Pair()
    sid = pair.request()
    pair.respond(sid, ok(1), b"a")  # a good one first: the memo holds something
    sid = pair.request()
    result = pair.respond(sid, response, body)
    assert result[0] == "error"


def test_request_encoding_memo_follows_the_encoder_table() -> None:
    pair = Pair()
    big = b"v" * 1500  # three of these overflow the 4096-byte table: evictions
    lists = [GET, GET + [(b"x-a", big + b"1")], GET, GET + [(b"x-a", big + b"2")],
             GET + [(b"x-a", big + b"3")], GET + [(b"x-a", big + b"1")], GET, GET + [(b"x-a", big + b"1")]]
    for headers in lists:
        sid = pair.request(headers)
        pair.respond(sid, ok(0))
    assert pair.fast._encoded


def test_request_head_over_max_frame_size_uses_continuation() -> None:
    pair = Pair()
    headers = GET + [(b"x-big", b"b" * 40000)]
    pair.server.local_settings.max_header_list_size = 1 << 20
    pair.server.update_settings({h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: 1 << 20})
    pair.deliver()
    sid = pair.request(headers, end_stream=False)
    pair.respond(sid, ok(0))


def test_stream_limit_refusal_is_h2s() -> None:
    pair = Pair()
    pair.server.update_settings({h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 1})
    pair.deliver()
    pair.request(end_stream=False)
    pair.fast.open_count = pair.slow.open_count = 1  # the driver counts what it opened
    pair.request()  # both refuse with TooManyStreamsError (checked equal in request())
