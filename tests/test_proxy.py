"""Proxies through a real squid: forwarding, CONNECT tunnels (TLS to the origin inside),
basic auth, and the failures (wrong credentials, forwarding with TLS), on both APIs."""

from __future__ import annotations

import asyncio

import pytest

from crt_http.exceptions import AwsCrtError
from crt_http.http import HttpProxyAuthenticationType, HttpProxyConnectionType, HttpProxyOptions
from crt_http.io import ClientTlsContext, TlsContextOptions
from tests.clients import connect
from tests.servers.common import pattern

pytestmark = pytest.mark.interop


def tls_options(ca_file: str):
    opts = TlsContextOptions()
    opts.override_default_trust_store_from_path(ca_filepath=ca_file)
    conn_opts = ClientTlsContext(opts).new_connection_options()
    conn_opts.set_server_name("localhost")
    return conn_opts


async def squid_logged(squid, text: str) -> bool:
    """squid writes its access log line when the transaction ends: poll briefly for it."""
    for _ in range(50):
        if text in squid.access_log():
            return True
        await asyncio.sleep(0.05)
    return False


def proxy(squid, kind=HttpProxyConnectionType.Legacy, auth=False, password=None):
    if not auth:
        return HttpProxyOptions(squid.host, squid.port, connection_type=kind)
    return HttpProxyOptions(squid.host, squid.auth_port, connection_type=kind,
                            auth_type=HttpProxyAuthenticationType.Basic,
                            auth_username=squid.username, auth_password=password or squid.password)


@pytest.mark.parametrize("api", ["aio", "sync"])
@pytest.mark.parametrize("kind", [HttpProxyConnectionType.Legacy, HttpProxyConnectionType.Forwarding,
                                  HttpProxyConnectionType.Tunneling])
@pytest.mark.parametrize("auth", [False, True])
async def test_plain_http_through_proxy(api, kind, auth, squid, h1_server):
    conn = await connect(api, "h1", "127.0.0.1", h1_server.port, proxy_options=proxy(squid, kind, auth))
    try:
        for _ in range(3):  # the proxied connection is kept alive
            response = await conn.request("GET", "/echo", [("x-repeat-data", "70000")])
            assert response.status == 200 and response.body == pattern(70000)
    finally:
        await conn.close()
    assert h1_server.requests, "the origin saw no request"
    if kind == HttpProxyConnectionType.Tunneling:
        expected = f"CONNECT 127.0.0.1:{h1_server.port}"
    else:  # forwarding: absolute-form requests
        expected = f"GET http://127.0.0.1:{h1_server.port}/echo"
    assert await squid_logged(squid, expected)


@pytest.mark.parametrize("api", ["aio", "sync"])
@pytest.mark.parametrize("proto", ["h1", "h2"])
@pytest.mark.parametrize("auth", [False, True])
async def test_tls_through_connect_tunnel(api, proto, auth, squid, h1_tls_server, h2_tls_server, client_ca_file):
    server = h1_tls_server if proto == "h1" else h2_tls_server
    conn = await connect(api, proto, "localhost", server.port, tls_connection_options=tls_options(client_ca_file),
                         proxy_options=proxy(squid, HttpProxyConnectionType.Legacy, auth))
    try:
        response = await conn.request("GET", "/echo", [("x-repeat-data", "100000")])
        assert response.status == 200 and response.body == pattern(100000)
    finally:
        await conn.close()
    assert await squid_logged(squid, f"CONNECT localhost:{server.port}")


@pytest.mark.parametrize("api", ["aio", "sync"])
async def test_wrong_proxy_password_fails_tunnel(api, squid, h1_tls_server, client_ca_file):
    with pytest.raises(AwsCrtError) as info:
        await connect(api, "h1", "localhost", h1_tls_server.port,
                      tls_connection_options=tls_options(client_ca_file),
                      proxy_options=proxy(squid, HttpProxyConnectionType.Tunneling, True, password="nope"))
    assert info.value.name == "AWS_ERROR_HTTP_PROXY_CONNECT_FAILED"
    assert "407" in info.value.message


@pytest.mark.parametrize("api", ["aio", "sync"])
async def test_forwarding_with_tls_is_a_bad_argument(api, squid, h1_tls_server, client_ca_file):
    with pytest.raises(ValueError, match="forwarding proxy"):
        await connect(api, "h1", "localhost", h1_tls_server.port,
                      tls_connection_options=tls_options(client_ca_file),
                      proxy_options=proxy(squid, HttpProxyConnectionType.Forwarding))


@pytest.mark.parametrize("api", ["aio", "sync"])
async def test_proxy_refused(api, h1_server):
    with pytest.raises(AwsCrtError) as info:
        await connect(api, "h1", "127.0.0.1", h1_server.port,
                      proxy_options=HttpProxyOptions("127.0.0.1", 1))
    assert info.value.name == "AWS_IO_SOCKET_CONNECTION_REFUSED"
    assert "proxy 127.0.0.1:1" in info.value.message
