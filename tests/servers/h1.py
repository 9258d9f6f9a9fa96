"""HTTP/1.1 test server: asyncio + h11 in its own daemon thread and event loop.

``H1Server(tls=False, certs=None, ssl_context=None, alpn=("http/1.1",), cert_kind="server",
reject_linger=1.0)`` binds 127.0.0.1 on port 0 and serves when the constructor returns.
Attributes: ``host``, ``port``, ``url``, ``connections_accepted``, ``requests`` (list of
:class:`~tests.servers.common.Request`, body bytes kept only for /echo), ``errors``,
``tls_errors``; ``stop()`` ends everything within 2 s. With ``tls=True`` the context comes
from ``certs`` (default: the session bundle) with leaf ``cert_kind`` (``server``,
``wrong-host``, ``expired``, ``untrusted``) and ALPN ``alpn``; or pass ``ssl_context``.

h11 parses the requests (Content-Length and chunked bodies, keep-alive, pipelining: requests
are answered one after another, in order). Responses are written by hand, so that every
framing and every fault below can be produced byte for byte.

Endpoints and behaviour headers: see :mod:`tests.servers.common` (``/echo``,
``x-repeat-data``, ``x-slow-response`` + ``x-throughput-bps``, ``x-expect-status``,
``x-upload-test``, ``x-trailers``, ``x-interim``). HTTP/1-only request headers:

- ``x-framing: content-length`` (default) ``| chunked | close`` — response body framing;
  ``close`` sends no length and closes after the body (read-until-close). ``x-trailers``
  without ``x-framing`` selects ``chunked``; trailers are only sent with ``chunked``.
- ``x-http10: true`` — status line ``HTTP/1.0``; never chunked (``chunked`` becomes
  ``close``); no interim heads; the connection closes after the response.
- ``Connection: close`` from the client (or an HTTP/1.0 request without keep-alive) and
  ``x-server-close: true`` — the response carries ``Connection: close`` and the server
  closes after it. Whenever the server closes after a response it says ``Connection: close``.
- ``Expect: 100-continue`` — ``100 Continue`` is sent before the body is read.

Fault modes, request header ``x-fault: <name>``. ``N`` is ``x-repeat-data`` or 1000 when
absent; the body bytes are ``pattern(...)``. Unless stated, the whole request (head and body)
is read first. "close" means FIN (TLS: close_notify then FIN).

- ``close-before-headers``: close without sending a byte.
- ``close-during-headers``: send ``HTTP/1.1 200 OK\\r\\nContent-Le`` then close.
- ``close-mid-body``: ``Content-Length: N``, send ``pattern(N // 2)``, close.
- ``truncated-chunked``: ``Transfer-Encoding: chunked``, send ``pattern(N // 2)`` in up to 3
  chunks, close without the terminating ``0`` chunk.
- ``content-length-larger``: ``Content-Length: N + 100``, send ``pattern(N)``, close.
- ``content-length-smaller``: ``Content-Length: N``, send ``pattern(N)`` then 100 bytes
  ``X``; keep the connection open (read and discard until the client closes).
- ``malformed-status``: send ``HTTP/1.1 abc OK\\r\\nContent-Length: 0\\r\\n\\r\\n``; keep open.
- ``malformed-header``: send ``HTTP/1.1 200 OK\\r\\nContent-Length: 0\\r\\n``
  ``this-header-has-no-colon\\r\\n\\r\\n``; keep open.
- ``oversized-headers``: a valid ``200`` whose head is at least ``x-fault-size`` bytes
  (default 102400) of ``x-filler-NNNNN: aaa...`` lines, ``Content-Length: 0``; the
  connection stays usable (keep-alive).
- ``stall``: never answer; read and discard until the client closes (or the server stops).
- ``stall-mid-body``: ``Content-Length: N``, send ``pattern(N // 2)``, then as ``stall``.
- ``reject-upload-413``: read the request head only, send ``413 Payload Too Large`` with
  ``Connection: close``, ``Content-Length`` and body ``request body too large\\n``;
  half-close the write side (plain TCP only: TLS cannot half-close), read and discard for up
  to ``reject_linger`` s (default 1.0) or until the client closes, then close — so the client
  can read the 413 before the connection goes away.
- ``no-close-notify``: answer with read-until-close framing (no length,
  ``Connection: close``), then drop the TCP connection without a TLS close_notify
  (plain TCP: just FIN).
- ``stop-reading``: read the request head only, then never read again and never answer
  (the client's upload stalls once the socket buffers fill) until the server stops.
- any other value: ``400`` with body ``unknown x-fault: <value>``.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterable

import h11

from .certs import CertBundle, get_certs
from .common import (
    FAULT_DEFAULT_BODY,
    ConnInfo,
    Pacer,
    Request,
    ThreadedServer,
    check_pattern,
    close_gracefully,
    drain_until_eof,
    flush_and_abort,
    interim_heads,
    iter_pattern,
    make_plan,
    pattern,
    reason,
)

__all__ = ["H1Server", "pattern", "check_pattern", "serve_h1", "FAULTS"]

FAULTS = (
    "close-before-headers",
    "close-during-headers",
    "close-mid-body",
    "truncated-chunked",
    "content-length-larger",
    "content-length-smaller",
    "malformed-status",
    "malformed-header",
    "oversized-headers",
    "stall",
    "stall-mid-body",
    "reject-upload-413",
    "no-close-notify",
    "stop-reading",
)

MAX_REQUEST_HEAD = 1 << 20
SERVER_NAME = "crt-http-test-h1"


class H1Server(ThreadedServer):
    """HTTP/1.1 server (see module docstring)."""

    kind = "h1"

    def __init__(
        self,
        *,
        tls: bool = False,
        certs: CertBundle | None = None,
        ssl_context: ssl.SSLContext | None = None,
        alpn: tuple[str, ...] = ("http/1.1",),
        cert_kind: str = "server",
        reject_linger: float = 1.0,
    ) -> None:
        if ssl_context is None and tls:
            ssl_context = (certs or get_certs()).server_context(cert_kind, alpn)
        self.requests: list[Request] = []
        self.reject_linger = reject_linger
        super().__init__(ssl_context=ssl_context)

    async def _handle(self, info: ConnInfo) -> None:
        await serve_h1(self, info)


def _head(version: str, status: int, headers: Iterable[tuple[str, str]]) -> bytes:
    lines = [f"{version} {status} {reason(status)}\r\n"]
    lines.extend(f"{k}: {v}\r\n" for k, v in headers)
    lines.append("\r\n")
    return "".join(lines).encode("latin-1")


async def _next_event(conn: h11.Connection, reader: asyncio.StreamReader) -> object:
    while True:
        ev = conn.next_event()
        if ev is h11.NEED_DATA:
            conn.receive_data(await reader.read(65536))
            continue
        return ev


def _wants_close(req: Request) -> bool:
    tokens = {t.strip().lower() for t in (req.header("connection") or "").split(",")}
    if "close" in tokens:
        return True
    if req.http_version == "1.0" and "keep-alive" not in tokens:
        return True
    return req.flag("x-server-close") or req.flag("x-http10")


async def serve_h1(server: ThreadedServer, info: ConnInfo) -> None:
    """Serve HTTP/1.1 on an accepted (and TLS-wrapped) connection until it ends.

    ``server`` needs ``requests`` (list), ``reject_linger`` (float) and ``wait_stopped()``.
    """
    reader, writer = info.reader, info.writer
    leftover, eof = b"", False
    while True:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_REQUEST_HEAD)
        if leftover:
            conn.receive_data(leftover)
        if eof:
            conn.receive_data(b"")
        try:
            ev = await _next_event(conn, reader)
        except h11.RemoteProtocolError as e:
            await _bad_request(writer, f"bad request: {e}")
            return
        if not isinstance(ev, h11.Request):
            return  # ConnectionClosed (or anything unexpected): done
        req = Request(
            method=ev.method.decode("latin-1"),
            path=ev.target.decode("latin-1"),
            headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in ev.headers.raw_items()],
            http_version=ev.http_version.decode("latin-1"),
            conn_id=info.conn_id,
        )
        server.requests.append(req)  # type: ignore[attr-defined]
        fault = req.fault

        if fault == "reject-upload-413":
            body = b"request body too large\n"
            head = _head(
                "HTTP/1.1",
                413,
                [
                    ("server", SERVER_NAME),
                    ("content-type", "text/plain"),
                    ("content-length", str(len(body))),
                    ("connection", "close"),
                ],
            )
            writer.write(head.replace(b" 413 Request Entity Too Large", b" 413 Payload Too Large") + body)
            await asyncio.wait_for(writer.drain(), 2.0)
            if writer.can_write_eof():
                writer.write_eof()
            await drain_until_eof(reader, getattr(server, "reject_linger", 1.0))
            await close_gracefully(writer)
            return
        if fault == "stop-reading":
            await server.wait_stopped()
            return

        if conn.client_is_waiting_for_100_continue and not req.flag("x-http10"):
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")

        keep = req.needs_body_bytes
        body_buf = bytearray() if keep else None
        try:
            while True:
                ev = await _next_event(conn, reader)
                if isinstance(ev, h11.Data):
                    req.body_len += len(ev.data)
                    if body_buf is not None:
                        body_buf += ev.data
                elif isinstance(ev, h11.EndOfMessage):
                    break
                else:
                    return  # client went away mid-body
        except h11.RemoteProtocolError as e:
            await _bad_request(writer, f"bad request body: {e}")
            return
        req.body = body_buf
        leftover, eof = conn.trailing_data

        if fault is not None:
            outcome = await _fault(server, info, req, fault)
            if outcome == "done":
                return
            continue  # "keep-alive"
        if await _respond(info, req):
            await close_gracefully(writer)
            return
        await writer.drain()


async def _bad_request(writer: asyncio.StreamWriter, text: str) -> None:
    body = text.encode("latin-1", "replace")
    writer.write(
        _head(
            "HTTP/1.1",
            400,
            [("server", SERVER_NAME), ("content-length", str(len(body))), ("connection", "close")],
        )
        + body
    )
    await close_gracefully(writer)


async def _respond(info: ConnInfo, req: Request) -> bool:
    """Write the normal response for ``req``; return True when the connection must close."""
    writer = info.writer
    plan = make_plan(req, SERVER_NAME)
    framing = (req.header("x-framing") or "").strip().lower() or None
    if framing not in (None, "content-length", "chunked", "close"):
        framing = None
    if framing is None:
        framing = "chunked" if plan.trailers else "content-length"
    http10 = req.flag("x-http10")
    if (http10 or req.http_version == "1.0") and framing == "chunked":
        framing = "close"
    close = _wants_close(req) or framing == "close"
    version = "HTTP/1.0" if http10 else "HTTP/1.1"
    if not http10:
        for st, hs in interim_heads(plan.interim):
            writer.write(_head(version, st, hs))
    headers = list(plan.headers)
    chunked = False
    if plan.announce_length:
        if framing == "content-length":
            headers.append(("content-length", str(plan.length)))
        elif framing == "chunked":
            headers.append(("transfer-encoding", "chunked"))
            chunked = True
    if close:
        headers.append(("connection", "close"))
    writer.write(_head(version, plan.status, headers))
    if plan.send_body:
        pacer = Pacer(plan.bps) if plan.bps else None
        size = pacer.chunk_size if pacer else 1 << 16
        for piece in plan.chunks(size):
            if pacer is not None:
                await pacer.wait(len(piece))
            if chunked:
                writer.write(b"%x\r\n" % len(piece))
                writer.write(piece)
                writer.write(b"\r\n")
            else:
                writer.write(piece)
            await writer.drain()
        if chunked:
            trailer = "".join(f"{k}: {v}\r\n" for k, v in plan.trailers).encode("latin-1")
            writer.write(b"0\r\n" + trailer + b"\r\n")
    return close


async def _fault(server: ThreadedServer, info: ConnInfo, req: Request, fault: str) -> str:
    """Play fault ``fault``; return ``"done"`` (connection finished) or ``"keep-alive"``."""
    reader, writer = info.reader, info.writer
    n = max(0, req.int_header("x-repeat-data", FAULT_DEFAULT_BODY))
    base = [("server", SERVER_NAME), ("content-type", "application/octet-stream")]
    if fault == "close-before-headers":
        await close_gracefully(writer)
    elif fault == "close-during-headers":
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Le")
        await close_gracefully(writer)
    elif fault in ("close-mid-body", "stall-mid-body"):
        writer.write(_head("HTTP/1.1", 200, base + [("content-length", str(n))]))
        writer.write(pattern(n // 2))
        if fault == "close-mid-body":
            await close_gracefully(writer)
        else:
            await writer.drain()
            await drain_until_eof(reader)
    elif fault == "truncated-chunked":
        writer.write(_head("HTTP/1.1", 200, base + [("transfer-encoding", "chunked")]))
        half = n // 2
        step = max(1, -(-half // 3))
        for piece in iter_pattern(half, step):
            writer.write(b"%x\r\n" % len(piece) + bytes(piece) + b"\r\n")
        await close_gracefully(writer)
    elif fault == "content-length-larger":
        writer.write(_head("HTTP/1.1", 200, base + [("content-length", str(n + 100))]))
        writer.write(pattern(n))
        await close_gracefully(writer)
    elif fault == "content-length-smaller":
        writer.write(_head("HTTP/1.1", 200, base + [("content-length", str(n))]))
        writer.write(pattern(n) + b"X" * 100)
        await writer.drain()
        await drain_until_eof(reader)
    elif fault == "malformed-status":
        writer.write(b"HTTP/1.1 abc OK\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        await drain_until_eof(reader)
    elif fault == "malformed-header":
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nthis-header-has-no-colon\r\n\r\n")
        await writer.drain()
        await drain_until_eof(reader)
    elif fault == "oversized-headers":
        size = max(0, req.int_header("x-fault-size", 102400))
        headers = [("server", SERVER_NAME)]
        total, i = 0, 0
        while total < size:
            line = (f"x-filler-{i:05d}", "a" * 1000)
            headers.append(line)
            total += len(line[0]) + len(line[1]) + 4
            i += 1
        close = _wants_close(req)
        headers.append(("content-length", "0"))
        if close:
            headers.append(("connection", "close"))
        writer.write(_head("HTTP/1.1", 200, headers))
        await writer.drain()
        if close:
            await close_gracefully(writer)
            return "done"
        return "keep-alive"
    elif fault == "stall":
        await drain_until_eof(reader)
    elif fault == "no-close-notify":
        plan = make_plan(req, SERVER_NAME)
        writer.write(_head("HTTP/1.1", plan.status, plan.headers + [("connection", "close")]))
        if plan.send_body:
            for body_piece in plan.chunks(1 << 16):
                writer.write(body_piece)
                await writer.drain()
        await flush_and_abort(info.raw_transport, writer)
    else:
        body = f"unknown x-fault: {fault}".encode("latin-1", "replace")
        writer.write(
            _head(
                "HTTP/1.1",
                400,
                [("server", SERVER_NAME), ("content-length", str(len(body))), ("connection", "close")],
            )
            + body
        )
        await close_gracefully(writer)
    return "done"
