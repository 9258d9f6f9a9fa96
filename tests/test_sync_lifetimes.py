"""Object lifetimes of the synchronous API, as awscrt has them (API.md):

- a connection nobody references closes itself, and its ``shutdown_future`` still completes;
- a stream the caller dropped (callbacks only) runs to completion, keeps its connection and
  its ``HttpRequest`` alive until then, and goes away after;
- a stream never activated is cleaned up with its request.

"The server sees the connection closed" is read from the test server's table of open
connections (``ThreadedServer._conns``: an entry leaves when the client's FIN arrives).
"""

from __future__ import annotations

import concurrent.futures
import gc
import weakref
from typing import Any, Callable, List

import pytest

from tests.servers.common import pattern
from tests.sync_support import TIMEOUT, Recorder, new_connection, opened, request, stays, wait_until

pytestmark = pytest.mark.both_loops

PROTOS = ["h1", "h2"]


@pytest.fixture
def server(request: pytest.FixtureRequest, h1_server: Any, make_h2_server: Callable[..., Any]) -> Any:
    proto = request.node.callspec.params["proto"]
    return h1_server if proto == "h1" else make_h2_server(tls=True)


def _open_on_server(server: Any) -> int:
    return len(server._conns)


def _collected(ref: "weakref.ref[Any]") -> bool:
    gc.collect()
    return ref() is None


@pytest.mark.parametrize("proto", PROTOS)
def test_unreferenced_connection_closes_itself(proto: str, server: Any, ca: Any, loop_impl: str) -> None:
    conn = new_connection(proto, server, ca, loop_impl)
    shutdown = conn.shutdown_future
    ref = weakref.ref(conn)
    wait_until(lambda: _open_on_server(server) == 1, "the server to register the connection")
    assert stays(lambda: _open_on_server(server) == 1, 0.1)
    del conn
    assert _collected(ref)
    wait_until(lambda: _open_on_server(server) == 0, "the server to see the connection closed", 3.0)
    assert shutdown.result(TIMEOUT) is None


@pytest.mark.parametrize("keep_connection", [True, False], ids=["conn-kept", "conn-dropped"])
@pytest.mark.parametrize("proto", PROTOS)
def test_dropped_stream_runs_to_completion(proto: str, keep_connection: bool, server: Any, ca: Any,
                                           loop_impl: str) -> None:
    """No reference to the stream (nor, ``conn-dropped``, to the connection): the exchange
    still completes; the request stays alive while it runs and is freed after, with the
    stream. A dropped connection then closes itself. The exchange is held mid-body by a
    manual window (deterministic), opened through a weak reference to the stream."""
    size, window = 200_000, 1000
    conn = new_connection(proto, server, ca, loop_impl, manual_window_management=True,
                          initial_window_size=window)
    shutdown = conn.shutdown_future
    rec = Recorder()
    completions: List[concurrent.futures.Future] = []
    stream_refs: List["weakref.ref[Any]"] = []

    def on_response(**kwargs: Any) -> None:
        completions.append(kwargs["http_stream"].completion_future)
        stream_refs.append(weakref.ref(kwargs["http_stream"]))
        rec.on_response(**kwargs)

    req = request(headers=[("x-repeat-data", str(size))])
    request_ref = weakref.ref(req)
    conn.request(req, on_response, rec.on_body).activate()
    del req
    rec.streams.clear()  # the recorder must not hold the stream either
    if not keep_connection:
        del conn
    try:
        wait_until(lambda: rec.received() == window, "the first window of body")
        assert not _collected(request_ref), "the request must live while the exchange runs"
        assert not _collected(stream_refs[0]), "the stream must live while the exchange runs"
        assert not completions[0].done()
        stream_refs[0]().update_window(size)
        wait_until(lambda: bool(completions) and completions[0].done(), "completion")
        assert completions[0].result() == 200
        assert bytes(rec.body) == pattern(size)
        rec.streams.clear()
        wait_until(lambda: _collected(request_ref), "the request to be freed after completion", 2.0)
        wait_until(lambda: _collected(stream_refs[0]), "the stream to be freed after completion", 2.0)
        if not keep_connection:
            assert shutdown.result(TIMEOUT) is None
            wait_until(lambda: _open_on_server(server) == 0, "the server to see the connection closed", 3.0)
    finally:
        if keep_connection:
            conn.close().result(TIMEOUT)


@pytest.mark.parametrize("proto", PROTOS)
def test_stream_never_activated_is_cleaned_up(proto: str, server: Any, ca: Any, loop_impl: str) -> None:
    with opened(proto, server, ca, loop_impl) as conn:
        req = request()
        stream = conn.request(req)
        refs = [weakref.ref(req), weakref.ref(stream), weakref.ref(stream._core)]
        del req, stream
        gc.collect()
        assert [r() for r in refs] == [None, None, None]
        assert len(server.requests) == 0
        again = conn.request(request(headers=[("x-repeat-data", "10")]))
        again.activate()
        assert again.completion_future.result(TIMEOUT) == 200
