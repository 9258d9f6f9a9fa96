"""RawServer: a scripted TCP (optionally TLS) server for conformance and fuzz tests.

Two ways to say what it does, per accepted connection:

- ``RawServer(handler)`` with ``async def handler(reader, writer)`` (asyncio streams, TLS
  already done). When the handler returns, the connection is flushed and closed. An
  exception in the handler lands in ``server.errors`` (connection errors are ignored).
- ``RawServer(responses=[b"...", ...], close_after=True, read_body=True)``: for each element,
  read one request head (up to ``\\r\\n\\r\\n``; with ``read_body`` also ``Content-Length``
  body bytes — chunked request bodies are not parsed), then write the element verbatim.
  After the last element: ``close_after=True`` closes (FIN / TLS close_notify), ``False``
  reads and discards until the client closes. Every connection runs the script from the
  start. If the client closes first, the script ends there.

``tls=True`` wraps with the session certs (leaf ``cert_kind``, ALPN ``alpn``, default
``("http/1.1",)``), or pass ``ssl_context``. Same thread+loop model as the other servers:
binds 127.0.0.1:0, ``.host``, ``.port``, ``.url``, ``.connections_accepted``, ``stop()``
within 2 s.

Recording: every byte the client sent (after TLS decryption), per connection, whether or not
the handler read it: ``received`` (all connections concatenated in accept order),
``received_per_connection`` (list of bytes), ``wait_received(predicate_or_bytes, timeout)``.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence

from .certs import CertBundle, get_certs
from .common import ConnInfo, ThreadedServer, close_gracefully, drain_until_eof

__all__ = ["RawServer", "Handler"]

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class RawServer(ThreadedServer):
    """Scripted TCP/TLS server (see module docstring)."""

    kind = "raw"

    def __init__(
        self,
        handler: Handler | None = None,
        *,
        responses: Sequence[bytes] | None = None,
        close_after: bool = True,
        read_body: bool = True,
        tls: bool = False,
        certs: CertBundle | None = None,
        ssl_context: ssl.SSLContext | None = None,
        alpn: tuple[str, ...] | None = ("http/1.1",),
        cert_kind: str = "server",
    ) -> None:
        if (handler is None) == (responses is None):
            raise ValueError("give exactly one of handler or responses")
        if ssl_context is None and tls:
            ssl_context = (certs or get_certs()).server_context(cert_kind, alpn)
        self.handler = handler
        self.responses = [bytes(r) for r in responses] if responses is not None else None
        self.close_after = close_after
        self.read_body = read_body
        super().__init__(ssl_context=ssl_context, record=True)

    # -- recording ------------------------------------------------------------------------------

    @property
    def received_per_connection(self) -> list[bytes]:
        """Bytes received on each connection so far, in accept order."""
        with self._record_lock:
            return [bytes(r) for r in self._records]

    @property
    def received(self) -> bytes:
        """All bytes received so far, connections concatenated in accept order."""
        return b"".join(self.received_per_connection)

    def wait_received(self, until: bytes | Callable[[bytes], bool], timeout: float = 2.0) -> bytes:
        """Poll until ``received`` contains ``until`` (bytes) or ``until(received)`` is true;
        return ``received``. Raises ``TimeoutError`` after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            data = self.received
            if (until in data) if isinstance(until, bytes) else until(data):
                return data
            if time.monotonic() >= deadline:
                raise TimeoutError(f"raw server did not receive {until!r} in {timeout} s; got {data!r}")
            time.sleep(0.005)

    # -- serving ----------------------------------------------------------------------------------

    async def _handle(self, info: ConnInfo) -> None:
        reader, writer = info.reader, info.writer
        if self.handler is not None:
            await self.handler(reader, writer)
            await close_gracefully(writer)
            return
        assert self.responses is not None
        for resp in self.responses:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                return
            if self.read_body:
                length = _content_length(head)
                if length:
                    try:
                        await reader.readexactly(length)
                    except asyncio.IncompleteReadError:
                        return
            writer.write(resp)
            await writer.drain()
        if self.close_after:
            await close_gracefully(writer)
        else:
            await drain_until_eof(reader)


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, sep, value = line.partition(b":")
        if sep and name.strip().lower() == b"content-length":
            try:
                return max(0, int(value.strip()))
            except ValueError:
                return 0
    return 0
