"""Shared pieces of the fault, conformance, cancellation and security tests.

- ``BOUND``: seconds within which every failure must surface and everything settle.
- ``expect_error(awaitable, name)``: await with ``BOUND``; assert an ``AwsCrtError`` named
  ``name`` was raised and return it.
- ``aio_waiters(exchange)``: on the aio API, start one task per awaitable stream method
  (status, headers, next chunk, trailers, completion) so a test can prove that every
  pending waiter completes when the exchange fails.
- ``assert_settled(conn, exchanges, waiters, shutdown=...)``: within ``BOUND``: every
  stream's ``completion_future`` and every waiter is done; ``shutdown`` is ``OPEN`` (the
  connection must still be open), ``None`` (closed cleanly) or an error name.
- ``no_asyncio_errors``: fixture failing a test in which asyncio logged an error (autouse
  in tests/faults/, used by the fuzz tests).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Iterable, Iterator, List, Optional

import pytest

from crt_http.exceptions import AwsCrtError
from tests.clients import Conn, Exchange

BOUND = 5.0
OPEN = "open"


async def expect_error(awaitable: Awaitable[Any], name: str, bound: float = BOUND) -> AwsCrtError:
    """Await ``awaitable`` (bounded); it must raise the AwsCrtError ``name``."""
    try:
        result = await asyncio.wait_for(awaitable, bound)
    except AwsCrtError as exc:
        assert exc.name == name, f"expected {name}, got {exc!r}"
        return exc
    raise AssertionError(f"expected {name}, got a result: {result!r}")


def aio_waiters(exchange: Exchange) -> List[asyncio.Task]:
    """Tasks awaiting each stream method of an aio exchange (none for the sync API)."""
    if exchange.conn.api != "aio":
        return []
    stream = exchange.stream
    return [asyncio.ensure_future(coro) for coro in (
        stream.get_response_status_code(), stream.get_response_headers(),
        stream.get_next_response_chunk(), stream.get_response_trailers(),
        stream.wait_for_completion())]


async def assert_settled(conn: Conn, exchanges: Iterable[Exchange] = (),
                         waiters: Iterable[asyncio.Future] = (),
                         shutdown: Optional[str] = OPEN, bound: float = BOUND) -> None:
    """Every completion and waiter done within ``bound``; the connection as ``shutdown`` says."""
    futures = [asyncio.wrap_future(ex.stream.completion_future) for ex in exchanges]
    pending = futures + list(waiters)
    if pending:
        _, still = await asyncio.wait(pending, timeout=bound)
        assert not still, f"{len(still)} completion(s)/waiter(s) still pending after {bound} s"
        for fut in pending:
            if not fut.cancelled():
                fut.exception()  # retrieved: no "exception never retrieved" noise
    if shutdown == OPEN:
        assert conn.is_open(), "the connection should still be usable"
        assert not conn.shutdown_future.done()
        return
    error = await conn.shutdown(bound)
    if shutdown is None:
        assert error is None, f"expected a clean shutdown, got {error!r}"
    else:
        assert isinstance(error, AwsCrtError) and error.name == shutdown, \
            f"expected shutdown {shutdown}, got {error!r}"
    assert not conn.is_open()


def waiter_errors(waiters: Iterable[asyncio.Future]) -> List[Optional[str]]:
    """The error name each finished waiter raised (None for a result)."""
    names = []
    for fut in waiters:
        exc = fut.exception()
        names.append(getattr(exc, "name", None) if exc is not None else None)
    return names


def delivered_body(exchange: Exchange, waiters: List[asyncio.Future]) -> bytes:
    """Body bytes the user got: the chunk an ``aio_waiters`` task took, then the rest."""
    first = b""
    if waiters and not waiters[2].cancelled() and waiters[2].exception() is None:
        first = waiters[2].result()
    return first + b"".join(exchange._chunks)


def asyncio_errors(caplog: Any) -> List[str]:
    """ERROR records of the ``asyncio`` logger during the test's call (any thread)."""
    return [f"{r.getMessage()} {r.exc_text or ''}".strip() for r in caplog.get_records("call")
            if r.name == "asyncio" and r.levelno >= logging.ERROR]


@pytest.fixture
def no_asyncio_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fail the test if asyncio logged an error: an exception escaping a protocol callback
    or a task exception never retrieved is swallowed by the loop, only its log shows it."""
    yield
    errors = asyncio_errors(caplog)
    assert not errors, f"asyncio logged errors: {errors}"
