"""Throughput monitoring and the TLS negotiation bound, on both APIs and both protocols."""

from __future__ import annotations

import asyncio
import time

import pytest

from crt_http.exceptions import AwsCrtError
from crt_http.io import ClientTlsContext, TlsContextOptions
from tests.clients import connect
from tests.servers.common import pattern

# Timer behaviour, not loop behaviour: asyncio only, to keep the suite fast.

SLOW = [("x-repeat-data", "200000"), ("x-slow-response", "true"), ("x-throughput-bps", "4000")]


@pytest.mark.parametrize("api", ["aio", "sync"])
@pytest.mark.parametrize("proto", ["h1", "h2"])
async def test_throughput_below_minimum_fails_connection(api, proto, h1_server, h2c_server, loop_impl):
    server = h1_server if proto == "h1" else h2c_server
    conn = await connect(api, proto, "127.0.0.1", server.port, loop_impl=loop_impl,
                         minimum_throughput_bytes_per_second=100_000,
                         allowable_throughput_failure_interval_seconds=1)
    try:
        started = time.monotonic()
        with pytest.raises(AwsCrtError) as info:
            await conn.request("GET", "/echo", SLOW, timeout=10)
        assert info.value.name == "AWS_ERROR_HTTP_CHANNEL_THROUGHPUT_FAILURE"
        assert "under the minimum of 100000 B/s" in info.value.message
        # More than the allowed 1 s below the minimum, checked once a second.
        assert 1.5 < time.monotonic() - started < 6
        shutdown = await conn.shutdown()
        assert isinstance(shutdown, AwsCrtError)
        assert shutdown.name == "AWS_ERROR_HTTP_CHANNEL_THROUGHPUT_FAILURE"
    finally:
        await conn.close()


@pytest.mark.parametrize("api", ["aio", "sync"])
@pytest.mark.parametrize("proto", ["h1", "h2"])
async def test_throughput_monitor_leaves_fast_and_idle_connections_alone(api, proto, h1_server, h2c_server,
                                                                         loop_impl):
    server = h1_server if proto == "h1" else h2c_server
    conn = await connect(api, proto, "127.0.0.1", server.port, loop_impl=loop_impl,
                         minimum_throughput_bytes_per_second=1000,
                         allowable_throughput_failure_interval_seconds=1)
    try:
        await asyncio.sleep(2.2)  # idle: no stream in flight, so no failure
        response = await conn.request("GET", "/echo", [("x-repeat-data", "300000")])
        assert response.status == 200 and response.body == pattern(300000)
        assert conn.is_open()
    finally:
        await conn.close()


@pytest.mark.parametrize("api", ["aio", "sync"])
async def test_tls_negotiation_timeout(api, raw_server, client_ca_file, loop_impl):
    async def never_handshake(reader, writer):
        await reader.read(1 << 16)  # swallow the ClientHello, answer nothing
        await asyncio.sleep(5)

    server = raw_server(never_handshake)
    opts = TlsContextOptions()
    opts.override_default_trust_store_from_path(ca_filepath=client_ca_file)
    tls = ClientTlsContext(opts).new_connection_options()
    started = time.monotonic()
    with pytest.raises(AwsCrtError) as info:
        await connect(api, "h1", "127.0.0.1", server.port, loop_impl=loop_impl,
                      tls_connection_options=tls, tls_negotiation_timeout_ms=300)
    assert info.value.name == "AWS_IO_TLS_NEGOTIATION_TIMEOUT"
    assert time.monotonic() - started < 3
