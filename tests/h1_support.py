"""Helpers shared by the HTTP/1.1 end-to-end tests (tests/test_h1_*.py).

- ``fast_path``: fixture, parametrized ``fast``/``slow``, that monkeypatches
  ``crt_http.aio._h1.FAST_PATH`` so body-framing tests run with the Content-Length fast path
  on and off. Import it into the test module and mark tests with ``FAST_AND_SLOW``.
- ``API``: the ``api`` parametrization (``aio``, ``sync``).
- ``tls_options(...)``: client ``TlsConnectionOptions`` as the tests need them.
- ``assert_pattern(body, n)``: the body is exactly ``pattern(n)``, with a short message.
- ``BodyCollector``: collects a started exchange's body as it arrives (both APIs), so a
  test can look at what was delivered so far without consuming it through the adapter.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Any, Iterator, List, Optional

import pytest

from crt_http.io import ClientTlsContext, TlsConnectionOptions, TlsContextOptions
from tests.clients import Conn, make_request
from tests.servers.common import PatternChecker

API = pytest.mark.parametrize("api", ["aio", "sync"])
# Mark a test to run with the Content-Length fast path on and off; the module must also
# import the ``fast_path`` fixture (an import flake8 calls unused: silence F401 there).
FAST_AND_SLOW = pytest.mark.usefixtures("fast_path")


@pytest.fixture(params=[True, False], ids=["fast", "slow"])
def fast_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[bool]:
    """Run the test with the HTTP/1.1 Content-Length fast path on, then off."""
    import crt_http.aio._h1 as h1

    monkeypatch.setattr(h1, "FAST_PATH", bool(request.param))
    yield bool(request.param)


def tls_options(ca_file: Optional[str] = None, server_name: Optional[str] = "localhost",
                verify_peer: bool = True) -> TlsConnectionOptions:
    """TLS options trusting ``ca_file`` (None: the system store) with SNI ``server_name``."""
    opts = TlsContextOptions()
    opts.verify_peer = verify_peer
    if ca_file is not None:
        opts.override_default_trust_store_from_path(ca_filepath=ca_file)
    conn_opts = ClientTlsContext(opts).new_connection_options()
    if server_name is not None:
        conn_opts.set_server_name(server_name)
    return conn_opts


def assert_pattern(body: bytes, n: int, offset: int = 0) -> None:
    """Assert ``body == pattern(n, offset)`` without printing megabytes on failure."""
    checker = PatternChecker(offset)
    checker.feed(body)
    assert checker.count == n, f"got {checker.count} body bytes, want {n}"
    assert checker.ok, f"body differs from the pattern at byte {checker.first_mismatch}"


class BodyCollector:
    """A started exchange whose body bytes are collected as they are delivered.

    aio: a task reads ``get_next_response_chunk()`` until ``b""`` (never cancelled, so the
    stream is not cancelled by the test); sync: ``on_body`` appends. ``done`` is a
    ``concurrent.futures.Future`` completing with the status (or the stream's error).
    """

    def __init__(self, conn: Conn, method: str = "GET", path: str = "/",
                 headers: Any = ()) -> None:
        self.chunks: List[bytes] = []
        self.api = conn.api
        request = make_request(method, path, headers)
        self.request_headers = list(headers)
        self._task: Optional[asyncio.Task] = None
        if conn.api == "aio":
            self.stream = conn.raw.request(request)
            self._task = asyncio.get_running_loop().create_task(self._read())
        else:
            self.stream = conn.raw.request(request, on_body=self._on_body)
            self.stream.activate()
        self.done: concurrent.futures.Future = self.stream.completion_future

    def _on_body(self, http_stream: Any, chunk: bytes, **kwargs: Any) -> None:
        self.chunks.append(bytes(chunk))

    async def _read(self) -> None:
        while True:
            chunk = await self.stream.get_next_response_chunk()
            if not chunk:
                return
            self.chunks.append(chunk)

    @property
    def count(self) -> int:
        return sum(len(c) for c in self.chunks)

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)

    async def wait_count(self, n: int, timeout: float = 5.0) -> None:
        """Wait until at least ``n`` body bytes were delivered (bounded)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self.count < n:
            if self.done.done() and self.done.exception() is not None:
                raise self.done.exception()  # type: ignore[misc]
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"only {self.count} of {n} body bytes after {timeout} s")
            await asyncio.sleep(0.005)

    async def finish(self, timeout: float = 20.0) -> int:
        """Wait for the exchange's end; return the status (raises the stream's error)."""
        status = await asyncio.wait_for(asyncio.wrap_future(self.done), timeout)
        if self._task is not None:
            await asyncio.wait_for(self._task, timeout)
        return status
