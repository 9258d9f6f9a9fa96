"""Cancellation on the aio API: cancelling the task that awaits a stream method cancels the
exchange. The stream's ``completion_future`` fails with AWS_ERROR_HTTP_STREAM_CANCELLED
(2095); HTTP/2 sends RST_STREAM(CANCEL) (the server records it) and keeps the connection;
HTTP/1.1 closes the connection (its exchange cannot be abandoned midway). Nothing is left
running: no task on the loop, no body generator, no stream or driver (leak check).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, AsyncIterator, Callable, Dict, List

import pytest

from crt_http.aio.http import AIOHttp2ClientConnection
from crt_http.exceptions import AwsCrtError
from tests.clients import connect
from tests.faults.h2peer import CANCEL
from tests.faults.support import BOUND, assert_settled
from tests.servers.common import pattern

pytestmark = pytest.mark.both_loops
CANCELLED = "AWS_ERROR_HTTP_STREAM_CANCELLED"

# method awaited -> the fault that leaves it waiting
METHODS: Dict[str, str] = {
    "get_response_status_code": "stall",
    "get_response_headers": "stall",
    "get_next_response_chunk": "stall-mid-body",
    "get_response_trailers": "stall-mid-body",
    "wait_for_completion": "stall-mid-body",
}


def other_tasks() -> List[asyncio.Task]:
    me = asyncio.current_task()
    return [t for t in asyncio.all_tasks() if t is not me and not t.done()]


async def drain_first_chunk(stream: Any, method: str) -> None:
    """For get_next_response_chunk: take the bytes that did arrive, so the call waits."""
    if method == "get_next_response_chunk":
        got = b""
        while len(got) < 500:
            got += await asyncio.wait_for(stream.get_next_response_chunk(), BOUND)
        assert got == pattern(500)


async def cancelled_stream(conn: Any, method: str) -> Any:
    ex = conn.start("GET", "/", [("x-fault", METHODS[method]), ("x-repeat-data", "1000")])
    stream = ex.stream
    await drain_first_chunk(stream, method)
    task = asyncio.ensure_future(getattr(stream, method)())
    await asyncio.sleep(0.1)
    assert not task.done(), "the call should be waiting"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, BOUND)
    error = await _failure(stream.completion_future)
    assert isinstance(error, AwsCrtError) and error.name == CANCELLED
    # Every later call raises the cancellation, at once.
    for later in ("get_response_status_code", "wait_for_completion"):
        if later != method and not (later == "get_response_status_code" and METHODS[method] != "stall"):
            with pytest.raises(AwsCrtError) as info:
                await asyncio.wait_for(getattr(stream, later)(), BOUND)
            assert info.value.name == CANCELLED
    return ex


async def _failure(future: Any) -> BaseException:
    try:
        await asyncio.wait_for(asyncio.wrap_future(future), BOUND)
    except BaseException as exc:  # the failure is the result under test
        return exc
    raise AssertionError("completion_future succeeded")


@pytest.mark.parametrize("method", list(METHODS))
async def test_cancel_h2_resets_stream_and_keeps_connection(method, h2c_server):
    conn = await connect("aio", "h2", "127.0.0.1", h2c_server.port)
    try:
        ex = await cancelled_stream(conn, method)
        await assert_settled(conn, [ex])
        record = h2c_server.conn_records[-1]
        await _until(lambda: record.resets_received)
        assert record.resets_received == [(1, CANCEL)]
        response = await conn.request("GET", "/echo", [("x-repeat-data", "100")])
        assert response.body == pattern(100)
        assert other_tasks() == []
    finally:
        await conn.close()


@pytest.mark.parametrize("method", list(METHODS))
async def test_cancel_h1_closes_connection(method, h1_server):
    conn = await connect("aio", "h1", "127.0.0.1", h1_server.port)
    try:
        ex = await cancelled_stream(conn, method)
        await assert_settled(conn, [ex], shutdown=CANCELLED)
        assert other_tasks() == []
    finally:
        await conn.close()


@pytest.mark.parametrize("proto", ["h1", "h2"])
async def test_timeout_on_a_wait_cancels_the_upload(proto, h1_server, h2c_server):
    """asyncio.wait_for around wait_for_completion, during an upload the server never
    reads: the exchange is cancelled and the body generator is closed."""
    server = h1_server if proto == "h1" else h2c_server
    closed = asyncio.Event()

    async def body() -> AsyncIterator[bytes]:
        try:
            while True:
                yield b"x" * 65536
        finally:
            closed.set()

    conn = await connect("aio", proto, "127.0.0.1", server.port)
    try:
        ex = conn.start("PUT", "/", [("x-fault", "stop-reading")], body_generator=body())
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(ex.stream.wait_for_completion(), 0.3)
        error = await _failure(ex.stream.completion_future)
        assert getattr(error, "name", "") == CANCELLED
        await asyncio.wait_for(closed.wait(), BOUND)
        await assert_settled(conn, [ex], shutdown=CANCELLED if proto == "h1" else "open")
        assert other_tasks() == []
    finally:
        await conn.close()


async def test_cancel_after_completion_changes_nothing(h2c_server):
    conn = await connect("aio", "h2", "127.0.0.1", h2c_server.port)
    try:
        ex = conn.start("GET", "/echo", [("x-repeat-data", "10")])
        assert await ex.stream.wait_for_completion() == 200
        task = asyncio.ensure_future(ex.stream.wait_for_completion())
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert ex.stream.completion_future.result() == 200
        assert await ex.stream.get_next_response_chunk() == pattern(10)
        assert h2c_server.conn_records[-1].resets_received == []
    finally:
        await conn.close()


async def _until(predicate: Callable[[], Any], timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


async def test_cancelled_connect_leaves_nothing_open(raw_server):
    """new() cancelled while waiting for the server's SETTINGS (HTTP/2) closes the socket."""
    async def silent(reader: Any, writer: Any) -> None:
        await reader.read(1 << 16)
        await asyncio.sleep(2)

    server = raw_server(silent)
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(AIOHttp2ClientConnection.new("127.0.0.1", server.port), 0.3)
    await asyncio.sleep(0.1)
    assert other_tasks() == []
