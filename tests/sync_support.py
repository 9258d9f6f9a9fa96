"""Shared pieces of the synchronous-API tests (tests/test_sync_*.py): opening a sync
connection to one of our servers, a recorder for ``on_response`` / ``on_body`` callbacks, and
bounded waits. Everything here blocks the calling (test) thread only on futures it waits for.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple

from crt_http.http import Http2ClientConnection, HttpClientConnection, HttpHeaders, HttpRequest
from crt_http.io import ClientTlsContext, TlsConnectionOptions, TlsContextOptions
from tests.clients import bootstrap_for

TIMEOUT = 10.0


def tls_options(ca: Any, alpn: List[str]) -> TlsConnectionOptions:
    """TLS options trusting the session CA (``ca`` fixture), SNI ``localhost``, ALPN ``alpn``."""
    opts = TlsContextOptions()
    opts.override_default_trust_store_from_path(ca_filepath=ca.ca_file)
    conn_opts = ClientTlsContext(opts).new_connection_options()
    conn_opts.set_server_name("localhost")
    conn_opts.set_alpn_list(alpn)
    return conn_opts


def request(method: str = "GET", path: str = "/echo", headers: Iterable[Tuple[str, str]] = (),
            body: Any = None) -> HttpRequest:
    """A request with ``Host: localhost`` first."""
    return HttpRequest(method, path, HttpHeaders([("Host", "localhost"), *headers]), body)


def new_connection(proto: str, server: Any, ca: Any, loop_impl: str = "asyncio",
                   **kwargs: Any) -> Any:
    """Connect through the sync API: ``proto`` "h1" (HttpClientConnection) or "h2"
    (Http2ClientConnection); TLS (ALPN h2 / http/1.1) when the server has TLS."""
    cls = Http2ClientConnection if proto == "h2" else HttpClientConnection
    kwargs.setdefault("bootstrap", bootstrap_for(loop_impl))
    host = "127.0.0.1"
    if server.tls:
        host = "localhost"
        kwargs.setdefault("tls_connection_options",
                          tls_options(ca, ["h2"] if proto == "h2" else ["http/1.1"]))
    future = cls.new(host, server.port, **kwargs)
    assert isinstance(future, concurrent.futures.Future)
    return future.result(TIMEOUT)


@contextmanager
def opened(proto: str, server: Any, ca: Any, loop_impl: str = "asyncio", **kwargs: Any) -> Iterator[Any]:
    """:func:`new_connection`, closed (and its shutdown awaited) on exit."""
    conn = new_connection(proto, server, ca, loop_impl, **kwargs)
    try:
        yield conn
    finally:
        conn.close()
        conn.shutdown_future.exception(TIMEOUT)


class Recorder:
    """Callbacks for one stream that record what they were given and on which thread.

    ``fail_in`` ("on_response" / "on_body") makes that callback raise ``error``.
    """

    def __init__(self, fail_in: Optional[str] = None, error: Optional[BaseException] = None) -> None:
        self.status: Optional[int] = None
        self.headers: Optional[List[Tuple[str, str]]] = None
        self.body = bytearray()
        self.kwargs: Dict[str, List[str]] = {"on_response": [], "on_body": []}
        self.streams: List[Any] = []
        self.threads: List[threading.Thread] = []
        self.fail_in = fail_in
        self.error = error
        self._lock = threading.Lock()

    def on_response(self, **kwargs: Any) -> None:
        with self._lock:
            self.threads.append(threading.current_thread())
            self.kwargs["on_response"] = sorted(kwargs)
            self.streams.append(kwargs["http_stream"])
            self.status = kwargs["status_code"]
            self.headers = list(kwargs["headers"])
        if self.fail_in == "on_response":
            raise self.error  # type: ignore[misc]

    def on_body(self, **kwargs: Any) -> None:
        with self._lock:
            self.threads.append(threading.current_thread())
            self.kwargs["on_body"] = sorted(kwargs)
            self.streams.append(kwargs["http_stream"])
            self.body += kwargs["chunk"]
        if self.fail_in == "on_body":
            raise self.error  # type: ignore[misc]

    def received(self) -> int:
        with self._lock:
            return len(self.body)


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    """Poll ``predicate`` every 10 ms; AssertionError naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


def stays(predicate: Callable[[], bool], seconds: float) -> bool:
    """True if ``predicate`` holds at every 10 ms check for ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not predicate():
            return False
        time.sleep(0.01)
    return predicate()
