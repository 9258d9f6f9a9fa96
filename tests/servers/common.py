"""Shared pieces of the test servers: the body pattern, request -> response planning, the
thread+loop server base class.

Import the servers as ``tests.servers.<module>`` (``tests/conftest.py`` puts the repository root
on ``sys.path``); inside the package every import is relative.

The pattern
-----------
``x-repeat-data: N`` bodies, the nginx/nghttpd docroot files and every fault-mode body are a
prefix of one infinite byte sequence: :data:`PATTERN_UNIT` (61 printable bytes,
``0-9A-Za-y``; 61 is prime so a shifted or dropped chunk never lines up again) repeated
forever. ``pattern(n, offset)`` returns ``n`` bytes of it starting at ``offset``;
:class:`PatternChecker` checks a stream chunk by chunk without building it.

Request -> response plan (identical for HTTP/1.1 and HTTP/2)
-----------------------------------------------------------
Body, first rule that applies:
  1. ``x-upload-test: true`` -> the decimal ASCII count of request body bytes received.
  2. ``x-repeat-data: N``    -> ``pattern(N)``, streamed in pieces (never built whole).
  3. path ``/echo`` (also ``/echo?...`` and any path ending in ``/echo``) -> JSON
     ``{"method", "path", "headers": [[name, value], ...], "body", "body_len"}`` where
     ``headers`` are the request headers in wire order and wire case (HTTP/2: lower case,
     pseudo-headers included), values decoded as latin-1, and ``body`` is the request body
     decoded as **latin-1** (lossless: ``body.encode("latin-1")`` gives the bytes back).
     ``Content-Type: application/json``.
  4. anything else           -> empty body (``Content-Length: 0``).
Status: ``x-expect-status: S`` (default 200). HEAD, 204 and 304 carry no body (HEAD keeps the
``Content-Length`` the GET would have had; 204/304 send none).
``x-slow-response: true`` paces the body at ``x-throughput-bps: B`` bytes/s (default
1_000_000). ``x-trailers: a=1,b=2`` sends trailers after the body (HTTP/1.1: forces chunked
framing unless ``x-framing`` says otherwise). ``x-interim: N`` sends N interim heads first,
alternating ``100 Continue`` and ``103 Early Hints`` (with a ``link`` header).
Every response carries ``server: crt-http-test-<h1|h2>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import ssl
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

# --------------------------------------------------------------------------- pattern

PATTERN_UNIT: bytes = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxy"
PATTERN_PERIOD: int = len(PATTERN_UNIT)  # 61
assert PATTERN_PERIOD == 61

# A block that is a whole number of periods (so block after block continues the pattern),
# plus one extra period so that any phase can be sliced out of it without copying.
_BLOCK_PERIODS = 1075  # 65_575 bytes
BLOCK_SIZE: int = PATTERN_PERIOD * _BLOCK_PERIODS
_BLOCK_EXT = memoryview(PATTERN_UNIT * (_BLOCK_PERIODS + 1))


def pattern(n: int, offset: int = 0) -> bytes:
    """Return ``n`` bytes of the repeating pattern, starting at byte ``offset`` of it.

    ``pattern(n)`` is exactly what ``x-repeat-data: n`` answers and what the docroot files
    hold. Builds ``n`` bytes: for large streams use :func:`iter_pattern` or
    :class:`PatternChecker`.
    """
    if n < 0 or offset < 0:
        raise ValueError("n and offset must be >= 0")
    phase = offset % PATTERN_PERIOD
    reps = (phase + n) // PATTERN_PERIOD + 1
    return (PATTERN_UNIT * reps)[phase : phase + n]


def iter_pattern(n: int, chunk_size: int = BLOCK_SIZE, offset: int = 0) -> Iterator[memoryview]:
    """Yield ``pattern(n, offset)`` as zero-copy memoryviews of at most ``chunk_size`` bytes."""
    chunk_size = max(1, min(chunk_size, BLOCK_SIZE))
    pos = offset
    end = offset + n
    while pos < end:
        size = min(chunk_size, end - pos)
        phase = pos % PATTERN_PERIOD
        yield _BLOCK_EXT[phase : phase + size]
        pos += size


def check_pattern(data: bytes | bytearray | memoryview, offset: int = 0) -> bool:
    """True when ``data`` equals ``pattern(len(data), offset)`` (compared block by block)."""
    checker = PatternChecker(offset)
    checker.feed(data)
    return checker.ok


class PatternChecker:
    """Incremental checker: ``feed()`` chunks of a body; ``.ok`` stays True while every byte
    matches the pattern; ``.count`` is the number of bytes fed; ``.first_mismatch`` is the
    absolute offset of the first wrong byte (or None)."""

    def __init__(self, offset: int = 0) -> None:
        self.count = 0
        self._offset = offset
        self.first_mismatch: int | None = None

    @property
    def ok(self) -> bool:
        return self.first_mismatch is None

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        mv = memoryview(data).cast("B") if not isinstance(data, memoryview) else data.cast("B")
        pos = 0
        while pos < len(mv):
            absolute = self._offset + self.count + pos
            size = min(BLOCK_SIZE, len(mv) - pos)
            phase = absolute % PATTERN_PERIOD
            if self.first_mismatch is None and mv[pos : pos + size] != _BLOCK_EXT[phase : phase + size]:
                got = bytes(mv[pos : pos + size])
                want = bytes(_BLOCK_EXT[phase : phase + size])
                idx = next(i for i in range(size) if got[i] != want[i])
                self.first_mismatch = absolute + idx
            pos += size
        self.count += len(mv)


def write_pattern_file(path: str, size: int) -> None:
    """Write ``pattern(size)`` to ``path`` efficiently (1 MiB-ish writes), mode 0644."""
    big = PATTERN_UNIT * (_BLOCK_PERIODS * 16)  # ~1 MiB, whole periods
    with open(path, "wb") as f:
        left = size
        while left >= len(big):
            f.write(big)
            left -= len(big)
        if left:
            f.write(big[:left])
    os.chmod(path, 0o644)


# --------------------------------------------------------------------------- request plan

DEFAULT_THROUGHPUT_BPS = 1_000_000
FAULT_DEFAULT_BODY = 1000  # body size used by fault modes when x-repeat-data is absent


@dataclass
class Request:
    """One received request as the servers see it (names/values latin-1 decoded)."""

    method: str
    path: str
    headers: list[tuple[str, str]]
    http_version: str = "1.1"  # "1.0", "1.1" or "2"
    body: bytearray | None = None  # kept only when the response needs it (echo)
    body_len: int = 0
    conn_id: int = 0
    stream_id: int | None = None

    def header(self, name: str, default: str | None = None) -> str | None:
        """First value of header ``name`` (case-insensitive) or ``default``."""
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    def flag(self, name: str) -> bool:
        """True when header ``name`` is ``true``/``1``/``yes`` (case-insensitive)."""
        return (self.header(name) or "").strip().lower() in ("true", "1", "yes")

    def int_header(self, name: str, default: int) -> int:
        v = self.header(name)
        if v is None:
            return default
        try:
            return int(v.strip())
        except ValueError:
            return default

    @property
    def fault(self) -> str | None:
        v = self.header("x-fault")
        return v.strip().lower() if v else None

    @property
    def is_echo(self) -> bool:
        p = self.path.split("?", 1)[0]
        return p == "/echo" or p.endswith("/echo")

    @property
    def needs_body_bytes(self) -> bool:
        """Whether the response needs the body bytes themselves (not only their count)."""
        return self.is_echo and not self.flag("x-upload-test") and self.header("x-repeat-data") is None


@dataclass
class Plan:
    """What to answer: status, headers (without framing headers), body as pieces."""

    status: int
    headers: list[tuple[str, str]]
    length: int  # body length that a GET would get (used for HEAD's Content-Length)
    send_body: bool  # False for HEAD, 204, 304
    chunks: Callable[[int], Iterator[bytes | memoryview]]  # chunk_size -> pieces
    trailers: list[tuple[str, str]] = field(default_factory=list)
    interim: int = 0
    bps: int | None = None  # pacing, bytes per second

    @property
    def announce_length(self) -> bool:
        """Whether a Content-Length may be sent (never for 204 / 1xx)."""
        return self.status not in (204, 304) and not 100 <= self.status < 200


def _const_chunks(data: bytes) -> Callable[[int], Iterator[bytes | memoryview]]:
    def gen(chunk_size: int) -> Iterator[bytes | memoryview]:
        mv = memoryview(data)
        for i in range(0, len(mv), max(1, chunk_size)):
            yield mv[i : i + chunk_size]

    return gen


def parse_trailers(value: str | None) -> list[tuple[str, str]]:
    """``"a=1,b=2"`` -> ``[("a", "1"), ("b", "2")]`` (whitespace stripped, empties dropped)."""
    out: list[tuple[str, str]] = []
    for item in (value or "").split(","):
        if "=" in item:
            k, v = item.split("=", 1)
            if k.strip():
                out.append((k.strip().lower(), v.strip()))
    return out


def echo_json(req: Request) -> bytes:
    """The /echo body for ``req`` (see module docstring)."""
    body = bytes(req.body or b"")
    return json.dumps(
        {
            "method": req.method,
            "path": req.path,
            "headers": [[k, v] for k, v in req.headers],
            "body": body.decode("latin-1"),
            "body_len": req.body_len,
        }
    ).encode()


def make_plan(req: Request, server_name: str) -> Plan:
    """Build the response plan for a fully received request (see module docstring)."""
    status = req.int_header("x-expect-status", 200)
    headers: list[tuple[str, str]] = [("server", server_name)]
    if req.flag("x-upload-test"):
        data = str(req.body_len).encode()
        length, chunks = len(data), _const_chunks(data)
        headers.append(("content-type", "text/plain"))
    elif req.header("x-repeat-data") is not None:
        n = max(0, req.int_header("x-repeat-data", 0))
        length = n

        def chunks(chunk_size: int, n: int = n) -> Iterator[bytes | memoryview]:
            return iter_pattern(n, chunk_size)

        headers.append(("content-type", "application/octet-stream"))
    elif req.is_echo:
        data = echo_json(req)
        length, chunks = len(data), _const_chunks(data)
        headers.append(("content-type", "application/json"))
    else:
        length, chunks = 0, _const_chunks(b"")
    send_body = req.method != "HEAD" and status not in (204, 304)
    bps = None
    if req.flag("x-slow-response"):
        bps = max(1, req.int_header("x-throughput-bps", DEFAULT_THROUGHPUT_BPS))
    return Plan(
        status=status,
        headers=headers,
        length=length,
        send_body=send_body,
        chunks=chunks,
        trailers=parse_trailers(req.header("x-trailers")),
        interim=max(0, req.int_header("x-interim", 0)),
        bps=bps,
    )


def interim_heads(n: int) -> list[tuple[int, list[tuple[str, str]]]]:
    """The ``x-interim: n`` heads: alternating 100 (no headers) and 103 (one ``link``)."""
    out: list[tuple[int, list[tuple[str, str]]]] = []
    for i in range(n):
        if i % 2 == 0:
            out.append((100, []))
        else:
            out.append((103, [("link", "</style.css>; rel=preload; as=style")]))
    return out


def reason(status: int) -> str:
    """Standard reason phrase, ``"Unknown"`` when there is none."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


class Pacer:
    """Paces writes at ``bps`` bytes/s: ``await pacer.wait(n)`` before sending n bytes."""

    def __init__(self, bps: int) -> None:
        self.bps = bps
        self.t0 = time.monotonic()
        self.sent = 0

    @property
    def chunk_size(self) -> int:
        return max(1, min(65536, self.bps // 50))

    async def wait(self, n: int) -> None:
        due = self.t0 + self.sent / self.bps
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        self.sent += n


# --------------------------------------------------------------------------- server base

STOP_TIMEOUT = 2.0
START_TIMEOUT = 5.0


class RecordingReader(asyncio.StreamReader):
    """StreamReader that can append everything fed to it (after TLS) to a record."""

    record: bytearray | None = None
    lock: threading.Lock | None = None

    def feed_data(self, data: bytes) -> None:  # type: ignore[override]
        if self.record is not None and self.lock is not None:
            with self.lock:
                self.record += data
        super().feed_data(data)


@dataclass
class ConnInfo:
    """Book-keeping of one accepted connection (server thread only, except reads)."""

    conn_id: int
    reader: RecordingReader
    writer: asyncio.StreamWriter
    raw_transport: asyncio.Transport  # the TCP transport (below TLS)
    task: asyncio.Task[Any] | None = None
    alpn: str | None = None


class ThreadedServer:
    """Base: an asyncio TCP server (optionally TLS) in its own daemon thread and loop.

    Contract: binds ``host`` (127.0.0.1) on port 0 at construction and is serving when the
    constructor returns (or raises). ``connections_accepted`` counts TCP accepts.
    ``stop()`` is idempotent, aborts every connection, cancels every handler, closes the
    loop and joins the thread within ~2 s (raises ``RuntimeError`` if the thread did not
    end). ``errors`` lists unexpected handler exceptions (tests may assert it is empty);
    ``tls_errors`` lists failed TLS handshakes (expected in TLS-failure tests).
    Subclasses implement ``async _handle(info)``; TLS is done with ``start_tls`` inside the
    handler task so that every connection, even one stuck in its handshake, is owned by a
    task that ``stop()`` cancels (no leaked transports, no ResourceWarning).
    """

    kind = "server"

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None = None,
        host: str = "127.0.0.1",
        record: bool = False,
        name: str | None = None,
    ) -> None:
        self.host = host
        self.port = 0
        self.ssl_context = ssl_context
        self.connections_accepted = 0
        self.errors: list[BaseException] = []
        self.tls_errors: list[BaseException] = []
        self._record = record
        self._records: list[bytearray] = []
        self._record_lock = threading.Lock()
        self._conns: dict[int, ConnInfo] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._stopped = False
        self._stop_event: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name=name or f"test-{self.kind}-server", daemon=True)
        self._ready = threading.Event()
        self._start_error: BaseException | None = None
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT):
            raise RuntimeError(f"{self.kind} server did not start within {START_TIMEOUT} s")
        if self._start_error is not None:
            self._thread.join(STOP_TIMEOUT)
            raise RuntimeError(f"{self.kind} server failed to start") from self._start_error

    # -- public --------------------------------------------------------------------------

    @property
    def tls(self) -> bool:
        return self.ssl_context is not None

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    @property
    def authority(self) -> str:
        return f"{self.host}:{self.port}"

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop serving, close every connection, end the thread (bounded by ``timeout``)."""
        if self._stopped:
            return
        self._stopped = True
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(loop.stop)
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise RuntimeError(f"{self.kind} server thread did not stop within {timeout} s")

    def __enter__(self) -> "ThreadedServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def call(self, fn: Callable[[], Any], timeout: float = 2.0) -> Any:
        """Run ``fn()`` on the server loop and return its result (bounded)."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(self._call(fn), self._loop).result(timeout)

    async def _call(self, fn: Callable[[], Any]) -> Any:
        return fn()

    # -- thread / loop ---------------------------------------------------------------------

    def _exception_handler(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if isinstance(exc, (ConnectionError, ssl.SSLError, OSError, asyncio.CancelledError)):
            return
        self.errors.append(exc or RuntimeError(str(context.get("message"))))

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        loop.set_exception_handler(self._exception_handler)
        try:
            loop.run_until_complete(self._start())
        except BaseException as e:  # noqa: BLE001 - reported to the constructor
            self._start_error = e
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            try:
                loop.run_until_complete(asyncio.wait_for(self._shutdown(), STOP_TIMEOUT * 0.75))
            except BaseException as e:  # noqa: BLE001
                self.errors.append(e)
            with contextlib.suppress(BaseException):
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _start(self) -> None:
        loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()

        def factory() -> asyncio.StreamReaderProtocol:
            reader = RecordingReader(limit=2**20, loop=loop)
            return asyncio.StreamReaderProtocol(reader, self._accepted, loop=loop)

        self._server = await loop.create_server(
            factory, self.host, 0, family=socket.AF_INET, reuse_address=True, backlog=512
        )
        self.port = self._server.sockets[0].getsockname()[1]
        await self._started()

    async def _started(self) -> None:
        """Hook for subclasses (runs on the loop once listening)."""

    async def _shutdown(self) -> None:
        assert self._stop_event is not None
        self._stop_event.set()
        if self._server is not None:
            self._server.close()
        # Let connections accepted just before close() reach _conn_main (which refuses them
        # once stopping), then abort and cancel everything still registered.
        await asyncio.sleep(0)
        for _ in range(3):
            tasks = []
            for info in list(self._conns.values()):
                with contextlib.suppress(Exception):
                    info.writer.transport.abort()
                with contextlib.suppress(Exception):
                    info.raw_transport.abort()
                if info.task is not None and not info.task.done():
                    info.task.cancel()
                    tasks.append(info.task)
            if not tasks:
                break
            await asyncio.wait(tasks, timeout=0.5)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 0.5)
        await self._stopped_hook()

    async def _stopped_hook(self) -> None:
        """Hook for subclasses (runs on the loop while stopping)."""

    def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Awaitable[None]:
        return self._conn_main(reader, writer)  # type: ignore[arg-type]

    async def _conn_main(self, reader: RecordingReader, writer: asyncio.StreamWriter) -> None:
        if self._stop_event is None or self._stop_event.is_set():
            writer.transport.abort()
            return
        self.connections_accepted += 1
        conn_id = self.connections_accepted
        if self._record:
            rec = bytearray()
            with self._record_lock:
                self._records.append(rec)
            reader.record = rec
            reader.lock = self._record_lock
        raw = writer.transport
        assert isinstance(raw, asyncio.Transport)
        info = ConnInfo(conn_id, reader, writer, raw, asyncio.current_task())
        self._conns[conn_id] = info
        with contextlib.suppress(Exception):
            writer.transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            if self.ssl_context is not None:
                try:
                    await writer.start_tls(self.ssl_context, ssl_handshake_timeout=5.0)
                except (ssl.SSLError, ConnectionError, OSError, asyncio.TimeoutError) as e:
                    self.tls_errors.append(e)
                    return
                ssl_obj = writer.get_extra_info("ssl_object")
                info.alpn = ssl_obj.selected_alpn_protocol() if ssl_obj is not None else None
            await self._handle(info)
        except asyncio.CancelledError:
            pass
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError, TimeoutError):
            pass
        except Exception as e:  # noqa: BLE001 - recorded for the tests
            self.errors.append(e)
        finally:
            self._conns.pop(conn_id, None)
            with contextlib.suppress(Exception):
                writer.transport.abort()
            with contextlib.suppress(Exception):
                info.raw_transport.abort()

    async def _handle(self, info: ConnInfo) -> None:
        raise NotImplementedError

    # -- helpers for handlers ---------------------------------------------------------------

    async def wait_stopped(self) -> None:
        """Block (in a handler) until the server stops."""
        assert self._stop_event is not None
        await self._stop_event.wait()


async def close_gracefully(writer: asyncio.StreamWriter, timeout: float = 1.0) -> None:
    """Flush, close (FIN / TLS close_notify) and wait for the transport to close, bounded."""
    with contextlib.suppress(Exception):
        await asyncio.wait_for(writer.drain(), timeout)
    writer.close()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(writer.wait_closed(), timeout)
    if not writer.transport.is_closing():
        writer.transport.abort()


async def drain_until_eof(reader: asyncio.StreamReader, timeout: float | None = None) -> None:
    """Read and discard until the peer closes (or ``timeout`` seconds pass, if given)."""

    async def loop_() -> None:
        while await reader.read(65536):
            pass

    with contextlib.suppress(Exception):
        if timeout is None:
            await loop_()
        else:
            await asyncio.wait_for(loop_(), timeout)


async def flush_and_abort(raw_transport: asyncio.Transport, writer: asyncio.StreamWriter) -> None:
    """Flush everything to the socket, then drop the TCP connection without any goodbye
    (no TLS close_notify): used for ``no-close-notify``."""
    with contextlib.suppress(Exception):
        await asyncio.wait_for(writer.drain(), 1.0)
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        size = getattr(raw_transport, "get_write_buffer_size", lambda: 0)()
        if size == 0:
            break
        await asyncio.sleep(0.005)
    sock = raw_transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)  # FIN after the queued bytes, no close_notify
    await asyncio.sleep(0.01)
    raw_transport.abort()
