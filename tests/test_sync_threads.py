"""The synchronous API is safe to call from many threads at once, and never blocks the
calling thread except where the caller waits on a future itself (API.md: "Every call returns
at once").
"""

from __future__ import annotations

import io
import json
import threading
import time
from typing import Any, Callable, Dict, List, Tuple

import pytest

from crt_http.exceptions import AwsCrtError
from crt_http.http import HttpClientConnection, HttpVersion
from tests.clients import bootstrap_for
from tests.sync_support import TIMEOUT, tls_options, new_connection, request

pytestmark = pytest.mark.both_loops

THREADS, PER_THREAD = 16, 50
FAST = 0.005  # "returns at once": a few milliseconds


class Collect:
    """on_response / on_body for one exchange, plus the stream's completion."""

    def __init__(self) -> None:
        self.status = None
        self.body = bytearray()

    def on_response(self, http_stream: Any, status_code: int, headers: Any, **kwargs: Any) -> None:
        self.status = status_code

    def on_body(self, http_stream: Any, chunk: bytes, **kwargs: Any) -> None:
        self.body += chunk


def test_sixteen_threads_share_two_connections(h1_server: Any, make_h2_server: Callable[..., Any], ca: Any,
                                               loop_impl: str) -> None:
    """16 threads each start 50 requests at once, alternating between one HTTP/1.1 and one
    HTTP/2 connection (PUT /echo with a body unique to the request), then wait for them:
    every exchange succeeds with its own path and body."""
    h2_server = make_h2_server(tls=True)
    conns = [new_connection("h1", h1_server, ca, loop_impl), new_connection("h2", h2_server, ca, loop_impl)]
    results: Dict[Tuple[int, int], Tuple[str, bytes, Collect, Any]] = {}
    errors: List[BaseException] = []
    start = threading.Barrier(THREADS)
    lock = threading.Lock()

    def worker(t: int) -> None:
        try:
            start.wait(TIMEOUT)
            mine = []
            for i in range(PER_THREAD):
                path, body = f"/echo?t={t}&i={i}", f"thread {t} request {i} ".encode() * (1 + i % 7)
                col = Collect()
                stream = conns[i % 2].request(
                    request("PUT", path, [("Content-Length", str(len(body)))], io.BytesIO(body)),
                    col.on_response, col.on_body)
                stream.activate()
                mine.append(((t, i), (path, body, col, stream)))
            for _key, value in mine:
                value[3].completion_future.result(TIMEOUT * 3)
            with lock:
                results.update(mine)
        except BaseException as exc:  # reported below, with the thread that saw it
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,), name=f"caller-{t}") for t in range(THREADS)]
    try:
        for th in threads:
            th.start()
        for th in threads:
            th.join(TIMEOUT * 4)
        assert not any(th.is_alive() for th in threads), "a caller thread hung"
        assert not errors, errors[:3]
        assert len(results) == THREADS * PER_THREAD
        for path, body, col, stream in results.values():
            assert stream.completion_future.result() == 200 == col.status
            echo = json.loads(bytes(col.body))
            assert (echo["method"], echo["path"]) == ("PUT", path)
            assert echo["body"].encode("latin-1") == body
        assert [c.version for c in conns] == [HttpVersion.Http1_1, HttpVersion.Http2]
        assert len(h1_server.requests) == len(h2_server.requests) == THREADS * PER_THREAD // 2
    finally:
        for conn in conns:
            conn.close()
        for conn in conns:
            conn.shutdown_future.exception(TIMEOUT)


def _timed(fn: Callable[[], Any]) -> Tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def test_calls_return_at_once_while_the_server_is_slow(h1_server: Any, make_h2_server: Callable[..., Any],
                                                       raw_server: Callable[..., Any], ca: Any,
                                                       loop_impl: str) -> None:
    """With a request stalled on each connection (HTTP/1.1 queues everything behind it),
    ``request()`` + ``activate()``, ``update_window()`` and ``close()`` return within a few
    ms; so does ``new()`` to a server that never finishes the TLS handshake."""
    h2_server = make_h2_server(tls=True)
    conns = [new_connection("h1", h1_server, ca, loop_impl), new_connection("h2", h2_server, ca, loop_impl)]
    durations: List[float] = []
    streams = []
    try:
        for conn in conns:
            stalled = conn.request(request(headers=[("x-fault", "stall")]))
            stalled.activate()
            streams.append(stalled)
        for n in range(40):
            def start(conn: Any = conns[n % 2]) -> Any:
                stream = conn.request(request(headers=[("x-slow-response", "true"), ("x-repeat-data", "100000"),
                                                       ("x-throughput-bps", "10000")]))
                stream.activate()
                return stream
            elapsed, stream = _timed(start)
            durations.append(elapsed)
            streams.append(stream)
            elapsed, _ = _timed(lambda stream=stream: stream.update_window(1000))
            durations.append(elapsed)
        assert not any(s.completion_future.done() for s in streams)

        silent = raw_server(handler=_never_answer)
        elapsed, future = _timed(lambda: HttpClientConnection.new(
            "localhost", silent.port, bootstrap=bootstrap_for(loop_impl),
            tls_connection_options=tls_options(ca, ["http/1.1"])))
        durations.append(elapsed)
        assert not future.done()
    finally:
        for conn in conns:
            elapsed, _ = _timed(conn.close)
            durations.append(elapsed)
    for s in streams:
        error = s.completion_future.exception(TIMEOUT)
        assert isinstance(error, AwsCrtError) and error.name == "AWS_ERROR_HTTP_CONNECTION_CLOSED", error
    durations.sort()
    assert durations[len(durations) // 2] < FAST / 5, f"median {durations[len(durations) // 2] * 1000:.2f} ms"
    assert durations[-1] < FAST * 4, f"slowest call took {durations[-1] * 1000:.1f} ms"
    assert future.cancel()  # cancels the connection attempt on its loop thread


async def _never_answer(reader: Any, writer: Any) -> None:
    """Accept TCP and say nothing (a TLS handshake that never completes) until the client leaves."""
    while await reader.read(65536):
        pass
