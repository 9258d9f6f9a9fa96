"""Models: HttpVersion, Http2Setting, HttpHeaders, HttpRequest, InputStream, proxy options,
validate_request."""

from __future__ import annotations

import io
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crt_http import (
    AwsCrtError,
    Http2Setting,
    Http2SettingID,
    HttpHeaders,
    HttpProxyAuthenticationType,
    HttpProxyConnectionType,
    HttpProxyOptions,
    HttpRequest,
    HttpVersion,
    InputStream,
)
from crt_http._models import validate_request

# --- enums -----------------------------------------------------------------------------------


def test_http_version_values() -> None:
    assert [(v.name, int(v)) for v in HttpVersion] == [
        ("Unknown", 0), ("Http1_0", 1), ("Http1_1", 2), ("Http2", 3), ("Http3", 4)]


def test_setting_ids_and_proxy_enums() -> None:
    assert [(s.name, int(s)) for s in Http2SettingID] == [
        ("HEADER_TABLE_SIZE", 1), ("ENABLE_PUSH", 2), ("MAX_CONCURRENT_STREAMS", 3),
        ("INITIAL_WINDOW_SIZE", 4), ("MAX_FRAME_SIZE", 5), ("MAX_HEADER_LIST_SIZE", 6)]
    assert [(t.name, int(t)) for t in HttpProxyConnectionType] == [
        ("Legacy", 0), ("Forwarding", 1), ("Tunneling", 2)]
    assert [(t.name, int(t)) for t in HttpProxyAuthenticationType] == [
        ("Nothing", 0), ("Basic", 1)]


# --- Http2Setting ----------------------------------------------------------------------------

RANGES = [
    (Http2SettingID.HEADER_TABLE_SIZE, 0, 2**32 - 1),
    (Http2SettingID.ENABLE_PUSH, 0, 1),
    (Http2SettingID.MAX_CONCURRENT_STREAMS, 0, 2**32 - 1),
    (Http2SettingID.INITIAL_WINDOW_SIZE, 0, 2**31 - 1),
    (Http2SettingID.MAX_FRAME_SIZE, 2**14, 2**24 - 1),
    (Http2SettingID.MAX_HEADER_LIST_SIZE, 0, 2**32 - 1),
]


@pytest.mark.parametrize(("sid", "low", "high"), RANGES, ids=[r[0].name for r in RANGES])
def test_http2_setting_range_edges(sid: Http2SettingID, low: int, high: int) -> None:
    assert Http2Setting.VALID_RANGES[sid] == (low, high)
    assert Http2Setting(sid, low).value == low
    assert Http2Setting(sid, high).value == high
    for bad in (low - 1, high + 1):
        with pytest.raises(ValueError, match=rf"^{sid.name} must be between {low} and {high}, "
                                             rf"got {bad}$"):
            Http2Setting(sid, bad)


@pytest.mark.parametrize("bad_id", ["MAX_FRAME_SIZE", None, 7, 0, 1.0])
def test_http2_setting_bad_id_is_type_error(bad_id: object) -> None:
    with pytest.raises(TypeError, match="Http2SettingID"):
        Http2Setting(bad_id, 1)  # type: ignore[arg-type]


def test_http2_setting_plain_int_id_and_bad_value_type() -> None:
    setting = Http2Setting(5, 2**14)  # type: ignore[arg-type]
    assert setting.id is Http2SettingID.MAX_FRAME_SIZE
    with pytest.raises(TypeError, match="ENABLE_PUSH value must be an int"):
        Http2Setting(Http2SettingID.ENABLE_PUSH, "1")  # type: ignore[arg-type]
    assert Http2Setting(Http2SettingID.ENABLE_PUSH, False).value == 0


def test_http2_setting_str_repr_eq() -> None:
    a = Http2Setting(Http2SettingID.INITIAL_WINDOW_SIZE, 65535)
    assert str(a) == "Http2Setting(INITIAL_WINDOW_SIZE=65535)"
    assert repr(a) == "Http2Setting(Http2SettingID.INITIAL_WINDOW_SIZE, 65535)"
    assert a == Http2Setting(Http2SettingID.INITIAL_WINDOW_SIZE, 65535)
    assert a != Http2Setting(Http2SettingID.INITIAL_WINDOW_SIZE, 65534)
    assert a != Http2Setting(Http2SettingID.HEADER_TABLE_SIZE, 65535)
    assert a != (4, 65535)
    assert len({a, Http2Setting(Http2SettingID.INITIAL_WINDOW_SIZE, 65535)}) == 1


# --- HttpHeaders -----------------------------------------------------------------------------


def test_headers_construct_iterate_str() -> None:
    h = HttpHeaders([("Host", "example.com"), ("X-A", "1"), ("x-a", "2")])
    assert list(h) == [("Host", "example.com"), ("X-A", "1"), ("x-a", "2")]
    assert str(h) == "HttpHeaders([('Host', 'example.com'), ('X-A', '1'), ('x-a', '2')])"
    assert list(HttpHeaders()) == [] and str(HttpHeaders()) == "HttpHeaders([])"
    assert all(type(pair) is tuple for pair in h)


def test_headers_add_and_add_pairs() -> None:
    h = HttpHeaders()
    h.add("A", "1")
    h.add("a", "")
    h.add_pairs([("B", "2"), ["C", "3"]])
    h.add_pairs(iter([("D", "4")]))
    assert list(h) == [("A", "1"), ("a", ""), ("B", "2"), ("C", "3"), ("D", "4")]


@pytest.mark.parametrize("name,value", [(1, "v"), ("n", None), (b"n", "v"), ("n", b"v")])
def test_headers_add_type_errors(name: object, value: object) -> None:
    h = HttpHeaders()
    with pytest.raises(TypeError):
        h.add(name, value)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        h.set(name, value)  # type: ignore[arg-type]
    assert list(h) == []


@pytest.mark.parametrize("bad", [("a",), ("a", "b", "c"), "ab", None, ("a", 1)])
def test_headers_add_pairs_rejects_bad_items_atomically(bad: object) -> None:
    h = HttpHeaders([("keep", "1")])
    with pytest.raises(TypeError):
        h.add_pairs([("ok", "2"), bad])  # type: ignore[list-item]
    assert list(h) == [("keep", "1")]
    with pytest.raises(TypeError):
        HttpHeaders([bad])  # type: ignore[list-item]


def test_headers_empty_name_is_invalid_header_name() -> None:
    h = HttpHeaders()
    for call in (lambda: h.add("", "v"), lambda: h.set("", "v"),
                 lambda: h.add_pairs([("", "v")])):
        with pytest.raises(AwsCrtError) as info:
            call()
        assert info.value.name == "AWS_ERROR_HTTP_INVALID_HEADER_NAME"
        assert isinstance(info.value, RuntimeError)
    assert list(h) == []


def test_headers_get_is_case_insensitive_first_value() -> None:
    h = HttpHeaders([("Content-Type", "a"), ("content-type", "b")])
    assert h.get("CONTENT-TYPE") == "a"
    assert h.get("missing") is None
    assert h.get("missing", "dflt") == "dflt"
    assert HttpHeaders([("x", "")]).get("X", "dflt") == ""


def test_headers_get_values_is_an_iterator_in_order() -> None:
    h = HttpHeaders([("A", "1"), ("b", "2"), ("a", "3")])
    values = h.get_values("a")
    assert iter(values) is values
    assert list(values) == ["1", "3"]
    assert list(h.get_values("nope")) == []


def test_headers_set_replaces_every_value_and_appends() -> None:
    h = HttpHeaders([("A", "1"), ("b", "2"), ("a", "3")])
    h.set("a", "9")
    assert list(h) == [("b", "2"), ("a", "9")]
    h.set("New", "v")
    assert list(h) == [("b", "2"), ("a", "9"), ("New", "v")]


def test_headers_remove() -> None:
    h = HttpHeaders([("A", "1"), ("b", "2"), ("a", "3")])
    h.remove("A")
    assert list(h) == [("b", "2")]
    with pytest.raises(KeyError):
        h.remove("a")
    assert list(h) == [("b", "2")]


def test_headers_remove_value() -> None:
    h = HttpHeaders([("A", "1"), ("b", "2"), ("a", "1"), ("a", "3")])
    h.remove_value("a", "1")  # the first matching pair only
    assert list(h) == [("b", "2"), ("a", "1"), ("a", "3")]
    with pytest.raises(ValueError):
        h.remove_value("a", "X")  # values are case-sensitive
    with pytest.raises(ValueError):
        h.remove_value("zz", "1")
    h.remove_value("A", "3")
    assert list(h) == [("b", "2"), ("a", "1")]


def test_headers_clear_and_mutation_during_iteration_is_safe() -> None:
    h = HttpHeaders([("a", "1"), ("b", "2")])
    seen = []
    for name, _value in h:
        seen.append(name)
        h.set("c", "3")  # rebinds the list: the running iteration is unaffected
    assert seen == ["a", "b"]
    h.clear()
    assert list(h) == [] and h.get("a") is None


_names = st.sampled_from(["A", "a", "b", "B", "Content-Type", "content-type"])
_values = st.sampled_from(["1", "2", "", "x y"])
_ops = st.lists(st.tuples(st.sampled_from(["add", "set", "remove", "remove_value", "clear"]),
                          _names, _values), max_size=25)


@settings(max_examples=150, deadline=None)
@given(_ops)
def test_headers_match_awscrt(ops: list[tuple[str, str, str]]) -> None:
    http = pytest.importorskip("awscrt.http")
    ours, theirs = HttpHeaders(), http.HttpHeaders()
    for op, name, value in ops:
        outcomes = []
        for h in (ours, theirs):
            try:
                if op in ("add", "set", "remove_value"):
                    getattr(h, op)(name, value)
                elif op == "remove":
                    h.remove(name)
                else:
                    h.clear()
                outcomes.append(None)
            except (KeyError, ValueError) as exc:
                outcomes.append(type(exc))
        assert outcomes[0] == outcomes[1], op
        assert list(ours) == list(theirs)
        assert str(ours) == str(theirs)
        assert ours.get(name) == theirs.get(name)
        assert list(ours.get_values(name)) == list(theirs.get_values(name))


# --- InputStream -----------------------------------------------------------------------------


def test_input_stream_wrap_rules() -> None:
    raw = io.BytesIO(b"abc")
    wrapped = InputStream.wrap(raw)
    assert isinstance(wrapped, InputStream)
    assert InputStream.wrap(wrapped) is wrapped
    assert InputStream.wrap(None, allow_none=True) is None
    for bad in (None, b"abc", bytearray(b"abc"), "abc", 42, object()):
        with pytest.raises(TypeError, match="I/O stream type expected"):
            InputStream.wrap(bad)
    with pytest.raises(TypeError):
        InputStream(b"abc")
    assert InputStream(wrapped).read(10) == b"abc"  # nested: unwrapped


class _ReadOnly:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self, n: int = -1) -> bytes:
        chunk, self.data = self.data[:n], self.data[n:]
        return chunk


class _Spy(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.calls: list[str] = []

    def readinto1(self, b):  # type: ignore[no-untyped-def]
        self.calls.append("readinto1")
        return super().readinto1(b)

    def readinto(self, b):  # type: ignore[no-untyped-def]
        self.calls.append("readinto")
        return super().readinto(b)


def test_input_stream_readinto_prefers_readinto1() -> None:
    spy = _Spy(b"hello world")
    stream = InputStream(spy)
    buf = bytearray(5)
    assert stream.readinto(buf) == 5 and buf == b"hello"
    assert spy.calls == ["readinto1"]


def test_input_stream_with_read_only() -> None:
    stream = InputStream(_ReadOnly(b"hello world"))
    buf = bytearray(5)
    assert stream.readinto(buf) == 5 and bytes(buf) == b"hello"
    assert stream.read(100) == b" world"
    assert stream.read(100) == b""
    assert stream.readinto(buf) == 0


def test_input_stream_read_returns_bytes() -> None:
    class Bytearrays(_ReadOnly):
        def read(self, n: int = -1) -> bytearray:  # type: ignore[override]
            return bytearray(super().read(n))

    data = InputStream(Bytearrays(b"xyz")).read(2)
    assert type(data) is bytes and data == b"xy"
    with pytest.raises(TypeError):
        InputStream(io.StringIO("text")).read(2)


def test_input_stream_non_blocking_source() -> None:
    class NothingYet:
        def read(self, n: int = -1) -> None:
            return None

    class WouldBlock(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, b):  # type: ignore[no-untyped-def]
            raise BlockingIOError

    assert InputStream(NothingYet()).readinto(bytearray(4)) is None
    with pytest.raises(BlockingIOError):
        InputStream(NothingYet()).read(4)
    assert InputStream(WouldBlock()).readinto(bytearray(4)) is None
    with pytest.raises(BlockingIOError):
        InputStream(WouldBlock()).read(4)


def test_input_stream_read_of_a_raw_stream_goes_through_readinto_and_chunks_stay_intact() -> None:
    """A raw stream is read with readinto into a reused buffer; each chunk handed out is a
    copy that the next read does not change (callers keep chunks)."""
    class Raw(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self.data, self.calls = data, []

        def readable(self) -> bool:
            return True

        def read(self, n: int = -1) -> bytes:
            raise AssertionError("RawIOBase.read (a fresh zeroed buffer, then a copy) was used")

        def readinto(self, b):  # type: ignore[no-untyped-def]
            n = min(len(b), len(self.data))
            b[:n], self.data = self.data[:n], self.data[n:]
            self.calls.append(len(b))
            return n

    raw = Raw(b"abcdefghij")
    stream = InputStream(raw)
    chunks = [stream.read(4), stream.read(4), stream.read(4), stream.read(4)]
    assert chunks == [b"abcd", b"efgh", b"ij", b""] and all(type(c) is bytes for c in chunks)
    assert raw.calls == [4, 4, 4, 4]


# --- HttpRequest -----------------------------------------------------------------------------


def test_request_defaults() -> None:
    r = HttpRequest()
    assert (r.method, r.path, r.body_stream) == ("GET", "/", None)
    assert isinstance(r.headers, HttpHeaders) and list(r.headers) == []
    assert HttpRequest().headers is not r.headers


def test_request_fields_and_body_stream() -> None:
    headers = HttpHeaders([("Host", "h")])
    body = io.BytesIO(b"payload")
    r = HttpRequest("PUT", "/k?x=1", headers, body)
    assert (r.method, r.path) == ("PUT", "/k?x=1")
    assert r.headers is headers
    assert isinstance(r.body_stream, InputStream) and r.body_stream.read(100) == b"payload"
    r.method, r.path = "POST", "/other"
    assert (r.method, r.path) == ("POST", "/other")
    existing = InputStream(io.BytesIO(b"x"))
    r.body_stream = existing
    assert r.body_stream is existing
    r.body_stream = None
    assert r.body_stream is None
    with pytest.raises(TypeError, match="I/O stream type expected"):
        r.body_stream = b"raw bytes"
    with pytest.raises(TypeError, match="I/O stream type expected"):
        HttpRequest(body_stream=b"raw bytes")
    with pytest.raises(AttributeError):
        r.headers = HttpHeaders()  # type: ignore[misc]


def test_request_headers_must_be_http_headers() -> None:
    with pytest.raises(TypeError, match="headers"):
        HttpRequest(headers=[("a", "b")])  # type: ignore[arg-type]


# --- HttpProxyOptions ------------------------------------------------------------------------


def test_proxy_options() -> None:
    p = HttpProxyOptions("proxy", 3128)
    assert (p.host_name, p.port, p.tls_connection_options, p.auth_type, p.auth_username,
            p.auth_password, p.connection_type) == (
        "proxy", 3128, None, HttpProxyAuthenticationType.Nothing, None, None,
        HttpProxyConnectionType.Legacy)
    q = HttpProxyOptions(host_name="p", port=1, auth_type=HttpProxyAuthenticationType.Basic,
                         auth_username="u", auth_password="s3cret",
                         connection_type=HttpProxyConnectionType.Tunneling)
    assert (q.auth_username, q.auth_password) == ("u", "s3cret")
    assert "s3cret" not in repr(q) and "'u'" in repr(q)


# --- validate_request ------------------------------------------------------------------------


def _error_name(request: HttpRequest) -> str | None:
    try:
        validate_request(request)
    except AwsCrtError as exc:
        return exc.name
    return None


def test_valid_request_passes() -> None:
    headers = HttpHeaders([("Host", "example.com"), ("X-Tab", "a\tb"), ("X-Utf8", "héllo"),
                           ("x-empty", ""), ("!#$%&'*+-.^_`|~", "v")])
    assert _error_name(HttpRequest("PATCH", "/a/b?c=d&e=%20", headers)) is None
    assert _error_name(HttpRequest("OPTIONS", "*")) is None
    assert _error_name(HttpRequest("CONNECT", "example.com:443")) is None


@pytest.mark.parametrize("method", ["", "GE T", "GET\r\n", "GET\n", "G\x00T", "GÉT", "(GET)",
                                    None, b"GET"])
def test_invalid_method(method: object) -> None:
    assert _error_name(HttpRequest(method, "/")) == "AWS_ERROR_HTTP_INVALID_METHOD"  # type: ignore[arg-type]


@pytest.mark.parametrize("path", ["", "/a b", "/a\r\nb", "/a\rb", "/a\nb", "/\x00", "/\x7f",
                                  "/\t", "/\x1b", None])
def test_invalid_path(path: object) -> None:
    assert _error_name(HttpRequest("GET", path)) == "AWS_ERROR_HTTP_INVALID_PATH"  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["X\rY", "X\nY", "X\x00Y", "X Y", "X:Y", ":authority",
                                  "Ünicode", "X\tY", "(x)"])
def test_invalid_header_name(name: str) -> None:
    request = HttpRequest("GET", "/", HttpHeaders([("Host", "h"), (name, "v")]))
    assert _error_name(request) == "AWS_ERROR_HTTP_INVALID_HEADER_NAME"


@pytest.mark.parametrize("value", ["a\rb", "a\nb", "a\x00b", "\r\n", "x\r\nInjected: 1"])
def test_invalid_header_value(value: str) -> None:
    request = HttpRequest("GET", "/", HttpHeaders([("Host", "h"), ("X-Secret", value)]))
    with pytest.raises(AwsCrtError) as info:
        validate_request(request)
    assert info.value.name == "AWS_ERROR_HTTP_INVALID_HEADER_VALUE"
    assert info.value.code == 2052
    assert "X-Secret" in info.value.message
    assert value not in info.value.message  # header values may be secrets


def test_validation_remembers_only_valid_tokens() -> None:
    good = HttpRequest("GET", "/", HttpHeaders([("X-Seen", "1")]))
    for _ in range(2):
        assert _error_name(good) is None
    bad = HttpRequest("GET", "/", HttpHeaders([("X-Seen ", "1")]))
    for _ in range(2):
        assert _error_name(bad) == "AWS_ERROR_HTTP_INVALID_HEADER_NAME"


def test_validation_error_is_picklable() -> None:
    with pytest.raises(AwsCrtError) as info:
        validate_request(HttpRequest("GET", ""))
    clone = pickle.loads(pickle.dumps(info.value))
    assert (clone.code, clone.name, str(clone)) == (2054, "AWS_ERROR_HTTP_INVALID_PATH",
                                                    str(info.value))
