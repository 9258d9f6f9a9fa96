"""The test servers do what their docstrings say (checked with raw sockets, http.client and a
bare h2 client — never with crt_http)."""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import pytest
from h2.frame_buffer import FrameBuffer
from h2.settings import SettingCodes
from hyperframe.frame import DataFrame, GoAwayFrame

from tests.servers.certs import CertBundle
from tests.servers.common import (
    PATTERN_PERIOD,
    PatternChecker,
    check_pattern,
    iter_pattern,
    pattern,
)
from tests.servers.h1 import H1Server
from tests.servers.h2 import H2Server
from tests.servers.raw import RawServer

TIMEOUT = 3.0

# --------------------------------------------------------------------------- client helpers


def connect(
    port: int, ca: CertBundle | None = None, alpn: tuple[str, ...] = ("http/1.1",), server_hostname: str = "localhost"
) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    if ca is not None:
        sock = ca.client_context(alpn).wrap_socket(sock, server_hostname=server_hostname)
    return sock


def recv_all(sock: socket.socket, timeout: float = TIMEOUT) -> bytes:
    """Read until EOF (raises socket.timeout if the peer neither sends nor closes)."""
    sock.settimeout(timeout)
    out = bytearray()
    while True:
        d = sock.recv(65536)
        if not d:
            return bytes(out)
        out += d


class Resp:
    def __init__(self) -> None:
        self.version = ""
        self.status = 0
        self.headers: list[tuple[str, str]] = []
        self.body = b""
        self.trailers: list[tuple[str, str]] = []
        self.interim: list[int] = []

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name), None)


def read_response(f: Any, head_only: bool = False) -> Resp:
    """Parse one HTTP/1.x response from a binary file object (Content-Length, chunked or
    read-until-close framing; interim heads recorded and skipped)."""
    r = Resp()
    while True:
        status_line = f.readline()
        if not status_line:
            raise EOFError("no status line")
        version, code, _ = status_line.decode("latin-1").split(" ", 2)
        headers = []
        while True:
            line = f.readline()
            if line in (b"\r\n", b""):
                break
            k, v = line.decode("latin-1").split(":", 1)
            headers.append((k.strip(), v.strip()))
        if 100 <= int(code) < 200:
            r.interim.append(int(code))
            continue
        r.version, r.status, r.headers = version, int(code), headers
        break
    if head_only or r.status in (204, 304):
        return r
    if (r.header("transfer-encoding") or "").lower() == "chunked":
        body = bytearray()
        while True:
            size = int(f.readline().split(b";")[0], 16)
            if size == 0:
                break
            body += f.read(size)
            assert f.read(2) == b"\r\n"
        while True:
            line = f.readline()
            if line in (b"\r\n", b""):
                break
            k, v = line.decode("latin-1").split(":", 1)
            r.trailers.append((k.strip(), v.strip()))
        r.body = bytes(body)
    elif r.header("content-length") is not None:
        r.body = f.read(int(r.header("content-length") or 0))
    else:
        r.body = f.read()
    return r


def request_bytes(
    method: str = "GET", path: str = "/", headers: dict[str, str] | None = None, body: bytes = b""
) -> bytes:
    hs = {"Host": "localhost", **(headers or {})}
    if body and "Transfer-Encoding" not in hs:
        hs.setdefault("Content-Length", str(len(body)))
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hs.items()) + "\r\n"
    return head.encode("latin-1") + body


def exchange(
    port: int,
    headers: dict[str, str] | None = None,
    method: str = "GET",
    path: str = "/",
    body: bytes = b"",
    ca: CertBundle | None = None,
) -> Resp:
    """One request on a fresh connection, then the parsed response."""
    with connect(port, ca) as sock:
        sock.sendall(request_bytes(method, path, headers, body))
        return read_response(sock.makefile("rb"))


class H2Stream:
    def __init__(self) -> None:
        self.headers: list[tuple[bytes, bytes]] | None = None
        self.informational: list[list[tuple[bytes, bytes]]] = []
        self.data = bytearray()
        self.frames: list[int] = []
        self.trailers: list[tuple[bytes, bytes]] = []
        self.ended = False
        self.reset: int | None = None

    @property
    def status(self) -> int:
        assert self.headers is not None
        return int(dict(self.headers)[b":status"])


class H2Client:
    """Blocking h2 client for these tests: ``request()`` then ``pump(until)``."""

    def __init__(
        self,
        port: int,
        ca: CertBundle | None = None,
        alpn: tuple[str, ...] = ("h2",),
        settings: dict[int, int] | None = None,
        auto_ack: bool = True,
    ) -> None:
        self.sock = connect(port, ca, alpn)
        self.scheme = b"https" if ca else b"http"
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
        self.conn.initiate_connection()
        self.conn.update_settings({SettingCodes.ENABLE_PUSH: 0, **(settings or {})})
        self.auto_ack = auto_ack
        self.streams: dict[int, H2Stream] = {}
        self.events: list[h2.events.Event] = []
        self.eof = False
        self.flush()

    def flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def request(
        self,
        path: str = "/echo",
        headers: list[tuple[str, str]] | None = None,
        method: str = "GET",
        body: bytes | None = None,
        end: bool = True,
    ) -> int:
        sid = self.conn.get_next_available_stream_id()
        hs = [(":method", method), (":path", path), (":scheme", self.scheme.decode()), (":authority", "localhost")] + (
            headers or []
        )
        self.streams[sid] = H2Stream()
        self.conn.send_headers(sid, hs, end_stream=end and not body)
        self.flush()
        if body:
            self.send_body(sid, body, end=end)
        return sid

    def send_body(self, sid: int, body: bytes, end: bool = True, timeout: float = TIMEOUT) -> None:
        mv = memoryview(body)
        deadline = time.monotonic() + timeout
        while len(mv):
            w = min(self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size)
            if w <= 0:
                if time.monotonic() > deadline:
                    raise TimeoutError("no window")
                self.pump(lambda: self.conn.local_flow_control_window(sid) > 0, 0.5, quiet=True)
                continue
            n = min(w, len(mv))
            self.conn.send_data(sid, mv[:n].tobytes())
            mv = mv[n:]
            self.flush()
        if end:
            self.conn.end_stream(sid)
            self.flush()

    def pump(self, until: Callable[[], bool], timeout: float = TIMEOUT, quiet: bool = False) -> bool:
        """Process incoming frames until ``until()`` or EOF; False on timeout if ``quiet``."""
        deadline = time.monotonic() + timeout
        while not until():
            if self.eof:
                return until()
            left = deadline - time.monotonic()
            if left <= 0:
                if quiet:
                    return False
                raise TimeoutError("condition not met")
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except (ssl.SSLError, ConnectionError):
                data = b""
            if not data:
                self.eof = True
                continue
            for ev in self.conn.receive_data(data):
                self.on_event(ev)
            self.flush()
        return True

    def on_event(self, ev: h2.events.Event) -> None:
        self.events.append(ev)
        st = self.streams.get(getattr(ev, "stream_id", 0) or 0)
        if isinstance(ev, h2.events.ResponseReceived) and st:
            st.headers = ev.headers
        elif isinstance(ev, h2.events.InformationalResponseReceived) and st:
            st.informational.append(ev.headers)
        elif isinstance(ev, h2.events.DataReceived) and st:
            st.data += ev.data
            st.frames.append(len(ev.data))
            if self.auto_ack:
                self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
        elif isinstance(ev, h2.events.TrailersReceived) and st:
            st.trailers = ev.headers
        elif isinstance(ev, h2.events.StreamEnded) and st:
            st.ended = True
        elif isinstance(ev, h2.events.StreamReset) and st:
            st.reset = int(ev.error_code)

    def done(self, sid: int) -> Callable[[], bool]:
        return lambda: self.streams[sid].ended or self.streams[sid].reset is not None

    def get(self, path: str = "/echo", headers: list[tuple[str, str]] | None = None, **kw: Any) -> H2Stream:
        sid = self.request(path, headers, **kw)
        self.pump(self.done(sid))
        return self.streams[sid]

    def first(self, kind: type) -> Any:
        return next((e for e in self.events if isinstance(e, kind)), None)

    def close(self) -> None:
        self.sock.close()


def read_raw_frames(sock: socket.socket, timeout: float = TIMEOUT) -> list[Any]:
    """Every frame until EOF, parsed by hyperframe without any HTTP/2 state machine."""
    buf = FrameBuffer(server=False)
    buf.max_frame_size = 1 << 24
    frames: list[Any] = []
    for chunk in iter(lambda: recv_some(sock, timeout), b""):
        buf.add_data(chunk)
        frames.extend(buf)
    return frames


def recv_some(sock: socket.socket, timeout: float) -> bytes:
    sock.settimeout(timeout)
    try:
        return sock.recv(65536)
    except (ConnectionError, ssl.SSLError):
        return b""


def poll(cond: Callable[[], bool], timeout: float = TIMEOUT) -> bool:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


@pytest.fixture
def h2_client() -> Any:
    """Factory of H2Client objects, all closed at teardown."""
    made: list[H2Client] = []

    def make(*args: Any, **kwargs: Any) -> H2Client:
        c = H2Client(*args, **kwargs)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


# --------------------------------------------------------------------------- pattern, certs


def test_pattern_contract() -> None:
    assert PATTERN_PERIOD == 61
    p = pattern(200)
    assert p[:10] == b"0123456789" and p[61:71] == b"0123456789" and len(p) == 200
    assert pattern(50, offset=70) == p[70:120]
    assert b"".join(bytes(c) for c in iter_pattern(300_000, 7_000)) == pattern(300_000)
    assert check_pattern(pattern(1000, 5), offset=5)
    checker = PatternChecker()
    checker.feed(pattern(100))
    checker.feed(b"!" + pattern(99, 101))
    assert not checker.ok and checker.first_mismatch == 100 and checker.count == 200


@pytest.mark.parametrize(
    "kind, hostname, ok, reason",
    [
        ("server", "localhost", True, None),
        ("server", "127.0.0.1", True, None),
        ("wrong-host", "localhost", False, "mismatch"),
        ("expired", "localhost", False, "expired"),
        ("untrusted", "localhost", False, "unable to get local issuer"),
    ],
)
def test_certs(
    make_h1_server: Callable[..., H1Server], ca: CertBundle, kind: str, hostname: str, ok: bool, reason: str | None
) -> None:
    server = make_h1_server(tls=True, cert_kind=kind)
    if ok:
        with connect(server.port, ca, server_hostname=hostname) as s:
            assert s.selected_alpn_protocol() == "http/1.1"
    else:
        with pytest.raises(ssl.SSLCertVerificationError, match=reason):
            connect(server.port, ca, server_hostname=hostname)
    assert ca.ca_pem.startswith(b"-----BEGIN CERTIFICATE-----")
    with open(ca.ca_file, "rb") as f:
        assert f.read() == ca.ca_pem


# --------------------------------------------------------------------------- HTTP/1.1 server


def test_h1_echo_round_trip(h1_server: H1Server) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", h1_server.port, timeout=TIMEOUT)
    body = bytes(range(256))
    conn.request("POST", "/echo?x=1", body=body, headers={"X-Custom": "Val"})
    resp = conn.getresponse()
    data = json.loads(resp.read())
    conn.close()
    assert resp.status == 200 and resp.getheader("content-type") == "application/json"
    assert data["method"] == "POST" and data["path"] == "/echo?x=1"
    assert ["X-Custom", "Val"] in data["headers"]
    assert data["body"].encode("latin-1") == body and data["body_len"] == 256
    assert h1_server.requests[0].body_len == 256


def test_h1_repeat_data_keep_alive_and_tls(h1_tls_server: H1Server, ca: CertBundle) -> None:
    ctx = ca.client_context()
    conn = http.client.HTTPSConnection("localhost", h1_tls_server.port, context=ctx, timeout=TIMEOUT)
    for n in (0, 1, 61, 3_000_000):
        conn.request("GET", "/", headers={"x-repeat-data": str(n)})
        resp = conn.getresponse()
        data = resp.read()
        assert resp.status == 200 and len(data) == n and check_pattern(data)
    conn.close()
    assert h1_tls_server.connections_accepted == 1


def test_h1_pipelining_in_order(h1_server: H1Server) -> None:
    reqs = b"".join(request_bytes("GET", "/echo", {"x-n": str(i)}) for i in range(5))
    with connect(h1_server.port) as s:
        s.sendall(reqs)
        f = s.makefile("rb")
        for i in range(5):
            assert ["x-n", str(i)] in json.loads(read_response(f).body)["headers"]
    assert h1_server.connections_accepted == 1


@pytest.mark.parametrize("framing", ["content-length", "chunked", "close"])
def test_h1_framing(h1_server: H1Server, framing: str) -> None:
    r = exchange(h1_server.port, {"x-repeat-data": "100000", "x-framing": framing})
    assert r.body == pattern(100000)
    assert (r.header("content-length") is not None) == (framing == "content-length")
    assert ((r.header("transfer-encoding") or "") == "chunked") == (framing == "chunked")
    assert (r.header("connection") == "close") == (framing == "close")


def test_h1_http10_trailers_interim_status(h1_server: H1Server) -> None:
    r = exchange(h1_server.port, {"x-http10": "true", "x-repeat-data": "10", "x-framing": "chunked"})
    assert r.version == "HTTP/1.0" and r.body == pattern(10) and r.header("content-length") is None
    r = exchange(h1_server.port, {"x-trailers": "a=1, b=two", "x-repeat-data": "5"})
    assert r.header("transfer-encoding") == "chunked" and r.trailers == [("a", "1"), ("b", "two")]
    r = exchange(h1_server.port, {"x-interim": "3", "x-expect-status": "404"})
    assert r.interim == [100, 103, 100] and r.status == 404
    for status in (204, 304):
        with connect(h1_server.port) as s:
            s.sendall(request_bytes(headers={"x-expect-status": str(status), "x-repeat-data": "9"}) * 2)
            f = s.makefile("rb")
            for _ in range(2):  # the second response proves no body bytes were sent
                r = read_response(f)
                assert r.status == status and r.header("content-length") is None
    with connect(h1_server.port) as s:
        s.sendall(request_bytes("HEAD", headers={"x-repeat-data": "50"}) + request_bytes("GET", "/echo"))
        f = s.makefile("rb")
        r = read_response(f, head_only=True)
        assert r.header("content-length") == "50"
        assert json.loads(read_response(f).body)["method"] == "GET"


def test_h1_request_bodies_and_upload_test(h1_server: H1Server) -> None:
    chunked = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    with connect(h1_server.port) as s:
        s.sendall(request_bytes("PUT", "/echo", {"Transfer-Encoding": "chunked"}) + chunked)
        f = s.makefile("rb")
        assert json.loads(read_response(f).body)["body"] == "hello world"
        s.sendall(request_bytes("PUT", "/x", {"x-upload-test": "true"}, b"z" * 123_456))
        assert read_response(f).body == b"123456"
    r = exchange(h1_server.port, {"Expect": "100-continue", "x-upload-test": "true"}, "POST", body=b"abc")
    assert r.interim == [100] and r.body == b"3"


def test_h1_slow_response(h1_server: H1Server) -> None:
    t0 = time.monotonic()
    r = exchange(h1_server.port, {"x-slow-response": "true", "x-throughput-bps": "200000", "x-repeat-data": "50000"})
    assert r.body == pattern(50000) and time.monotonic() - t0 >= 0.2


@pytest.mark.parametrize("hdr", [{"Connection": "close"}, {"x-server-close": "true"}])
def test_h1_close_after_response(h1_server: H1Server, hdr: dict[str, str]) -> None:
    with connect(h1_server.port) as s:
        s.sendall(request_bytes(headers=hdr))
        data = recv_all(s)
    assert data.startswith(b"HTTP/1.1 200 OK") and b"connection: close" in data


def _fault(
    port: int,
    fault: str,
    extra: dict[str, str] | None = None,
    ca: CertBundle | None = None,
    timeout: float = TIMEOUT,
    until: Callable[[bytes], bool] | None = None,
) -> tuple[bytes, bool]:
    """Send one request with x-fault; return (bytes received, closed_by_server).

    Reads until EOF; with ``until``, reads until ``until(data)`` (bounded by TIMEOUT) and then
    only ``timeout`` more seconds to see whether the server closes."""
    with connect(port, ca) as s:
        s.sendall(request_bytes(headers={"x-fault": fault, "x-repeat-data": "1000", **(extra or {})}))
        out = bytearray()
        deadline = time.monotonic() + TIMEOUT
        try:
            while True:
                done = until is not None and until(bytes(out))
                s.settimeout(timeout if done or until is None else max(0.01, deadline - time.monotonic()))
                d = s.recv(65536)
                if not d:
                    return bytes(out), True
                out += d
        except socket.timeout:
            return bytes(out), False


def _body(data: bytes) -> bytes:
    return data.split(b"\r\n\r\n", 1)[1]


@pytest.mark.parametrize(
    "fault, check",
    [
        ("close-before-headers", lambda d: d == b""),
        ("close-during-headers", lambda d: d == b"HTTP/1.1 200 OK\r\nContent-Le"),
        ("close-mid-body", lambda d: b"content-length: 1000\r\n" in d and _body(d) == pattern(500)),
        (
            "truncated-chunked",
            lambda d: (
                b"transfer-encoding: chunked" in d
                and _body(d)
                == b"a7\r\n"
                + pattern(167)
                + b"\r\na7\r\n"
                + pattern(167, 167)
                + b"\r\na6\r\n"
                + pattern(166, 334)
                + b"\r\n"
            ),
        ),
        ("content-length-larger", lambda d: b"content-length: 1100\r\n" in d and _body(d) == pattern(1000)),
    ],
)
def test_h1_faults_that_close(h1_server: H1Server, fault: str, check: Callable[[bytes], bool]) -> None:
    data, closed = _fault(h1_server.port, fault)
    assert closed and check(data), data[:300]


@pytest.mark.parametrize(
    "fault, expected",
    [
        ("content-length-smaller", None),
        ("malformed-status", b"HTTP/1.1 abc OK\r\nContent-Length: 0\r\n\r\n"),
        ("malformed-header", b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nthis-header-has-no-colon\r\n\r\n"),
        ("stall", b""),
        ("stall-mid-body", None),
    ],
)
def test_h1_faults_that_keep_open(h1_server: H1Server, fault: str, expected: bytes | None) -> None:
    if fault == "content-length-smaller":
        check = lambda d: b"content-length: 1000\r\n" in d and _body(d) == pattern(1000) + b"X" * 100  # noqa: E731
    elif fault == "stall-mid-body":
        check = lambda d: b"\r\n\r\n" in d and _body(d) == pattern(500)  # noqa: E731
    else:
        check = lambda d: d == expected  # noqa: E731
    data, closed = _fault(h1_server.port, fault, timeout=0.2, until=check)
    assert check(data) and not closed, data[:200]


def test_h1_oversized_headers_keep_alive(h1_server: H1Server) -> None:
    with connect(h1_server.port) as s:
        s.sendall(request_bytes(headers={"x-fault": "oversized-headers", "x-fault-size": "200000"}))
        f = s.makefile("rb")
        r = read_response(f)
        head_size = sum(len(k) + len(v) + 4 for k, v in r.headers)
        assert r.status == 200 and head_size >= 200000
        s.sendall(request_bytes(headers={"x-repeat-data": "7"}))
        assert read_response(f).body == pattern(7)


def test_h1_reject_upload_413(h1_server: H1Server) -> None:
    h1_server.reject_linger = 0.3
    with connect(h1_server.port) as s:
        s.sendall(request_bytes("PUT", "/", {"x-fault": "reject-upload-413", "Content-Length": str(1 << 30)}))
        chunk = b"u" * 65536
        s.settimeout(TIMEOUT)
        try:  # the server stops reading: the upload ends in a reset or a full buffer
            for _ in range(1 << 14):
                s.sendall(chunk)
        except (ConnectionError, socket.timeout):
            pass
        data = b""
        try:
            data = recv_all(s)
        except ConnectionError:
            pass
    assert data.startswith(b"HTTP/1.1 413 Payload Too Large\r\n") and data.endswith(b"request body too large\n")


def test_h1_stop_reading_stalls_upload(h1_server: H1Server) -> None:
    with connect(h1_server.port) as s:
        s.sendall(request_bytes("PUT", "/", {"x-fault": "stop-reading", "Content-Length": str(1 << 30)}))
        s.settimeout(0.3)
        sent = 0
        with pytest.raises(socket.timeout):
            while True:
                sent += s.send(b"u" * 65536)
        assert sent < 64 << 20  # bounded by the socket buffers


def test_h1_no_close_notify(h1_tls_server: H1Server, ca: CertBundle) -> None:
    sock = socket.create_connection(("127.0.0.1", h1_tls_server.port), timeout=TIMEOUT)
    with ca.client_context().wrap_socket(sock, server_hostname="localhost", suppress_ragged_eofs=False) as s:
        s.sendall(request_bytes(headers={"x-fault": "no-close-notify", "x-repeat-data": "5000"}))
        out = bytearray()
        with pytest.raises(ssl.SSLEOFError):
            while True:
                d = s.recv(65536)
                assert d, "clean TLS close: close_notify was sent"
                out += d
    assert b"content-length" not in out and _body(bytes(out)) == pattern(5000)


def test_h1_unknown_fault_and_bad_request(h1_server: H1Server) -> None:
    data, closed = _fault(h1_server.port, "no-such-fault")
    assert closed and data.startswith(b"HTTP/1.1 400") and data.endswith(b"unknown x-fault: no-such-fault")
    with connect(h1_server.port) as s:
        s.sendall(b"GARBAGE\r\n\r\n")
        assert recv_all(s).startswith(b"HTTP/1.1 400")


def test_stop_is_bounded_and_clean(ca: CertBundle) -> None:
    server = H1Server(tls=True, certs=ca)
    stalled = connect(server.port, ca)
    stalled.sendall(request_bytes(headers={"x-fault": "stall"}))
    half = socket.create_connection(("127.0.0.1", server.port))  # never does the TLS handshake
    time.sleep(0.05)
    threads = threading.active_count()
    t0 = time.monotonic()
    server.stop()
    assert time.monotonic() - t0 < 2.0 and not server._thread.is_alive()
    assert threading.active_count() == threads - 1
    assert server.errors == []
    server.stop()  # idempotent
    stalled.close()
    half.close()


# --------------------------------------------------------------------------- raw server


def test_raw_server_script_and_record(raw_server: Callable[..., RawServer]) -> None:
    server = raw_server(
        responses=[
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na",
            b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
        ]
    )
    with connect(server.port) as s:
        s.sendall(request_bytes("POST", "/one", body=b"xyz"))
        f = s.makefile("rb")
        assert read_response(f).body == b"a"
        s.sendall(request_bytes("GET", "/two"))
        assert read_response(f).status == 201
        assert f.read() == b""
    assert server.wait_received(b"GET /two") == request_bytes("POST", "/one", body=b"xyz") + request_bytes(
        "GET", "/two"
    )
    assert server.connections_accepted == 1


def test_raw_server_handler_tls(raw_server: Callable[..., RawServer], ca: CertBundle) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = await reader.readline()
        writer.write(line.upper())

    server = raw_server(handler, tls=True)
    with connect(server.port, ca) as s:
        s.sendall(b"hello\nignored")
        assert recv_all(s) == b"HELLO\n"
    assert server.received_per_connection == [b"hello\nignored"]


def test_raw_server_keep_open(raw_server: Callable[..., RawServer]) -> None:
    server = raw_server(responses=[b"HTTP/1.1 200 OK\r\n"], close_after=False)
    with connect(server.port) as s:
        s.sendall(request_bytes())
        s.settimeout(0.2)
        assert s.recv(100) == b"HTTP/1.1 200 OK\r\n"
        with pytest.raises(socket.timeout):
            s.recv(100)


# --------------------------------------------------------------------------- HTTP/2 server


def test_h2_tls_echo_and_settings(h2_client: Callable[..., H2Client], h2_tls_server: H2Server, ca: CertBundle) -> None:
    c = h2_client(h2_tls_server.port, ca, settings={SettingCodes.INITIAL_WINDOW_SIZE: 123456})
    assert c.sock.selected_alpn_protocol() == "h2"  # type: ignore[attr-defined]
    st = c.get("/echo", [("x-a", "b")], method="POST", body=b"data!")
    assert st.status == 200
    echo = json.loads(st.data)
    assert echo["headers"][:4] == [
        [":method", "POST"],
        [":path", "/echo"],
        [":scheme", "https"],
        [":authority", "localhost"],
    ]
    assert ["x-a", "b"] in echo["headers"] and echo["body"] == "data!"
    server_settings = c.first(h2.events.RemoteSettingsChanged).changed_settings
    assert server_settings[SettingCodes.MAX_CONCURRENT_STREAMS].new_value == 100
    assert h2_tls_server.client_settings[SettingCodes.INITIAL_WINDOW_SIZE] == 123456
    assert h2_tls_server.client_settings[SettingCodes.ENABLE_PUSH] == 0
    assert h2_tls_server.requests[0].stream_id == 1


def test_h2c_repeat_trailers_interim_head(h2_client: Callable[..., H2Client], h2c_server: H2Server) -> None:
    c = h2_client(h2c_server.port)
    st = c.get("/", [("x-repeat-data", "300000"), ("x-trailers", "t=1"), ("x-interim", "2")])
    assert bytes(st.data) == pattern(300000) and st.trailers == [(b"t", b"1")]
    assert [dict(h)[b":status"] for h in st.informational] == [b"100", b"103"]
    assert max(st.frames) <= 16384
    st = c.get("/", [("x-repeat-data", "10")], method="HEAD")
    assert dict(st.headers or [])[b"content-length"] == b"10" and st.data == b""
    st = c.get("/", [("x-expect-status", "204")])
    assert st.status == 204 and st.data == b""
    st = c.get("/", [("x-upload-test", "true")], method="PUT", body=b"q" * 200_000)
    assert st.data == b"200000"
    assert h2c_server.connections_accepted == 1


def test_h2_flow_control_respected(h2_client: Callable[..., H2Client], h2c_server: H2Server) -> None:
    c = h2_client(h2c_server.port, settings={SettingCodes.INITIAL_WINDOW_SIZE: 1000}, auto_ack=False)
    sid = c.request("/", [("x-repeat-data", "5000")])
    c.pump(lambda: len(c.streams[sid].data) >= 1000)
    assert not c.pump(lambda: len(c.streams[sid].data) > 1000, 0.2, quiet=True)
    c.conn.increment_flow_control_window(4000, sid)
    c.conn.increment_flow_control_window(4000)
    c.flush()
    c.pump(c.done(sid))
    assert bytes(c.streams[sid].data) == pattern(5000)
    assert poll(lambda: h2c_server.window_updates_received == 2)
    assert h2c_server.conn_records[0].window_updates == [(sid, 4000), (0, 4000)]


def test_h2_configurable_settings_and_refusal(
    h2_client: Callable[..., H2Client], make_h2_server: Callable[..., H2Server]
) -> None:
    server = make_h2_server(
        tls=False,
        max_concurrent_streams=1,
        initial_window_size=1000,
        max_frame_size=20000,
        connection_window_size=1 << 20,
    )
    c = h2_client(server.port)
    first = c.request("/", [("x-fault", "stall")])
    second = c.request("/", [])  # sent before the server's SETTINGS were read
    c.pump(lambda: c.streams[second].reset is not None)
    assert c.streams[second].reset == 7  # REFUSED_STREAM
    got = {k: v.new_value for k, v in c.first(h2.events.RemoteSettingsChanged).changed_settings.items()}
    assert got[SettingCodes.MAX_CONCURRENT_STREAMS] == 1
    assert got[SettingCodes.INITIAL_WINDOW_SIZE] == 1000 and got[SettingCodes.MAX_FRAME_SIZE] == 20000
    assert server.conn_records[0].refused_streams == [second]
    conn_update = next(e for e in c.events if isinstance(e, h2.events.WindowUpdated) and e.stream_id == 0)
    assert conn_update.delta == (1 << 20) - 65535
    assert c.streams[first].headers is None


@pytest.mark.parametrize("stage, received", [("before-headers", None), ("after-headers", 0), ("mid-body", 500)])
def test_h2_rst_stream(
    h2_client: Callable[..., H2Client], h2c_server: H2Server, stage: str, received: int | None
) -> None:
    c = h2_client(h2c_server.port)
    st = c.get("/", [("x-fault", "rst-stream"), ("x-fault-stage", stage), ("x-fault-code", "8")])
    assert st.reset == 8 and not st.ended
    assert (st.headers is None) == (received is None)
    if received is not None:
        assert bytes(st.data) == pattern(received)
    st = c.get("/", [("x-repeat-data", "3")])  # the connection lives on
    assert st.data == pattern(3)


def test_h2_goaway_finishes_lower_streams(h2_client: Callable[..., H2Client], h2c_server: H2Server) -> None:
    # h2 (like many clients) cannot process frames after a GOAWAY: read the frames raw.
    c = h2_client(h2c_server.port)
    slow = c.request("/", [("x-repeat-data", "60000"), ("x-slow-response", "true"), ("x-throughput-bps", "300000")])
    ga = c.request("/", [("x-fault", "goaway"), ("x-fault-code", "2")])
    frames = read_raw_frames(c.sock)
    goaway = next(f for f in frames if isinstance(f, GoAwayFrame))
    assert goaway.last_stream_id == slow and goaway.error_code == 2
    data = b"".join(f.data for f in frames if isinstance(f, DataFrame) and f.stream_id == slow)
    assert data == pattern(60000)
    assert any(isinstance(f, DataFrame) and "END_STREAM" in f.flags for f in frames)
    assert not any(f.stream_id == ga for f in frames)


def test_h2_close_mid_body_stall_ping(
    h2_client: Callable[..., H2Client], h2_tls_server: H2Server, ca: CertBundle
) -> None:
    c = h2_client(h2_tls_server.port, ca)
    stalled = c.request("/", [("x-fault", "stall")])
    st = c.get("/", [("x-fault", "ping")])
    assert st.status == 200
    assert poll(lambda: h2_tls_server.pings_acked == [b"crtping\x01"])
    mid = c.request("/", [("x-fault", "close-mid-body")])
    c.pump(lambda: c.eof)
    assert bytes(c.streams[mid].data) == pattern(500) and not c.streams[mid].ended
    assert c.streams[stalled].headers is None


@pytest.mark.parametrize(
    "fault, variant", [("protocol-error", "data-on-stream-0"), ("protocol-error", "bad-hpack"), ("push-promise", "")]
)
def test_h2_frames_the_client_must_reject(
    h2_client: Callable[..., H2Client], h2c_server: H2Server, fault: str, variant: str
) -> None:
    c = h2_client(h2c_server.port)
    c.request("/", [("x-fault", fault), ("x-fault-variant", variant)])
    with pytest.raises(h2.exceptions.ProtocolError):
        c.pump(lambda: False, 2)


def test_h2_stop_reading_and_reject_413(h2_client: Callable[..., H2Client], h2c_server: H2Server) -> None:
    c = h2_client(h2c_server.port)
    sid = c.request("/", [("x-fault", "stop-reading")], method="PUT", end=False)
    with pytest.raises(TimeoutError):
        c.send_body(sid, b"v" * 200_000, timeout=0.3)
    assert c.conn.local_flow_control_window(sid) == 0
    sid = c.request("/", [("x-fault", "reject-upload-413")], method="PUT", end=False)
    c.pump(c.done(sid))
    assert c.streams[sid].status == 413 and c.streams[sid].data == b"request body too large\n"


def test_h2_alpn_http11_handoff(
    h2_client: Callable[..., H2Client], make_h2_server: Callable[..., H2Server], ca: CertBundle
) -> None:
    server = make_h2_server(alpn=("h2", "http/1.1"))
    with connect(server.port, ca, alpn=("http/1.1",)) as s:
        assert s.selected_alpn_protocol() == "http/1.1"
        s.sendall(request_bytes(headers={"x-repeat-data": "20"}))
        r = read_response(s.makefile("rb"))
    assert r.body == pattern(20) and r.header("server") == "crt-http-test-h1"
    c = h2_client(server.port, ca, alpn=("h2", "http/1.1"))
    assert c.get("/", [("x-repeat-data", "20")]).data == pattern(20)


# --------------------------------------------------------------------------- loops


@pytest.mark.both_loops
async def test_both_loops_async(loop_impl: str) -> None:
    loop = asyncio.get_running_loop()
    assert ("uvloop" in type(loop).__module__) == (loop_impl == "uvloop")


@pytest.mark.both_loops
def test_both_loops_sync(loop_impl: str) -> None:
    assert loop_impl in ("asyncio", "uvloop")


async def test_unmarked_async_runs_on_asyncio(loop_impl: str, h1_server: H1Server) -> None:
    assert loop_impl == "asyncio"
    reader, writer = await asyncio.open_connection("127.0.0.1", h1_server.port)
    writer.write(request_bytes(headers={"x-repeat-data": "5", "Connection": "close"}))
    data = await asyncio.wait_for(reader.read(), TIMEOUT)
    writer.close()
    await writer.wait_closed()
    assert data.endswith(b"\r\n\r\n" + pattern(5))


# --------------------------------------------------------------------------- interop servers


@pytest.mark.interop
def test_nginx(h2_client: Callable[..., H2Client], nginx: Any, ca: CertBundle) -> None:
    r = exchange(nginx.http_port, path="/1MiB.bin")
    assert r.status == 200 and len(r.body) == 1 << 20 and check_pattern(r.body)
    r = exchange(nginx.http_port, method="PUT", path="/upload", body=b"p" * 1_000_000)
    assert r.status == 200 and r.body == b"1000000"
    c = h2_client(nginx.https_port, ca, alpn=("h2", "http/1.1"))
    assert c.sock.selected_alpn_protocol() == "h2"  # type: ignore[attr-defined]
    assert c.get("/hello.txt").data == b"hello\n"
    st = c.get("/upload", method="POST", body=b"k" * 100_000)
    assert st.data == b"100000"


@pytest.mark.interop
def test_nghttpd(h2_client: Callable[..., H2Client], nghttpd: Any, nghttpd_h2c: Any, ca: CertBundle) -> None:
    c = h2_client(nghttpd.port, ca)
    st = c.get("/1MiB.bin")
    assert st.status == 200 and len(st.data) == 1 << 20 and check_pattern(st.data)
    c = h2_client(nghttpd_h2c.port)
    assert c.get("/x", method="POST", body=b"echo me").data == b"echo me"


@pytest.mark.interop
def test_squid(squid: Any, h1_server: H1Server) -> None:
    def tunnel(port: int, auth: str | None) -> tuple[socket.socket, bytes]:
        s = connect(port)
        extra = f"Proxy-Authorization: Basic {auth}\r\n" if auth else ""
        s.sendall(
            f"CONNECT 127.0.0.1:{h1_server.port} HTTP/1.1\r\nHost: 127.0.0.1:{h1_server.port}\r\n{extra}\r\n".encode()
        )
        head = b""
        while not head.endswith(b"\r\n\r\n"):  # byte by byte: nothing of the tunnel is consumed
            byte = s.recv(1)
            if not byte:
                break
            head += byte
        return s, head

    s, status = tunnel(squid.port, None)
    assert status.startswith(b"HTTP/1.1 200")
    s.sendall(request_bytes(headers={"x-repeat-data": "30", "Connection": "close"}))
    assert recv_all(s).endswith(b"\r\n\r\n" + pattern(30))
    s.close()
    s, status = tunnel(squid.auth_port, None)
    assert status.startswith(b"HTTP/1.1 407")
    s.close()
    good = base64.b64encode(f"{squid.username}:{squid.password}".encode()).decode()
    s, status = tunnel(squid.auth_port, good)
    assert status.startswith(b"HTTP/1.1 200")
    s.close()
    with connect(squid.port) as s:  # forwarding: absolute-form request
        s.sendall(
            f"GET http://127.0.0.1:{h1_server.port}/echo HTTP/1.1\r\nHost: 127.0.0.1:{h1_server.port}\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        r = read_response(s.makefile("rb"))
    assert r.status == 200 and json.loads(r.body)["path"] == "/echo"
