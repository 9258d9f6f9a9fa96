"""HTTP/1.1 bodies, byte for byte: response bodies framed by Content-Length, chunked encoding
and read-until-close at sizes around the 64 KiB slice boundary and a 5 MiB one (fast path
on and off); request bodies from ``body_stream`` (BytesIO, a real file, an object with only
``read()``) and from ``request_body_generator`` (aio), chunked unless Content-Length is set.

Issue 2 item 4. Every test runs on both APIs (the generator ones on aio only) and both loops.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any, AsyncIterator, Dict, List, Optional

import pytest

from tests.clients import Conn, connect
from tests.h1_support import API, FAST_AND_SLOW, assert_pattern, fast_path  # noqa: F401  (fixture)
from tests.servers.common import pattern
from tests.servers.h1 import H1Server

pytestmark = pytest.mark.both_loops

SIZES = [0, 1, 64 * 1024 - 1, 64 * 1024 + 1, 5 * 1024 * 1024]
BINARY = bytes(range(256)) * 300 + b"\r\n0\r\n\r\n"  # every byte value, and chunk-like bytes


async def _open(api: str, loop_impl: str, server: H1Server) -> Conn:
    return await connect(api, "h1", "127.0.0.1", server.port, loop_impl=loop_impl)


@FAST_AND_SLOW
@API
@pytest.mark.parametrize("framing", ["content-length", "chunked", "close"])
async def test_response_body_framings(api: str, loop_impl: str, h1_server: H1Server,
                                      framing: str) -> None:
    """Each size on a keep-alive connection (read-until-close: a connection per size)."""
    conn: Optional[Conn] = None
    try:
        for size in SIZES:
            if conn is None:
                conn = await _open(api, loop_impl, h1_server)
            r = await conn.request("GET", "/", [("x-repeat-data", str(size)), ("x-framing", framing)])
            assert r.status == 200
            assert_pattern(r.body, size)
            expected_header = {"content-length": ("content-length", str(size)),
                               "chunked": ("transfer-encoding", "chunked"),
                               "close": ("connection", "close")}[framing]
            assert r.header(expected_header[0]) == expected_header[1]
            if framing == "close":
                assert await conn.shutdown() is None
                conn = None
        expected_connections = len(SIZES) if framing == "close" else 1
        assert h1_server.connections_accepted == expected_connections
    finally:
        if conn is not None:
            await conn.close()


class ReadOnly:
    """An object with nothing but ``read()``."""

    def __init__(self, data: bytes) -> None:
        self._io = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self._io.read(size)


def _body_source(kind: str, data: bytes, tmp_path: Path) -> Any:
    if kind == "bytesio":
        return io.BytesIO(data)
    if kind == "file":
        path = tmp_path / "body.bin"
        path.write_bytes(data)
        return open(path, "rb")
    return ReadOnly(data)


def _header_values(echo: Dict[str, Any], name: str) -> List[str]:
    return [v for k, v in echo["headers"] if k.lower() == name]


@API
@pytest.mark.parametrize("with_length", [True, False], ids=["content-length", "no-length"])
async def test_request_body_stream(api: str, loop_impl: str, h1_server: H1Server, tmp_path: Path,
                                   with_length: bool) -> None:
    """BytesIO, a real file and a read()-only object, one after another on one connection.
    With Content-Length the body goes as is; without, it is sent chunked (not dropped)."""
    headers = [("Content-Length", str(len(BINARY)))] if with_length else []
    conn = await _open(api, loop_impl, h1_server)
    try:
        for kind in ("bytesio", "file", "read-only"):
            source = _body_source(kind, BINARY, tmp_path)
            try:
                r = await conn.request("PUT", "/echo", headers, body=source)
            finally:
                if kind == "file":
                    source.close()
            echo = json.loads(r.body)
            assert echo["body"].encode("latin-1") == BINARY, kind
            if with_length:
                assert _header_values(echo, "content-length") == [str(len(BINARY))]
                assert _header_values(echo, "transfer-encoding") == []
            else:
                assert _header_values(echo, "transfer-encoding") == ["chunked"]
                assert _header_values(echo, "content-length") == []
        assert_pattern((await conn.request("GET", "/", [("x-repeat-data", "10")])).body, 10)
    finally:
        await conn.close()
    assert h1_server.connections_accepted == 1


async def _generate(data: bytes, piece: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), piece):
        yield data[i:i + piece]


@pytest.mark.parametrize("with_length", [True, False], ids=["content-length", "no-length"])
async def test_request_body_generator(loop_impl: str, h1_server: H1Server, with_length: bool) -> None:
    headers = [("Content-Length", str(len(BINARY)))] if with_length else []
    conn = await _open("aio", loop_impl, h1_server)
    try:
        r = await conn.request("POST", "/echo", headers, body_generator=_generate(BINARY, 1000))
        assert (await conn.request("GET", "/")).status == 200
    finally:
        await conn.close()
    echo = json.loads(r.body)
    assert echo["body"].encode("latin-1") == BINARY
    if with_length:
        assert _header_values(echo, "content-length") == [str(len(BINARY))]
        assert _header_values(echo, "transfer-encoding") == []
    else:
        assert _header_values(echo, "transfer-encoding") == ["chunked"]


UPLOAD = 20 * 1024 * 1024


@API
async def test_upload_20_mib(api: str, loop_impl: str, h1_server: H1Server) -> None:
    conn = await _open(api, loop_impl, h1_server)
    try:
        r = await conn.request("PUT", "/upload", [("x-upload-test", "true"),
                                                  ("Content-Length", str(UPLOAD))],
                               body=io.BytesIO(pattern(UPLOAD)))
    finally:
        await conn.close()
    assert (r.status, r.body) == (200, str(UPLOAD).encode())


async def test_upload_20_mib_chunked_from_generator(loop_impl: str, h1_server: H1Server) -> None:
    conn = await _open("aio", loop_impl, h1_server)
    try:
        r = await conn.request("PUT", "/upload", [("x-upload-test", "true")],
                               body_generator=_generate(pattern(UPLOAD), 256 * 1024))
    finally:
        await conn.close()
    assert (r.status, r.body) == (200, str(UPLOAD).encode())
    assert h1_server.requests[0].header("transfer-encoding") == "chunked"
