"""HTTP models shared by the sync and asyncio APIs: versions, settings, headers, requests.

Imports nothing of crt_http at module level (``crt_http.exceptions`` is imported where an
``AwsCrtError`` is raised), so every layer can use it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from enum import IntEnum
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from crt_http.exceptions import AwsCrtError
    from crt_http.io import TlsConnectionOptions

__all__ = [
    "Http2Setting",
    "Http2SettingID",
    "HttpHeaders",
    "HttpProxyAuthenticationType",
    "HttpProxyConnectionType",
    "HttpProxyOptions",
    "HttpMessageBase",
    "HttpRequest",
    "HttpVersion",
    "InputStream",
    "validate_request",
]


class HttpVersion(IntEnum):
    """HTTP protocol version."""

    Unknown = 0
    Http1_0 = 1
    Http1_1 = 2
    Http2 = 3
    Http3 = 4  # beyond awscrt


class Http2SettingID(IntEnum):
    """HTTP/2 predefined settings (RFC 9113 6.5.2)."""

    HEADER_TABLE_SIZE = 1
    ENABLE_PUSH = 2
    MAX_CONCURRENT_STREAMS = 3
    INITIAL_WINDOW_SIZE = 4
    MAX_FRAME_SIZE = 5
    MAX_HEADER_LIST_SIZE = 6


class Http2Setting:
    """One HTTP/2 setting: ``id`` (:class:`Http2SettingID`) and ``value``.

    ``value`` must lie in ``VALID_RANGES[id]`` (RFC 9113 6.5.2), else ``ValueError`` naming
    the setting; an ``id`` that is no :class:`Http2SettingID` or a non-int ``value`` raise
    ``TypeError``. A plain int ``id`` is accepted if it is a known setting ID; a bool
    ``value`` counts as 0 or 1.
    """

    __slots__ = ("id", "value", "__weakref__")

    VALID_RANGES: ClassVar[dict[Http2SettingID, tuple[int, int]]] = {
        Http2SettingID.HEADER_TABLE_SIZE: (0, 2**32 - 1),
        Http2SettingID.ENABLE_PUSH: (0, 1),
        Http2SettingID.MAX_CONCURRENT_STREAMS: (0, 2**32 - 1),
        Http2SettingID.INITIAL_WINDOW_SIZE: (0, 2**31 - 1),
        Http2SettingID.MAX_FRAME_SIZE: (2**14, 2**24 - 1),
        Http2SettingID.MAX_HEADER_LIST_SIZE: (0, 2**32 - 1),
    }

    def __init__(self, id: Http2SettingID, value: int) -> None:
        if not isinstance(id, Http2SettingID):
            if type(id) is not int or id not in Http2SettingID._value2member_map_:
                raise TypeError(f"Http2Setting id must be an Http2SettingID, got {id!r}")
            id = Http2SettingID(id)
        if not isinstance(value, int):
            raise TypeError(f"{id.name} value must be an int, got {type(value).__name__}")
        low, high = self.VALID_RANGES[id]
        if not low <= value <= high:
            raise ValueError(f"{id.name} must be between {low} and {high}, got {value}")
        self.id = id
        self.value = int(value)

    def __str__(self) -> str:
        return f"Http2Setting({self.id.name}={self.value})"

    def __repr__(self) -> str:
        return f"Http2Setting(Http2SettingID.{self.id.name}, {self.value})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Http2Setting):
            return NotImplemented
        return self.id == other.id and self.value == other.value

    def __hash__(self) -> int:
        return hash((self.id, self.value))


class InputStream:
    """Wraps a binary I/O object (anything with a ``read()`` method) as a request body source.

    Reads prefer the stream's ``readinto1``, then ``readinto``, then ``read1``, then ``read``.
    Anything without a callable ``read`` raises ``TypeError('I/O stream type expected')``, as
    in awscrt (``bytes`` included: wrap it in ``io.BytesIO``).
    """

    __slots__ = ("_read", "_readinto", "_read_via_scratch", "_scratch", "_stream")
    _stream: Any
    _readinto: Callable[[bytearray | memoryview], int | None] | None
    _read: Callable[[int], Any]
    _read_via_scratch: bool
    _scratch: memoryview | None

    def __init__(self, stream: Any) -> None:
        if isinstance(stream, InputStream):
            stream = stream._stream
        if not callable(getattr(stream, "read", None)):
            raise TypeError("I/O stream type expected")
        self._stream = stream
        self._readinto = getattr(stream, "readinto1", None) or getattr(stream, "readinto", None)
        read1 = getattr(stream, "read1", None)
        self._read = read1 or stream.read
        self._read_via_scratch = read1 is None and self._readinto is not None
        self._scratch = None

    @classmethod
    def wrap(cls, stream: Any, allow_none: bool = False) -> InputStream | None:
        """``stream`` itself if it is an :class:`InputStream`, else a new one wrapping it.

        ``None`` is returned for ``None`` if ``allow_none``, else it raises ``TypeError``.
        """
        if stream is None and allow_none:
            return None
        if isinstance(stream, InputStream):
            return stream
        return cls(stream)

    @property
    def reads_into(self) -> bool:
        """True if the stream itself fills a caller's buffer (``readinto1``/``readinto``)."""
        return self._readinto is not None

    def readinto(self, buf: bytearray | memoryview) -> int | None:
        """Fill ``buf`` from the stream: bytes copied (0 at the end), or None if a
        non-blocking stream has nothing available now."""
        try:
            if self._readinto is not None:
                return self._readinto(buf)
            data = self._read(len(buf))
        except BlockingIOError:
            return None
        if data is None:
            return None
        n = len(data)
        buf[:n] = data
        return n

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes (``b""`` only at the end of the stream).

        Prefers the stream's ``read1``, then ``readinto`` (into a buffer kept for the next
        call, then copied once: a raw stream's own ``read`` fills a fresh zeroed buffer and
        copies it again), then ``read``. A non-blocking stream with nothing available now
        raises ``BlockingIOError``.
        """
        if self._read_via_scratch:
            scratch = self._scratch
            if scratch is None or len(scratch) < n:
                scratch = self._scratch = memoryview(bytearray(n))
            got = self._readinto(scratch[:n])  # type: ignore[misc]
            if got is None:
                raise BlockingIOError("the body stream has no data available now")
            return bytes(scratch[:got])
        data = self._read(n)
        if data is None:
            raise BlockingIOError("the body stream has no data available now")
        if type(data) is not bytes:
            data = bytes(memoryview(data))  # TypeError for str: a text stream is no body
        return data


_Pairs = Iterable[tuple[str, str]]


class HttpHeaders:
    """HTTP headers: several values per name, names compared case-insensitively, order kept.

    Iterating yields ``(name, value)`` tuples as added. ``str()`` gives
    ``HttpHeaders([(name, value), ...])``. Names and values must be ``str`` (``TypeError``);
    an empty name raises AwsCrtError AWS_ERROR_HTTP_INVALID_HEADER_NAME, as in awscrt.
    Other checks of the characters happen when the request is sent
    (:func:`validate_request`).
    """

    __slots__ = ("_pairs", "__weakref__")

    def __init__(self, name_value_pairs: _Pairs | None = None) -> None:
        self._pairs: list[tuple[str, str]] = []
        if name_value_pairs:
            self.add_pairs(name_value_pairs)

    def add(self, name: str, value: str) -> None:
        """Append a name-value pair."""
        if type(name) is not str or type(value) is not str:
            _check_pair(name, value)
        if not name:
            raise _empty_name()
        self._pairs.append((name, value))

    def add_pairs(self, name_value_pairs: _Pairs) -> None:
        """Append each ``(name, value)`` pair; ``TypeError`` if an item is no such pair."""
        new = []
        for pair in name_value_pairs:
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise TypeError(f"HttpHeaders: (name, value) pair expected, got {pair!r}")
            name, value = pair
            if type(name) is not str or type(value) is not str:
                _check_pair(name, value)
            if not name:
                raise _empty_name()
            new.append(pair if type(pair) is tuple else (name, value))
        self._pairs.extend(new)

    def set(self, name: str, value: str) -> None:
        """Remove every value of ``name``, then append ``(name, value)``."""
        if type(name) is not str or type(value) is not str:
            _check_pair(name, value)
        if not name:
            raise _empty_name()
        lname = name.lower()
        self._pairs = [p for p in self._pairs if p[0].lower() != lname]
        self._pairs.append((name, value))

    def get_values(self, name: str) -> Iterator[str]:
        """An iterator over the values of ``name``, in order."""
        lname = name.lower()
        return iter([v for n, v in self._pairs if n.lower() == lname])

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of ``name``, or ``default`` if there is none."""
        lname = name.lower()
        for n, v in self._pairs:
            if n.lower() == lname:
                return v
        return default

    def remove(self, name: str) -> None:
        """Remove every value of ``name``; ``KeyError`` if there is none."""
        lname = name.lower()
        kept = [p for p in self._pairs if p[0].lower() != lname]
        if len(kept) == len(self._pairs):
            raise KeyError("HttpHeaders.remove(name): name not found")
        self._pairs = kept

    def remove_value(self, name: str, value: str) -> None:
        """Remove the first ``(name, value)`` pair (name case-insensitive, value exact);
        ``ValueError`` if there is none."""
        lname = name.lower()
        for i, (n, v) in enumerate(self._pairs):
            if v == value and n.lower() == lname:
                del self._pairs[i]
                return
        raise ValueError("HttpHeaders.remove_value(name,value): value not found")

    def clear(self) -> None:
        """Remove every header."""
        self._pairs.clear()

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._pairs)

    def __str__(self) -> str:
        return f"HttpHeaders({self._pairs!r})"


def _check_pair(name: object, value: object) -> None:
    if not isinstance(name, str):
        raise TypeError(f"header name must be a str, got {type(name).__name__}")
    if not isinstance(value, str):
        raise TypeError(f"header value of {name!r} must be a str, got {type(value).__name__}")


def _empty_name() -> AwsCrtError:
    from crt_http.exceptions import error

    return error("AWS_ERROR_HTTP_INVALID_HEADER_NAME", "empty header name")


class HttpMessageBase:
    """Base of :class:`HttpRequest`, as in awscrt: ``headers`` and an optional ``body_stream``.

    awscrt's constructor takes its native handle first; this one takes ``(headers,
    body_stream=None)`` (awscrt builds it only from ``HttpRequest``).
    """

    __slots__ = ("_body_stream", "_headers", "__weakref__")

    def __init__(self, headers: HttpHeaders, body_stream: InputStream | Any | None = None) -> None:
        if not isinstance(headers, HttpHeaders):
            raise TypeError(f"headers must be an HttpHeaders or None, got {type(headers).__name__}")
        self._headers = headers
        self._body_stream = None if body_stream is None else InputStream.wrap(body_stream)

    @property
    def headers(self) -> HttpHeaders:
        """The headers to send."""
        return self._headers

    @property
    def body_stream(self) -> InputStream | None:
        """The body source, or None for no body."""
        return self._body_stream

    @body_stream.setter
    def body_stream(self, stream: InputStream | Any | None) -> None:
        self._body_stream = InputStream.wrap(stream, allow_none=True)


class HttpRequest(HttpMessageBase):
    """An outgoing HTTP request: ``method``, ``path`` (path and query), ``headers`` and an
    optional ``body_stream``.

    ``headers`` must be an :class:`HttpHeaders` or None (a new empty one; ``TypeError``
    otherwise). ``body_stream`` is stored as an :class:`InputStream` (any object with
    ``read()`` is wrapped); setting it to None removes the body. Nothing is validated until
    the request is sent (:func:`validate_request`).
    """

    __slots__ = ("method", "path")

    def __init__(self, method: str = "GET", path: str = "/",
                 headers: HttpHeaders | None = None,
                 body_stream: InputStream | Any | None = None) -> None:
        super().__init__(HttpHeaders() if headers is None else headers, body_stream)
        self.method = method
        self.path = path


class HttpProxyConnectionType(IntEnum):
    """How to use the proxy."""

    Legacy = 0
    """Forwarding for plain-text connections, tunneling for TLS ones."""
    Forwarding = 1
    """Send absolute-form requests to the proxy; TLS to the origin is invalid."""
    Tunneling = 2
    """HTTP ``CONNECT`` to the origin, then (TLS and) HTTP through the tunnel."""


class HttpProxyAuthenticationType(IntEnum):
    """Proxy authentication."""

    Nothing = 0
    """No authentication."""
    Basic = 1
    """``Proxy-Authorization: Basic`` with ``auth_username`` and ``auth_password``."""


class HttpProxyOptions:
    """Proxy options for HTTP clients; the arguments are kept as attributes of the same name.

    ``tls_connection_options`` are for the connection to the proxy itself and must be
    distinct from those given for the origin.
    """

    def __init__(self, host_name: str, port: int,
                 tls_connection_options: TlsConnectionOptions | None = None,
                 auth_type: HttpProxyAuthenticationType = HttpProxyAuthenticationType.Nothing,
                 auth_username: str | None = None,
                 auth_password: str | None = None,
                 connection_type: HttpProxyConnectionType = HttpProxyConnectionType.Legacy
                 ) -> None:
        self.host_name = host_name
        self.port = port
        self.tls_connection_options = tls_connection_options
        self.auth_type = auth_type
        self.auth_username = auth_username
        self.auth_password = auth_password
        self.connection_type = connection_type

    def __repr__(self) -> str:
        password = None if self.auth_password is None else "***"
        return (f"HttpProxyOptions(host_name={self.host_name!r}, port={self.port!r}, "
                f"auth_type={self.auth_type!r}, auth_username={self.auth_username!r}, "
                f"auth_password={password}, connection_type={self.connection_type!r})")


# RFC 9110 5.6.2: token = 1*tchar
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+").fullmatch
# RFC 9112 3.2: the request-target has no whitespace and no control characters.
_BAD_PATH_CHAR = re.compile(r"[\x00-\x20\x7f]").search
# Methods and header names already found to be tokens; they repeat from request to request.
_SEEN_TOKENS: set[str] = set()
_SEEN_TOKENS_MAX = 4096


def validate_request(request: HttpRequest) -> None:
    """Raise AwsCrtError before anything is sent if ``request`` cannot be sent as given.

    AWS_ERROR_HTTP_INVALID_METHOD: the method is not a non-empty RFC 9110 token.
    AWS_ERROR_HTTP_INVALID_PATH: the path is empty or holds a space or control character.
    AWS_ERROR_HTTP_INVALID_HEADER_NAME: a header name is not a token.
    AWS_ERROR_HTTP_INVALID_HEADER_VALUE: a header value holds CR, LF or NUL.
    """
    method = request.method
    if type(method) is not str or method not in _SEEN_TOKENS:
        if type(method) is not str or not _TOKEN(method):
            raise _invalid("AWS_ERROR_HTTP_INVALID_METHOD", f"method {method!r}")
        _remember_token(method)
    path = request.path
    if type(path) is not str or not path or _BAD_PATH_CHAR(path):
        raise _invalid("AWS_ERROR_HTTP_INVALID_PATH", f"path {path!r}")
    for name, value in request.headers._pairs:
        if name not in _SEEN_TOKENS:
            if not _TOKEN(name):
                raise _invalid("AWS_ERROR_HTTP_INVALID_HEADER_NAME", f"header name {name!r}")
            _remember_token(name)
        if "\r" in value or "\n" in value or "\0" in value:
            raise _invalid("AWS_ERROR_HTTP_INVALID_HEADER_VALUE",
                           f"value of header {name!r} contains CR, LF or NUL")


def _remember_token(token: str) -> None:
    if len(_SEEN_TOKENS) < _SEEN_TOKENS_MAX:
        _SEEN_TOKENS.add(token)


def _invalid(name: str, detail: str) -> AwsCrtError:
    from crt_http.exceptions import error

    return error(name, detail)
