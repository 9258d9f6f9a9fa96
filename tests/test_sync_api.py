"""The synchronous API of ``crt_http.http`` behaves as awscrt's (API.md, "Synchronous API"):
futures from ``new()``, nothing sent before ``activate()``, keyword callbacks on the
connection's loop thread, a raising callback ending only its stream with 2064, the stream's
futures and status, flow-control windows, HTTP/2 manual writes, ``close()``.

Each test runs under the asyncio and the uvloop loop threads (``both_loops``) and, where
both apply, on HTTP/1.1 and HTTP/2 (TLS, ALPN).
"""

from __future__ import annotations

import concurrent.futures
import io
import json
import threading
import time
from typing import Any, Callable

import pytest

from crt_http.exceptions import AwsCrtError
from crt_http.http import Http2ClientConnection, Http2ClientStream, HttpClientConnection, HttpClientStream, HttpVersion
from tests.clients import bootstrap_for
from tests.servers.common import pattern
from tests.sync_support import TIMEOUT, Recorder, new_connection, opened, request, stays, tls_options, wait_until

pytestmark = pytest.mark.both_loops

PROTOS = ["h1", "h2"]


@pytest.fixture
def server(request: pytest.FixtureRequest, h1_server: Any, make_h2_server: Callable[..., Any]) -> Any:
    """The server for the test's ``proto``: plain HTTP/1.1, or HTTP/2 over TLS (ALPN h2)."""
    proto = request.node.callspec.params["proto"]
    return h1_server if proto == "h1" else make_h2_server(tls=True)


@pytest.mark.parametrize("proto", PROTOS)
def test_new_returns_future_and_close_returns_shutdown_future(proto: str, server: Any, ca: Any,
                                                              loop_impl: str) -> None:
    cls = Http2ClientConnection if proto == "h2" else HttpClientConnection
    kwargs: dict = {"bootstrap": bootstrap_for(loop_impl)}
    host = "127.0.0.1"
    if proto == "h2":
        host, kwargs["tls_connection_options"] = "localhost", tls_options(ca, ["h2"])
    future = cls.new(host, server.port, **kwargs)
    assert type(future) is concurrent.futures.Future
    conn = future.result(TIMEOUT)
    try:
        assert type(conn) is cls
        assert conn.version is (HttpVersion.Http2 if proto == "h2" else HttpVersion.Http1_1)
        assert (conn.host_name, conn.port) == (host, server.port)
        assert conn.is_open()
        assert type(conn.shutdown_future) is concurrent.futures.Future
        assert not conn.shutdown_future.done()
    finally:
        closed = conn.close()
    assert closed is conn.shutdown_future
    assert closed.result(TIMEOUT) is None
    assert not conn.is_open()
    assert conn.close() is conn.shutdown_future  # closing again: no effect


def test_alpn_h2_gives_http2_connection_from_http_client_connection(make_h2_server: Callable[..., Any],
                                                                    ca: Any, loop_impl: str) -> None:
    server = make_h2_server(tls=True)
    future = HttpClientConnection.new("localhost", server.port, bootstrap=bootstrap_for(loop_impl),
                                      tls_connection_options=tls_options(ca, ["h2", "http/1.1"]))
    conn = future.result(TIMEOUT)
    try:
        assert type(conn) is Http2ClientConnection
        assert not isinstance(conn, HttpClientConnection)
    finally:
        conn.close().result(TIMEOUT)


@pytest.mark.parametrize("proto", PROTOS)
def test_request_sends_nothing_until_activate(proto: str, server: Any, ca: Any, loop_impl: str) -> None:
    rec = Recorder()
    with opened(proto, server, ca, loop_impl) as conn:
        stream = conn.request(request(headers=[("x-repeat-data", "1000")]), rec.on_response, rec.on_body)
        assert type(stream) is (Http2ClientStream if proto == "h2" else HttpClientStream)
        assert stream.connection is conn
        assert stays(lambda: len(server.requests) == 0, 0.3), "a request reached the server before activate()"
        assert stream.response_status_code is None
        assert not stream.completion_future.done()
        assert rec.threads == []
        stream.activate()
        assert stream.completion_future.result(TIMEOUT) == 200
        assert len(server.requests) == 1
        assert stream.response_status_code == 200
        assert bytes(rec.body) == pattern(1000)


@pytest.mark.parametrize("proto", PROTOS)
def test_callbacks_get_keywords_on_the_loop_thread(proto: str, server: Any, ca: Any, loop_impl: str) -> None:
    """``on_response(http_stream=, status_code=, headers=)`` and ``on_body(http_stream=,
    chunk=)`` as keywords only (the recorder takes ``**kwargs``), on a daemon thread of the
    bootstrap's EventLoopGroup, never on the caller's thread."""
    group = bootstrap_for(loop_impl).event_loop_group
    rec = Recorder()
    with opened(proto, server, ca, loop_impl) as conn:
        stream = conn.request(request(headers=[("x-repeat-data", "300000")]), rec.on_response, rec.on_body)
        stream.activate()
        assert stream.completion_future.result(TIMEOUT) == 200
    assert rec.kwargs == {"on_response": ["headers", "http_stream", "status_code"],
                          "on_body": ["chunk", "http_stream"]}
    assert all(s is stream for s in rec.streams)
    assert rec.status == 200 and bytes(rec.body) == pattern(300000)
    assert all(isinstance(h, tuple) and len(h) == 2 for h in rec.headers or [])
    threads = set(rec.threads)
    assert len(threads) == 1
    thread = threads.pop()
    assert thread is not threading.current_thread()
    assert thread.daemon
    assert thread.name.startswith(f"crt_http-elg-{id(group):x}-")


@pytest.mark.parametrize("proto", PROTOS)
def test_status_and_completion_future_hold_the_status(proto: str, server: Any, ca: Any, loop_impl: str) -> None:
    rec = Recorder()
    with opened(proto, server, ca, loop_impl) as conn:
        stream = conn.request(request(headers=[("x-expect-status", "404")]), rec.on_response)
        assert stream.response_status_code is None
        stream.activate()
        assert stream.completion_future.result(TIMEOUT) == 404
        assert stream.response_status_code == 404 == rec.status
        assert stream.version is conn.version


def test_h2_response_headers_keep_status(make_h2_server: Callable[..., Any], ca: Any, loop_impl: str) -> None:
    """As awscrt's, HTTP/2 response headers start with ``(':status', code)`` (wire order)."""
    rec = Recorder()
    with opened("h2", make_h2_server(tls=True), ca, loop_impl) as conn:
        stream = conn.request(request(headers=[("x-expect-status", "201")]), rec.on_response)
        stream.activate()
        stream.completion_future.result(TIMEOUT)
    assert rec.headers is not None
    assert rec.headers[0] == (":status", "201")
    assert [name for name, _ in rec.headers[1:]] == ["server", "content-type", "content-length"]


class CallbackBoom(Exception):
    """Raised by a test callback on purpose."""


@pytest.mark.parametrize("fail_in", ["on_response", "on_body"])
@pytest.mark.parametrize("proto", PROTOS)
def test_raising_callback_fails_only_its_stream(proto: str, fail_in: str, server: Any, ca: Any,
                                                loop_impl: str) -> None:
    """2064 with the exception as ``__cause__``; on HTTP/2 a concurrent stream on the same
    connection completes and the connection stays usable."""
    boom = CallbackBoom("raised on purpose")
    bad = Recorder(fail_in=fail_in, error=boom)
    other = Recorder()
    with opened(proto, server, ca, loop_impl) as conn:
        if proto == "h2":
            slow = conn.request(request(headers=[("x-repeat-data", "100000"), ("x-slow-response", "true"),
                                                 ("x-throughput-bps", "400000")]), other.on_response, other.on_body)
            slow.activate()
        stream = conn.request(request(headers=[("x-repeat-data", "5000")]), bad.on_response, bad.on_body)
        stream.activate()
        error = stream.completion_future.exception(TIMEOUT)
        assert isinstance(error, AwsCrtError), error
        assert (error.name, error.code) == ("AWS_ERROR_HTTP_CALLBACK_FAILURE", 2064)
        assert error.__cause__ is boom
        assert len(bad.threads) == (1 if fail_in == "on_response" else 2)  # nothing after the raise
        if proto == "h2":
            assert slow.completion_future.result(TIMEOUT) == 200
            assert bytes(other.body) == pattern(100000)
            assert conn.is_open()
            again = conn.request(request())
            again.activate()
            assert again.completion_future.result(TIMEOUT) == 200


@pytest.mark.parametrize("proto", PROTOS)
def test_manual_window_filled_exactly_completes(proto: str, server: Any, ca: Any, loop_impl: str) -> None:
    """With ``manual_window_management`` the body stops at the window; ``update_window`` by
    exactly the rest lets the stream complete (and, HTTP/1.1, the connection serves the next
    request)."""
    size, window = 50000, 1000
    rec = Recorder()
    with opened(proto, server, ca, loop_impl, manual_window_management=True,
                initial_window_size=window) as conn:
        stream = conn.request(request(headers=[("x-repeat-data", str(size))]), rec.on_response, rec.on_body)
        stream.activate()
        wait_until(lambda: rec.received() >= window, "the first window of body")
        assert stays(lambda: rec.received() == window, 0.3)
        assert not stream.completion_future.done()
        stream.update_window(size - window)
        assert stream.completion_future.result(TIMEOUT) == 200
        assert bytes(rec.body) == pattern(size)
        small = Recorder()
        again = conn.request(request(headers=[("x-repeat-data", str(window))]), small.on_response, small.on_body)
        again.activate()
        assert again.completion_future.result(TIMEOUT) == 200
        assert bytes(small.body) == pattern(window)


@pytest.mark.parametrize("increment", [-1, 2**31, "1"])
def test_update_window_rejects_bad_increments(h1_server: Any, ca: Any, loop_impl: str, increment: Any) -> None:
    with opened("h1", h1_server, ca, loop_impl) as conn:
        stream = conn.request(request())
        with pytest.raises(TypeError if isinstance(increment, str) else ValueError, match="increment_size"):
            stream.update_window(increment)
        del stream


def test_h2_connection_update_window(make_h2_server: Callable[..., Any], ca: Any, loop_impl: str) -> None:
    """``conn_manual_window_management``: the body stops at the 65,535-byte connection
    window until ``Http2ClientConnection.update_window`` grows it."""
    size, conn_window = 100000, 65535
    rec = Recorder()
    with opened("h2", make_h2_server(tls=True), ca, loop_impl, conn_manual_window_management=True) as conn:
        stream = conn.request(request(headers=[("x-repeat-data", str(size))]), rec.on_response, rec.on_body)
        stream.activate()
        wait_until(lambda: rec.received() >= conn_window, "the connection window of body")
        assert stays(lambda: rec.received() == conn_window, 0.3)
        conn.update_window(size)
        assert stream.completion_future.result(TIMEOUT) == 200
        assert bytes(rec.body) == pattern(size)
        with pytest.raises(ValueError, match="increment_size"):
            conn.update_window(-5)


def test_h2_manual_write(make_h2_server: Callable[..., Any], ca: Any, loop_impl: str) -> None:
    """Smoke test: pieces written with ``write_data`` form the body; each future completes
    with None; ``remote_end_stream_future`` completes; writing after ``end_stream`` fails."""
    rec = Recorder()
    with opened("h2", make_h2_server(tls=True), ca, loop_impl) as conn:
        stream = conn.request(request("PUT", "/echo"), rec.on_response, rec.on_body, manual_write=True)
        stream.activate()
        writes = [stream.write_data(io.BytesIO(b"first,")), stream.write_data(io.BytesIO(b"second,")),
                  stream.write_data(io.BytesIO(b"last"), end_stream=True)]
        assert [w.result(TIMEOUT) for w in writes] == [None, None, None]
        assert stream.completion_future.result(TIMEOUT) == 200
        assert stream.remote_end_stream_future.result(TIMEOUT) is None
        echo = json.loads(bytes(rec.body))
        assert (echo["method"], echo["body"]) == ("PUT", "first,second,last")
        late = stream.write_data(io.BytesIO(b"late")).exception(TIMEOUT)
        assert isinstance(late, AwsCrtError)
        assert late.name in ("AWS_ERROR_HTTP_MANUAL_WRITE_HAS_COMPLETED", "AWS_ERROR_HTTP_STREAM_HAS_COMPLETED")


def test_h2_write_data_without_manual_write_raises_at_once(make_h2_server: Callable[..., Any], ca: Any,
                                                           loop_impl: str) -> None:
    with opened("h2", make_h2_server(tls=True), ca, loop_impl) as conn:
        stream = conn.request(request())
        started = time.monotonic()
        with pytest.raises(AwsCrtError) as info:
            stream.write_data(io.BytesIO(b"x"))
        assert time.monotonic() - started < 0.5
        assert info.value.name == "AWS_ERROR_HTTP_MANUAL_WRITE_NOT_ENABLED"
        assert isinstance(info.value, RuntimeError)  # awscrt raises a bare RuntimeError here
        del stream


@pytest.mark.parametrize("proto", PROTOS)
def test_request_on_closed_connection_raises_2058(proto: str, server: Any, ca: Any, loop_impl: str) -> None:
    with opened(proto, server, ca, loop_impl) as conn:
        conn.close().result(TIMEOUT)
        with pytest.raises(AwsCrtError) as info:
            conn.request(request())
        assert info.value.name == "AWS_ERROR_HTTP_CONNECTION_CLOSED"


@pytest.mark.parametrize("proto", PROTOS)
def test_close_right_after_connect_is_clean(proto: str, server: Any, ca: Any, loop_impl: str) -> None:
    """``close()`` is the user's decision: ``shutdown_future`` is None even when the TLS
    goodbye races the server's first frames (it failed with 2058 about one time in six)."""
    results = []
    for _ in range(40):
        conn = new_connection(proto, server, ca, loop_impl)
        results.append(conn.close().exception(TIMEOUT))
    assert results == [None] * 40
