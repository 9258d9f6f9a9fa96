"""HTTP/2 request bodies (body_stream, request_body_generator, sync manual writes) under the
server's small windows, END_STREAM from the server (remote_end_stream_future, early
answers), and response trailers."""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any, AsyncIterator, Iterable, List, Optional, Tuple

import pytest

from crt_http.exceptions import AwsCrtError
from tests.clients import make_request
from tests.h2_support import APIS, TRANSPORTS, new_server, opened
from tests.servers.common import iter_pattern, pattern, write_pattern_file

pytestmark = pytest.mark.both_loops

UPLOAD = 10 << 20
SMALL_WINDOW = 16384  # the server's stream windows for request bodies
SOURCES = [("aio", "bytesio"), ("aio", "file"), ("aio", "generator"), ("sync", "bytesio"), ("sync", "file")]


async def pattern_generator(size: int, piece: int = 65536) -> AsyncIterator[bytes]:
    for view in iter_pattern(size, piece):
        yield bytes(view)
        await asyncio.sleep(0)


def upload_source(kind: str, size: int, tmp_path: Any) -> Tuple[Any, Optional[AsyncIterator[bytes]]]:
    """(body for HttpRequest, request_body_generator) carrying ``pattern(size)``."""
    if kind == "bytesio":
        return io.BytesIO(pattern(size)), None
    if kind == "file":
        path = tmp_path / "upload.bin"
        write_pattern_file(str(path), size)
        return open(path, "rb"), None
    return None, pattern_generator(size)


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("api, source", SOURCES)
async def test_upload_10mib_under_small_windows(api: str, source: str, transport: str, make_h2_server: Any,
                                                ca: Any, loop_impl: str, tmp_path: Any) -> None:
    server = new_server(make_h2_server, transport, initial_window_size=SMALL_WINDOW)
    body, generator = upload_source(source, UPLOAD, tmp_path)
    try:
        async with opened(api, server, ca, loop_impl) as conn:
            r = await conn.request("PUT", "/upload", [("x-upload-test", "true")], body=body,
                                   body_generator=generator, timeout=20)
    finally:
        if hasattr(body, "close"):
            body.close()
    assert r.status == 200
    assert r.body == str(UPLOAD).encode()
    assert server.conn_records[0].data_bytes_received == UPLOAD


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("api, source", SOURCES)
async def test_upload_arrives_byte_for_byte(api: str, source: str, transport: str, make_h2_server: Any,
                                            ca: Any, loop_impl: str, tmp_path: Any) -> None:
    size = 300_001
    server = new_server(make_h2_server, transport, initial_window_size=SMALL_WINDOW)
    body, generator = upload_source(source, size, tmp_path)
    try:
        async with opened(api, server, ca, loop_impl) as conn:
            r = await conn.request("POST", "/echo", body=body, body_generator=generator)
    finally:
        if hasattr(body, "close"):
            body.close()
    echo = json.loads(r.body)
    assert echo["body_len"] == size
    assert echo["body"].encode("latin-1") == pattern(size)


# ---- sync manual writes -----------------------------------------------------------------------


class ManualExchange:
    """A sync Http2ClientStream with manual_write=True, collecting its response."""

    def __init__(self, conn: Any, method: str, path: str, headers: Iterable[Tuple[str, str]] = (),
                 manual_write: bool = True) -> None:
        self.status: Optional[int] = None
        self.chunks: List[bytes] = []
        self.stream = conn.raw.request(make_request(method, path, headers), on_response=self._head,
                                       on_body=self._body, manual_write=manual_write)
        self.stream.activate()

    def _head(self, http_stream: Any, status_code: int, headers: Any, **_kw: Any) -> None:
        self.status = status_code

    def _body(self, http_stream: Any, chunk: bytes, **_kw: Any) -> None:
        self.chunks.append(bytes(chunk))

    async def write(self, data: Optional[bytes], end_stream: bool = False) -> None:
        stream = None if data is None else io.BytesIO(data)
        await asyncio.wait_for(asyncio.wrap_future(self.stream.write_data(stream, end_stream)), 10)

    async def done(self) -> int:
        return int(await asyncio.wait_for(asyncio.wrap_future(self.stream.completion_future), 10))


@pytest.mark.parametrize("end_with", ["last-piece", "empty-write"])
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_sync_manual_write(transport: str, end_with: str, make_h2_server: Any, ca: Any,
                                 loop_impl: str) -> None:
    """write_data() pieces (one larger than the server's windows), then END_STREAM; a write
    after END_STREAM fails with AWS_ERROR_HTTP_MANUAL_WRITE_HAS_COMPLETED."""
    server = new_server(make_h2_server, transport, initial_window_size=SMALL_WINDOW)
    pieces = [pattern(1000), pattern(100_000, 1000), pattern(5, 101_000)]
    async with opened("sync", server, ca, loop_impl) as conn:
        ex = ManualExchange(conn, "PUT", "/echo")
        for i, piece in enumerate(pieces):
            await ex.write(piece, end_stream=end_with == "last-piece" and i == len(pieces) - 1)
        if end_with == "empty-write":
            await ex.write(None, end_stream=True)
        late = ex.stream.write_data(io.BytesIO(b"late"), end_stream=True)
        with pytest.raises(AwsCrtError) as info:
            late.result(5)
        assert info.value.name == "AWS_ERROR_HTTP_MANUAL_WRITE_HAS_COMPLETED"
        assert await ex.done() == 200
    echo = json.loads(b"".join(ex.chunks))
    assert echo["body"].encode("latin-1") == pattern(101_005)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_sync_write_data_needs_manual_write(transport: str, make_h2_server: Any, ca: Any,
                                                  loop_impl: str) -> None:
    server = new_server(make_h2_server, transport)
    async with opened("sync", server, ca, loop_impl) as conn:
        ex = ManualExchange(conn, "GET", "/echo", manual_write=False)
        with pytest.raises(AwsCrtError) as info:
            ex.stream.write_data(io.BytesIO(b"x"))
        assert info.value.name == "AWS_ERROR_HTTP_MANUAL_WRITE_NOT_ENABLED"
        assert await ex.done() == 200


# ---- END_STREAM from the server -----------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_remote_end_stream_future_completes(transport: str, make_h2_server: Any, ca: Any,
                                                  loop_impl: str) -> None:
    server = new_server(make_h2_server, transport)
    async with opened("sync", server, ca, loop_impl) as conn:
        ex = ManualExchange(conn, "GET", "/echo", manual_write=False)
        assert await ex.done() == 200
        assert ex.stream.remote_end_stream_future.result(0) is None


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_remote_end_stream_before_our_body_ends(transport: str, make_h2_server: Any, ca: Any,
                                                      loop_impl: str) -> None:
    """The server answers 413 with END_STREAM (then RST_STREAM NO_ERROR) while our body is
    still open: remote_end_stream_future completes, the stream completes with 413, and later
    writes fail."""
    server = new_server(make_h2_server, transport)
    async with opened("sync", server, ca, loop_impl) as conn:
        ex = ManualExchange(conn, "PUT", "/upload", [("x-fault", "reject-upload-413")])
        first = ex.stream.write_data(io.BytesIO(b"first piece"))  # the server answers at the head
        await asyncio.wait_for(asyncio.wrap_future(ex.stream.remote_end_stream_future), 5)
        assert await ex.done() == 413
        assert b"".join(ex.chunks) == b"request body too large\n"
        with pytest.raises(AwsCrtError) as info:
            ex.stream.write_data(io.BytesIO(b"more")).result(5)
        assert info.value.name == "AWS_ERROR_HTTP_STREAM_HAS_COMPLETED"
        error = first.exception(5)  # sent before the answer, or refused after it
        assert error is None or getattr(error, "name", "") == "AWS_ERROR_HTTP_STREAM_HAS_COMPLETED"


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_early_answer_ends_aio_generator_upload(transport: str, make_h2_server: Any, ca: Any,
                                                      loop_impl: str) -> None:
    """aio: a body generator still waiting for its next piece when the server has answered
    (413, END_STREAM, RST_STREAM NO_ERROR) does not hold the stream open."""
    server = new_server(make_h2_server, transport)
    release = asyncio.Event()
    closed = []

    async def body() -> AsyncIterator[bytes]:
        try:
            yield b"first piece"
            await release.wait()
            yield b"never sent"
        finally:
            closed.append(True)

    try:
        async with opened("aio", server, ca, loop_impl) as conn:
            r = await conn.request("PUT", "/upload", [("x-fault", "reject-upload-413")],
                                   body_generator=body(), timeout=5)
            await asyncio.sleep(0)
    finally:
        release.set()
    assert r.status == 413 and r.body == b"request body too large\n"
    assert closed == [True]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_remote_end_stream_future_fails_on_reset(transport: str, make_h2_server: Any, ca: Any,
                                                       loop_impl: str) -> None:
    server = new_server(make_h2_server, transport)
    async with opened("sync", server, ca, loop_impl) as conn:
        ex = ManualExchange(conn, "GET", "/x", [("x-fault", "rst-stream"), ("x-fault-stage", "after-headers")],
                            manual_write=False)
        with pytest.raises(AwsCrtError) as info:
            await ex.done()
        assert info.value.name == "AWS_ERROR_HTTP_RST_STREAM_RECEIVED"
        error = ex.stream.remote_end_stream_future.exception(0)
        assert type(error) is RuntimeError
        assert "END_STREAM" in str(error)


# ---- trailers and interim heads ------------------------------------------------------------------


@pytest.mark.parametrize("trailers", [None, "checksum=abc123,x-count=3"])
@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("api", APIS)
async def test_response_trailers(api: str, transport: str, trailers: Optional[str], make_h2_server: Any,
                                 ca: Any, loop_impl: str) -> None:
    """aio: get_response_trailers(); sync: response_trailers; [] when there are none. Interim
    (1xx) heads before the final head are skipped."""
    server = new_server(make_h2_server, transport)
    headers = [("x-repeat-data", "70000"), ("x-interim", "2")]
    if trailers:
        headers.append(("x-trailers", trailers))
    async with opened(api, server, ca, loop_impl) as conn:
        r = await conn.request("GET", "/data", headers)
    assert r.status == 200 and r.body == pattern(70000)
    assert r.trailers == ([("checksum", "abc123"), ("x-count", "3")] if trailers else [])
    names = [k for k, _ in r.headers]
    assert "checksum" not in names and "link" not in names
