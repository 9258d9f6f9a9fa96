"""The sync shim's crossing to the loop thread (crt_http._loop_thread.Poster), issue 7:

- calls posted from another thread run on the loop thread, in posting order, and a batch
  posted while the loop is busy wakes it once, not per call;
- on the loop thread a post runs at once;
- a call that raises is reported to the loop's exception handler and the rest still run;
- end to end: many streams activated back to back from one thread complete, over one
  HTTP/1.1 connection (queued in order) and one HTTP/2 connection (multiplexed).

No timings: only counts and order.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Callable, Iterator, List

import pytest

from crt_http._loop_thread import LOOP_IMPLS, LoopThread, Poster, poster_for
from crt_http.http import Http2ClientConnection, HttpClientConnection, HttpHeaders, HttpRequest
from tests.h1_support import tls_options
from tests.servers.common import pattern
from tests.sync_support import TIMEOUT

BATCH = 200
ROUNDS = 3000


@pytest.fixture(params=[*LOOP_IMPLS, "asyncio-without-eventfd"])
def loop_thread(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[LoopThread]:
    """A loop thread; the last kind wakes with call_soon_threadsafe (no os.eventfd)."""
    impl = request.param
    if impl == "uvloop":
        pytest.importorskip("uvloop", reason="uvloop is not importable")
    if impl == "asyncio-without-eventfd":
        monkeypatch.delattr(os, "eventfd", raising=False)
        impl = "asyncio"
    thread = LoopThread(impl, name="test-poster")
    try:
        yield thread
    finally:
        assert thread.stop(TIMEOUT)


def _on_loop(thread: LoopThread, fn: Callable[[], Any]) -> Any:
    """fn() run on the loop thread, its result returned here."""
    done = threading.Event()
    out: List[Any] = []
    thread.loop.call_soon_threadsafe(lambda: (out.append(fn()), done.set()))
    assert done.wait(TIMEOUT)
    return out[0]


def test_a_batch_runs_in_order_on_the_loop_thread_with_one_wakeup(
        loop_thread: LoopThread, monkeypatch: pytest.MonkeyPatch) -> None:
    poster = loop_thread.poster
    wakeups: List[None] = []
    drain = Poster._drain
    monkeypatch.setattr(Poster, "_drain", lambda self: (wakeups.append(None), drain(self))[1])
    gate, done = threading.Event(), threading.Event()
    ran: List[tuple] = []
    loop_thread.loop.call_soon_threadsafe(gate.wait, TIMEOUT)  # busy until all are posted
    for i in range(BATCH):
        poster.post(lambda i=i: ran.append((i, threading.get_ident())))
    poster.post(done.set)
    gate.set()
    assert done.wait(TIMEOUT)
    assert [i for i, _ in ran] == list(range(BATCH))
    assert {t for _, t in ran} == {loop_thread._thread.ident}
    assert len(wakeups) == 1
    # The next batch wakes the loop again.
    done.clear()
    poster.post(done.set)
    assert done.wait(TIMEOUT)
    assert len(wakeups) == 2


def test_a_post_on_the_loop_thread_runs_at_once(loop_thread: LoopThread) -> None:
    loop = loop_thread.loop

    def inline() -> List[str]:
        order: List[str] = []
        poster_for(loop).post(order.append, "posted")  # the one sync connections use
        order.append("after")
        return order

    assert _on_loop(loop_thread, inline) == ["posted", "after"]


def test_a_raising_call_is_reported_and_the_next_ones_run(loop_thread: LoopThread) -> None:
    loop = loop_thread.loop
    poster = loop_thread.poster
    reported: List[dict] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    done = threading.Event()
    gate = threading.Event()
    loop.call_soon_threadsafe(gate.wait, TIMEOUT)

    def boom() -> None:
        raise ValueError("boom")

    poster.post(boom)
    poster.post(done.set)
    gate.set()
    assert done.wait(TIMEOUT)
    assert len(reported) == 1
    assert isinstance(reported[0]["exception"], ValueError)


@pytest.mark.parametrize("proto", ["h1", "h2"])
def test_streams_activated_back_to_back_all_complete(proto: str, h1_server: Any, h2_tls_server: Any,
                                                    client_ca_file: str) -> None:
    if proto == "h1":
        conn = HttpClientConnection.new(host_name="127.0.0.1", port=h1_server.port).result(TIMEOUT)
    else:
        conn = Http2ClientConnection.new(host_name="127.0.0.1", port=h2_tls_server.port,
                                         tls_connection_options=tls_options(client_ca_file)).result(TIMEOUT)
    try:
        server = h1_server if proto == "h1" else h2_tls_server
        bodies: List[List[bytes]] = [[] for _ in range(BATCH)]
        streams = []
        for i in range(BATCH):
            request = HttpRequest("GET", f"/n{i}", HttpHeaders([
                ("host", "localhost"), ("x-repeat-data", str(i + 1))]))
            stream = conn.request(request, on_body=lambda http_stream, chunk, i=i, **kw: bodies[i].append(chunk))
            stream.activate()
            streams.append(stream)
        assert [s.completion_future.result(TIMEOUT) for s in streams] == [200] * BATCH
        assert [b"".join(b) for b in bodies] == [pattern(i + 1) for i in range(BATCH)]
        paths = [r.path for r in server.requests]
        if proto == "h1":  # one connection: sent in activation order
            assert paths == [f"/n{i}" for i in range(BATCH)]
        else:
            assert sorted(paths) == sorted(f"/n{i}" for i in range(BATCH))
    finally:
        conn.close().result(TIMEOUT)


def test_no_wakeup_is_lost_under_racing_posts(loop_thread: LoopThread) -> None:
    """Three threads post bursts and wait for each: every burst runs (a lost wake-up hangs)."""
    poster = loop_thread.poster
    failures: List[int] = []

    def producer(n: int) -> None:
        for i in range(ROUNDS):
            done = threading.Event()
            for _ in range(i % 3):
                poster.post(int)
            poster.post(done.set)
            if not done.wait(TIMEOUT):
                failures.append(n)
                return

    threads = [threading.Thread(target=producer, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT * 2)
    assert not failures


def test_remote_end_stream_future_is_made_on_first_use(h2_tls_server: Any, client_ca_file: str) -> None:
    """No future per HTTP/2 stream unless asked for; asked late, or by several threads at
    once, it is one future with the outcome."""
    conn = Http2ClientConnection.new(host_name="127.0.0.1", port=h2_tls_server.port,
                                     tls_connection_options=tls_options(client_ca_file)).result(TIMEOUT)
    try:
        headers = HttpHeaders([("host", "localhost")])
        stream = conn.request(HttpRequest("GET", "/", headers))
        stream.activate()
        assert stream.completion_future.result(TIMEOUT) == 200
        assert stream._remote_end_stream_future is None
        assert stream.remote_end_stream_future.result(0) is None
        stream = conn.request(HttpRequest("GET", "/", headers))
        seen: List[Any] = []
        askers = [threading.Thread(target=lambda: seen.append(stream.remote_end_stream_future))
                  for _ in range(4)]
        for t in askers:
            t.start()
        stream.activate()
        for t in askers:
            t.join(TIMEOUT)
        assert len({id(f) for f in seen}) == 1
        assert seen[0].result(TIMEOUT) is None
    finally:
        conn.close().result(TIMEOUT)
