"""HTTP/1.1 connection set-up over plain TCP, and each way it fails: refused, timeout, DNS.

Issue 2 item 3 (plain TCP, ``SocketOptions.connect_timeout_ms``) and item 7 (1047, 1048).
Every test runs on both APIs and both event loops.
"""

from __future__ import annotations

import socket
import time
from typing import Any, Iterator, List, Tuple

import pytest

from crt_http.exceptions import AwsCrtError
from crt_http.http import HttpVersion
from crt_http.io import ClientBootstrap, DefaultHostResolver, SocketOptions
from tests.clients import bootstrap_for, connect
from tests.h1_support import API
from tests.servers.h1 import H1Server

pytestmark = pytest.mark.both_loops


@API
async def test_plain_tcp_connect_and_get(api: str, loop_impl: str, h1_server: H1Server) -> None:
    conn = await connect(api, "h1", "127.0.0.1", h1_server.port, loop_impl=loop_impl)
    try:
        assert conn.version is HttpVersion.Http1_1
        assert conn.is_open()
        assert (conn.raw.host_name, conn.raw.port) == ("127.0.0.1", h1_server.port)
        r = await conn.request("GET", "/echo")
        assert r.status == 200
        assert r.version is HttpVersion.Http1_1
        assert r.header("server") == "crt-http-test-h1"
    finally:
        await conn.close()
    assert h1_server.connections_accepted == 1


@API
async def test_localhost_name_resolves_and_connects(api: str, loop_impl: str, h1_server: H1Server) -> None:
    """``localhost`` resolves to ::1 first; the server binds 127.0.0.1 only, so the
    connection must fall back to the next address."""
    conn = await connect(api, "h1", "localhost", h1_server.port, loop_impl=loop_impl)
    try:
        assert (await conn.request("GET", "/")).status == 200
    finally:
        await conn.close()


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (bound once, then released)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@API
async def test_connection_refused(api: str, loop_impl: str, closed_port: int) -> None:
    with pytest.raises(AwsCrtError) as info:
        await connect(api, "h1", "127.0.0.1", closed_port, loop_impl=loop_impl)
    assert info.value.name == "AWS_IO_SOCKET_CONNECTION_REFUSED"
    assert info.value.code == 1047
    assert f"127.0.0.1:{closed_port}" in info.value.message


@pytest.fixture
def syn_dropping_port() -> Iterator[int]:
    """A listener with backlog 0 whose accept queue is full: the kernel drops further SYNs,
    so a connect attempt hangs until the client's own timeout."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    address = listener.getsockname()
    fillers: List[socket.socket] = []
    try:
        for _ in range(16):
            s = socket.socket()
            s.settimeout(0.2)
            try:
                s.connect(address)
            except (socket.timeout, OSError):
                s.close()
                break
            fillers.append(s)
        else:
            pytest.fail("could not fill the accept queue of a backlog-0 listener")
        yield address[1]
    finally:
        for s in fillers:
            s.close()
        listener.close()


@API
async def test_connect_timeout_honoured(api: str, loop_impl: str, syn_dropping_port: int) -> None:
    options = SocketOptions()
    options.connect_timeout_ms = 300
    start = time.monotonic()
    with pytest.raises(AwsCrtError) as info:
        await connect(api, "h1", "127.0.0.1", syn_dropping_port, loop_impl=loop_impl,
                      socket_options=options)
    elapsed = time.monotonic() - start
    assert info.value.name == "AWS_IO_SOCKET_TIMEOUT"
    assert info.value.code == 1048
    assert 0.25 <= elapsed < 2.0, f"connect gave up after {elapsed:.2f} s, want ~0.3 s"


class FailingResolver(DefaultHostResolver):
    """A resolver whose lookups fail as getaddrinfo does for an unknown name."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.asked: List[Tuple[str, int]] = []

    async def resolve(self, host: str, port: int, family: int) -> list:
        self.asked.append((host, port))
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


@API
async def test_dns_failure_named(api: str, loop_impl: str) -> None:
    group = bootstrap_for(loop_impl).event_loop_group
    resolver = FailingResolver(group)
    bootstrap = ClientBootstrap(group, resolver)
    with pytest.raises(AwsCrtError) as info:
        await connect(api, "h1", "no-such-host.invalid", 80, loop_impl=loop_impl,
                      bootstrap=bootstrap)
    assert info.value.name == "AWS_IO_DNS_INVALID_NAME"
    assert "no-such-host.invalid" in info.value.message
    assert resolver.asked == [("no-such-host.invalid", 80)]
