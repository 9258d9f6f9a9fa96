"""Shared pieces of the property-based tests (tests/test_fuzz_*.py, marker ``fuzz``).

- ``EXAMPLES``: examples per test, from ``CRT_HTTP_FUZZ_EXAMPLES`` (default 40 so that
  ``make test`` stays fast; ``make fuzz`` sets 5000); ``TEST_TIMEOUT`` scales the
  pytest-timeout of each fuzz test with it.
- ``fuzz_settings()``: hypothesis settings for these tests: no deadline (a real socket per
  example), no example database, function-scoped fixtures allowed (one server per test,
  reused by every example).
- ``Runner``: one event loop for all the examples of a test; ``run(coro)`` runs one.
- ``outcome(coro)``: run one exchange bounded by ``EXAMPLE_BOUND`` seconds; returns the
  Response or the AwsCrtError. Anything else fails the test: a hang (TimeoutError) or an
  exception that is not an AwsCrtError named ``AWS_...``.
- ``exchange(api, proto, port, headers)``: one GET / on a new connection, as ``outcome``
  sees it; the connection is closed whatever happened.
- ``Script``: the server's current script, swapped between examples (the servers read it
  per connection).
- ``write_in_pieces(writer, data, cuts)``: write ``data`` cut at ``cuts``, with a pause
  between pieces so they reach the client in separate reads (parser and fast-path
  boundaries).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, Awaitable, Iterable, Optional, Tuple

from hypothesis import HealthCheck, settings

from crt_http.exceptions import AwsCrtError
from tests.clients import connect

EXAMPLES = int(os.environ.get("CRT_HTTP_FUZZ_EXAMPLES", "40"))
EXAMPLE_BOUND = 2.0
# pytest-timeout for one fuzz test: the global 60 s, or more for many examples (make fuzz).
TEST_TIMEOUT = max(60, int(EXAMPLES * 0.25) + 60)


def fuzz_settings() -> settings:
    return settings(max_examples=EXAMPLES, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large])


class Script:
    """What the raw server does for the next connection (set by the test per example)."""

    def __init__(self) -> None:
        self.value: Any = None


class Runner:
    """One event loop reused by every example of a test."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()

    def run(self, coro: Awaitable[Any]) -> Any:
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()


async def outcome(coro: Awaitable[Any], bound: float = EXAMPLE_BOUND) -> Any:
    """The exchange's Response, or its AwsCrtError (named AWS_...); anything else fails."""
    try:
        return await asyncio.wait_for(coro, bound)
    except asyncio.TimeoutError:
        raise AssertionError(f"the client hung for more than {bound} s") from None
    except AwsCrtError as exc:
        assert exc.name.startswith("AWS_"), repr(exc)
        return exc


async def exchange(api: str, proto: str, port: int, headers: Iterable[Tuple[str, str]] = ()) -> Any:
    conn = await connect(api, proto, "127.0.0.1", port)
    try:
        return await outcome(conn.request("GET", "/", headers, timeout=5))
    finally:
        await conn.close()


async def write_in_pieces(writer: asyncio.StreamWriter, data: bytes, cuts: Any = ()) -> None:
    start = 0
    for cut in sorted(set(c for c in cuts if 0 < c < len(data))):
        writer.write(data[start:cut])
        await writer.drain()
        await asyncio.sleep(0.002)
        start = cut
    writer.write(data[start:])


def named(result: Any) -> Optional[str]:
    return result.name if isinstance(result, AwsCrtError) else None
