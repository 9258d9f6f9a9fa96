"""Exact shortcuts through h2's state for the frames of a plain exchange (the fast path).

:class:`FastH2Connection` is h2's connection with three extra routes the driver takes when
``CRT_HTTP_FAST_PATH`` is on. Each makes exactly the state changes h2 makes for the frame
(stream and connection state machines, windows, content-length counts, HPACK tables),
checks what h2 checks, and hands anything unusual to h2 itself before changing a thing:

* :meth:`~FastH2Connection.send_request` opens a stream and queues its HEADERS (and
  CONTINUATION) frames without h2's frame objects; the HPACK encoding of a header list that
  left the encoder's table unchanged is reused while the table stays unchanged;
* :meth:`~FastH2Connection.receive_head` takes the HEADERS frame of a response head (END_HEADERS,
  no padding or priority) on an open stream. The HPACK decoder sees every header block in
  order; a block that left the decoder's table unchanged maps to the same headers while the
  table stays unchanged, so a repeat is served with h2's validation already done (nginx,
  for one, keeps its table empty: every response head but the ``date`` is a repeat);
* :meth:`~FastH2Connection.consume_data` accounts DATA frames without padding.

The tables are :class:`VersionedTable`: their ``version`` changes with every change of
their contents or size, which is what makes a memoized block exact.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple, Union

import h2.connection
import h2.events
import h2.exceptions
import h2.stream
import hpack.table

Header = Tuple[bytes, bytes]

_OPEN = h2.stream.StreamState.OPEN
_HALF_CLOSED_LOCAL = h2.stream.StreamState.HALF_CLOSED_LOCAL
_HALF_CLOSED_REMOTE = h2.stream.StreamState.HALF_CLOSED_REMOTE
_CLOSED = h2.stream.StreamState.CLOSED
_RECV_END_STREAM = h2.stream.StreamClosedBy.RECV_END_STREAM
_CLIENT_OPEN = h2.connection.ConnectionState.CLIENT_OPEN
_ODD = h2.connection.AllowedStreamIDs.ODD
_DATA_STATES = (_OPEN, _HALF_CLOSED_LOCAL)
MEMO_ENTRIES = 256  # header blocks (each way) remembered per connection


class VersionedTable(hpack.table.HeaderTable):
    """hpack's header table; ``version`` changes whenever its contents or size do."""

    def __init__(self) -> None:
        super().__init__()
        self.version = 0

    def add(self, name: bytes, value: bytes) -> None:
        # An entry larger than the table empties it: a no-op on an empty table.
        if self.dynamic_entries or hpack.table.table_entry_size(name, value) <= self._maxsize:
            self.version += 1
        super().add(name, value)

    @property  # type: ignore[override]
    def maxsize(self) -> int:
        return self._maxsize

    @maxsize.setter
    def maxsize(self, newmax: int) -> None:
        if int(newmax) != self._maxsize:
            self.version += 1
        hpack.table.HeaderTable.maxsize.fset(self, newmax)  # type: ignore[attr-defined]


class ResponseHead:
    """A decoded, h2-validated response head block; ``decoded`` is the driver's form of it."""

    __slots__ = ("key", "headers", "content_length", "decoded")

    def __init__(self, key: Tuple[int, int, int], headers: List[Header], content_length: Optional[int]) -> None:
        self.key = key  # (decoder table version, max_allowed_table_size, max_header_list_size)
        self.headers = headers
        self.content_length = content_length
        self.decoded: Any = None


def _versioned(table: hpack.table.HeaderTable) -> VersionedTable:
    fresh = VersionedTable()
    fresh._maxsize = table.maxsize
    assert not table.dynamic_entries
    return fresh


def _frames(stream_id: int, block: bytes, end_stream: bool, max_size: int) -> bytes:
    """HEADERS (plus CONTINUATION) frames carrying ``block``, as h2 would build them."""
    tail = stream_id.to_bytes(4, "big")
    flags = 0x1 if end_stream else 0
    if len(block) <= max_size:
        return len(block).to_bytes(3, "big") + bytes((0x1, flags | 0x4)) + tail + block
    parts = []
    ftype = 0x1
    for offset in range(0, len(block), max_size):
        piece = block[offset:offset + max_size]
        last = offset + max_size >= len(block)
        parts.append(len(piece).to_bytes(3, "big") + bytes((ftype, flags | (0x4 if last else 0))) + tail)
        parts.append(piece)
        ftype, flags = 0x9, 0
    return b"".join(parts)


class FastH2Connection(h2.connection.H2Connection):
    """h2's client connection with the exact shortcuts described in the module docstring."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._encoder_table = self.encoder.header_table = _versioned(self.encoder.header_table)
        self._decoder_table = self.decoder.header_table = _versioned(self.decoder.header_table)
        self._encoded: Dict[Tuple[Header, ...], Tuple[int, bytes]] = {}
        self._heads: Dict[bytes, ResponseHead] = {}

    def use_decoder(self, decoder: Any) -> None:
        """Install ``decoder`` (fresh, no block decoded yet) with a versioned table."""
        self._decoder_table = decoder.header_table = _versioned(decoder.header_table)
        self.decoder = decoder

    # ---- sending -----------------------------------------------------------------------

    def send_request(self, stream_id: int, headers: Tuple[Header, ...], end_stream: bool,
                     method: bytes, authority: bytes) -> None:
        """``send_headers`` for a request opening ``stream_id``; ``headers`` are valid, lower
        case, pseudo-headers first, plain 2-tuples (what h2 gets with outbound validation
        and normalization off)."""
        if (self.state_machine.state is not _CLIENT_OPEN or stream_id in self.streams
                or self.open_outbound_streams + 1 > self.remote_settings.max_concurrent_streams):
            self.send_headers(stream_id, headers, end_stream=end_stream)  # h2 refuses it
            return
        stream = self._begin_new_stream(stream_id, _ODD)
        machine = stream.state_machine
        # IDLE --SEND_HEADERS--> OPEN (request_sent), then --SEND_END_STREAM--> HALF_CLOSED_LOCAL
        machine.client = True
        machine.headers_sent = True
        machine.state = _HALF_CLOSED_LOCAL if end_stream else _OPEN
        stream._authority = authority
        stream.request_method = method
        self._data_to_send += _frames(stream_id, self._encode(headers), end_stream, self.max_outbound_frame_size)

    def _encode(self, headers: Tuple[Header, ...]) -> bytes:
        table = self._encoder_table
        if table.resized:  # the block starts with a table size update
            return self.encoder.encode(headers)
        version = table.version
        memo = self._encoded.get(headers)
        if memo is not None and memo[0] == version:
            return memo[1]
        block = self.encoder.encode(headers)
        if table.version == version:
            if len(self._encoded) >= MEMO_ENTRIES:
                self._encoded.clear()
            self._encoded[headers] = (version, block)
        return block

    # ---- receiving ---------------------------------------------------------------------

    def receive_head(self, stream_id: int, block: bytes, end_stream: bool
                     ) -> Union[None, ResponseHead, List[Any]]:
        """Take a HEADERS frame (END_HEADERS, no padding, no priority) on ``stream_id``.

        None: not a response head on an open stream; nothing changed, h2 must take the frame.
        A :class:`ResponseHead`: the final response head, with h2's state moved as for a
        ``ResponseReceived`` (and ``StreamEnded`` when ``end_stream``). A list: the events
        h2 made of it (an informational response). A ProtocolError fails the connection as
        in ``receive_data`` (its GOAWAY is queued)."""
        stream = self.streams.get(stream_id)
        if (stream is None or self.incoming_buffer._headers_buffer
                or self.state_machine.state is not _CLIENT_OPEN):
            return None
        machine = stream.state_machine
        if machine.state not in _DATA_STATES or machine.headers_received:
            return None
        decoder = self.decoder
        table = self._decoder_table
        key = (table.version, decoder.max_allowed_table_size, decoder.max_header_list_size)
        head_request = stream.request_method == b"HEAD"  # h2 then ignores content-length
        memo = None if head_request else self._heads.get(block)
        try:
            if memo is not None and memo.key == key:
                # What h2's receive_headers does for this block: RECV_HEADERS (response_received),
                # RECV_END_STREAM, the content-length; validation passed when it was memoized.
                machine.headers_received = True
                if end_stream:
                    if machine.state is _OPEN:
                        machine.state = _HALF_CLOSED_REMOTE
                    else:
                        machine.state = _CLOSED
                        machine.stream_closed_by = _RECV_END_STREAM
                stream._expected_content_length = memo.content_length
                return memo
            headers = h2.connection._decode_headers(decoder, block)
            _, events = stream.receive_headers(headers, end_stream, None)
        except h2.exceptions.ProtocolError as exc:
            self._terminate_connection(exc.error_code)
            raise
        first = events[0]
        if first.__class__ is not h2.events.ResponseReceived:
            return events
        head = ResponseHead(key, first.headers, stream._expected_content_length)
        if not head_request and table.version == key[0]:
            if len(self._heads) >= MEMO_ENTRIES:
                self._heads.clear()
            self._heads[block] = head
        return head

    def consume_data(self, stream_id: int, length: int, end_stream: bool) -> bool:
        """Account DATA of ``length`` bytes without padding on ``stream_id`` as h2 would
        (windows, content-length, END_STREAM): one frame, or a run of frames whose last
        one carries ``end_stream`` (the checks and changes add up frame by frame). False
        (nothing changed) if h2 must see the frame(s)."""
        stream = self.streams.get(stream_id)
        if (stream is None or self.incoming_buffer._headers_buffer
                or self.state_machine.state is not _CLIENT_OPEN):
            return False
        machine = stream.state_machine
        if machine.state not in _DATA_STATES or not machine.headers_received or machine.trailers_received:
            return False
        conn_window = self._inbound_flow_control_window_manager
        stream_window = stream._inbound_window_manager
        expected = stream._expected_content_length
        actual = stream._actual_content_length + length
        if (length > conn_window.current_window_size or length > stream_window.current_window_size
                or (expected is not None and (actual > expected or (end_stream and actual != expected)))):
            return False  # h2 raises the right error for it
        conn_window.window_consumed(length)
        stream_window.window_consumed(length)
        stream._actual_content_length = actual
        if end_stream:  # RECV_END_STREAM: stream_half_closed or stream_ended
            if machine.state is _OPEN:
                machine.state = _HALF_CLOSED_REMOTE
            else:
                machine.state = _CLOSED
                machine.stream_closed_by = _RECV_END_STREAM
        return True

