"""The h11 events of an exchange, built and parsed with less Python per header than h11's own.

h11 keeps the protocol state: every event made here goes through ``h11.Connection`` as if h11
had made it. What changes is only how the bytes become events:

* :func:`request_event` builds the request from headers that ``validate_request`` already
  checked, running h11's value grammar and its Content-Length / Transfer-Encoding rules
  (``normalize_and_validate(_parsed=True)``) but not its per-header ``bytesify``/``validate``
  wrappers.
* :func:`read_response_head` is the reader h11 calls in its ``SEND_RESPONSE`` state. For a
  head whose lines all end in CRLF and hold no obsolete line folding, one regular expression
  built from h11's own grammar validates and splits the header lines; any other head (bare
  LF, obs-fold, anything the expressions refuse) is left to h11's reader, so the event or
  the error is exactly h11's.

Both keep what they made for heads they see again (h11 events are immutable): a server
repeats its head bytes (nginx changes only Date, once a second), a client its request heads.
Heads that differ every time (request IDs, signatures) cost a dictionary lookup more.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Tuple

import h11
from h11._abnf import OWS, field_content, field_name, field_value
from h11._headers import normalize_and_validate
from h11._readers import maybe_read_from_SEND_RESPONSE_server, status_line_re

_VALUE = re.compile(field_value.encode("ascii")).fullmatch
# One header line of h11's grammar, matched only where a line starts: findall returns
# (name, value) pairs, and as many pairs as lines means every line matched.
_FIELDS = re.compile(
    f"(?<![^\n])({field_name}):{OWS}((?:{field_content})?){OWS}\r\n".encode("ascii")).findall
_STATUS = status_line_re.fullmatch
_Response = h11.Response
_Informational = h11.InformationalResponse


# Heads repeat: a server sends the same head bytes for every response of a kind within a
# second (only Date changes), and a client sends the same request head again and again.
# Both functions here are pure, so their results are kept for heads seen before (heads of
# at most MEMO_HEAD_BYTES: at most MEMO_SIZE x 4 KiB kept per memo).
MEMO_SIZE = 256
MEMO_HEAD_BYTES = 4096


class _Memo(Dict[Any, Any]):
    """Results of a pure function by argument; emptied when it holds ``MEMO_SIZE`` of them."""

    def remember(self, key: Any, value: Any) -> Any:
        if len(self) >= MEMO_SIZE:
            self.clear()
        self[key] = value
        return value


_requests = _Memo()
_heads = _Memo()


def request_event(method: str, target: str, headers: List[Tuple[str, str]]) -> h11.Request:
    """The h11 request for a head whose method and names ``validate_request`` accepted.

    Values are sent as UTF-8 and must match h11's field-value grammar; h11 then checks the
    Host count, the method and the target as it does for any request. Events are immutable,
    so a head sent before gets the same event again.
    """
    key = (method, target, *headers)
    event = _requests.get(key)
    if event is not None:
        return event
    pairs = []
    size = len(target)
    for name, value in headers:
        raw = value.encode("utf-8")
        if _VALUE(raw) is None:
            raise h11.LocalProtocolError(f"Illegal header value {raw!r}")
        pairs.append((name.encode("ascii"), raw))
        size += len(name) + len(raw)
    event = h11.Request(method=method.encode("ascii"), target=target.encode("utf-8"),
                        headers=normalize_and_validate(pairs, _parsed=True), _parsed=True)
    return event if size > MEMO_HEAD_BYTES else _requests.remember(key, event)


def read_response_head(buf: Any) -> Optional[Any]:
    """h11's reader for a response head (``Response`` or ``InformationalResponse``), faster.

    The status line and header-line expressions admit no bare LF and no folded line, so the
    first CRLFCRLF is where h11 would end the head too. A head of the same bytes as one read
    before gets the same (immutable) event.
    """
    data = buf._data
    end = data.find(b"\r\n\r\n", max(0, buf._multiple_lines_search - 2)) + 4
    if end <= 4:
        return maybe_read_from_SEND_RESPONSE_server(buf)
    key = bytes(data[:end]) if end <= MEMO_HEAD_BYTES else None
    event = _heads.get(key)
    if event is not None:
        _consume(buf, end)
        return event
    line_end = data.find(b"\r\n", 0, end - 2)
    status = _STATUS(data, 0, line_end)
    block = bytes(data[line_end + 2:end - 2])
    fields = _FIELDS(block)
    if status is None or len(fields) != block.count(b"\n"):
        return maybe_read_from_SEND_RESPONSE_server(buf)
    version, code, reason = status.group("http_version", "status_code", "reason")
    reason = b"" if reason is None else bytes(reason)  # a copy: the match reads ``data``
    version = b"1.1" if version is None else bytes(version)
    status_code = int(code)
    _consume(buf, end)  # before the event is made: h11 consumes a head it then refuses too
    event = (_Informational if status_code < 200 else _Response)(
        headers=fields, _parsed=True, status_code=status_code, reason=reason, http_version=version)
    return event if key is None else _heads.remember(key, event)


def _consume(buf: Any, count: int) -> None:
    """Take ``count`` bytes off the front of h11's receive buffer, as its readers do."""
    del buf._data[:count]
    buf._next_line_search = buf._multiple_lines_search = 0
