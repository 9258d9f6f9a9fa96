"""HTTP/1.1 over TLS: verification on by default, CA override, ``verify_peer=False``, SNI, and
the handshake failures (unknown root, host name mismatch, expired) named with their reason.

Issue 2 items 3 and 7; API.md: a failed handshake is 1029 with the reason in the message,
within a second. The test server does not record the SNI it received, so SNI is shown by a
server whose certificate is only valid for ``wrong.example``: the connection succeeds only
if ``set_server_name("wrong.example")`` is what the client sends and checks.
"""

from __future__ import annotations

import time
from typing import Callable

import pytest

from crt_http.exceptions import AwsCrtError
from crt_http.http import HttpVersion
from tests.clients import connect
from tests.h1_support import API, tls_options
from tests.servers.h1 import H1Server

pytestmark = pytest.mark.both_loops


@API
async def test_tls_with_ca_override(api: str, loop_impl: str, h1_tls_server: H1Server,
                                    client_ca_file: str) -> None:
    conn = await connect(api, "h1", "localhost", h1_tls_server.port, loop_impl=loop_impl,
                         tls_connection_options=tls_options(client_ca_file))
    try:
        assert conn.version is HttpVersion.Http1_1
        r = await conn.request("GET", "/", [("x-repeat-data", "1000")])
        assert (r.status, len(r.body)) == (200, 1000)
    finally:
        await conn.close()


@API
async def test_tls_verifies_by_default(api: str, loop_impl: str, h1_tls_server: H1Server) -> None:
    """Without the test CA in the trust store, the default options reject the server."""
    with pytest.raises(AwsCrtError) as info:
        await connect(api, "h1", "localhost", h1_tls_server.port, loop_impl=loop_impl,
                      tls_connection_options=tls_options(None))
    assert info.value.name == "AWS_IO_TLS_ERROR_NEGOTIATION_FAILURE"
    assert "unable to get local issuer certificate" in info.value.message


@API
async def test_verify_peer_false_accepts_untrusted(api: str, loop_impl: str,
                                                   make_h1_server: Callable[..., H1Server]) -> None:
    server = make_h1_server(tls=True, cert_kind="untrusted")
    conn = await connect(api, "h1", "localhost", server.port, loop_impl=loop_impl,
                         tls_connection_options=tls_options(None, verify_peer=False))
    try:
        assert (await conn.request("GET", "/echo")).status == 200
    finally:
        await conn.close()


@API
async def test_sni_from_set_server_name(api: str, loop_impl: str, client_ca_file: str,
                                        make_h1_server: Callable[..., H1Server]) -> None:
    """Connect to 127.0.0.1, name ``wrong.example``: the only name the certificate holds."""
    server = make_h1_server(tls=True, cert_kind="wrong-host")
    conn = await connect(api, "h1", "127.0.0.1", server.port, loop_impl=loop_impl,
                         tls_connection_options=tls_options(client_ca_file, "wrong.example"))
    try:
        assert (await conn.request("GET", "/")).status == 200
    finally:
        await conn.close()


@API
@pytest.mark.parametrize(("cert_kind", "reason"), [
    ("untrusted", "unable to get local issuer certificate"),
    ("wrong-host", "Hostname mismatch"),
    ("expired", "certificate has expired"),
])
async def test_tls_handshake_failure_named_with_reason(
        api: str, loop_impl: str, client_ca_file: str, cert_kind: str,
        reason: str, make_h1_server: Callable[..., H1Server]) -> None:
    server = make_h1_server(tls=True, cert_kind=cert_kind)
    start = time.monotonic()
    with pytest.raises(AwsCrtError) as info:
        await connect(api, "h1", "localhost", server.port, loop_impl=loop_impl,
                      tls_connection_options=tls_options(client_ca_file))
    elapsed = time.monotonic() - start
    assert info.value.name == "AWS_IO_TLS_ERROR_NEGOTIATION_FAILURE"
    assert info.value.code == 1029
    assert reason in info.value.message
    assert f"localhost:{server.port}" in info.value.message
    assert elapsed < 1.0, f"the handshake failure took {elapsed:.2f} s"
    server.tls_errors.clear()
