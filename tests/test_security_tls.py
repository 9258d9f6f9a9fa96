"""Security defaults of TLS on every protocol: certificate verification and host-name
checking are on without any option set, on HTTP/1.1, HTTP/2 and the ALPN-picked
connection, on both APIs; each failure is AWS_IO_TLS_ERROR_NEGOTIATION_FAILURE with the
reason in the message, within a second.
"""

from __future__ import annotations

import time
from typing import Any, Optional

import pytest

from crt_http.exceptions import AwsCrtError
from crt_http.io import ClientTlsContext, TlsContextOptions
from tests.clients import connect

API = pytest.mark.parametrize("api", ["aio", "sync"])
PROTO = pytest.mark.parametrize("proto", ["h1", "h2", "unified"])


def tls(ca_file: Optional[str]) -> Any:
    """Options as a user writes them: nothing set but (maybe) the CA to trust. No SNI call."""
    opts = TlsContextOptions()
    if ca_file is not None:
        opts.override_default_trust_store_from_path(ca_filepath=ca_file)
    return ClientTlsContext(opts).new_connection_options()


def server_for(proto: str, kind: str, make_h1_server: Any, make_h2_server: Any) -> Any:
    if proto == "h1":
        return make_h1_server(tls=True, cert_kind=kind)
    return make_h2_server(tls=True, cert_kind=kind, alpn=("h2", "http/1.1"))


def test_verify_peer_is_the_default():
    assert TlsContextOptions().verify_peer is True


# cert kind, trust the test CA?, reason expected in the message
REFUSED = [
    ("untrusted", False, "unable to get local issuer certificate"),  # system store
    ("untrusted", True, "unable to get local issuer certificate"),  # unknown root
    ("wrong-host", True, "Hostname mismatch"),
    ("expired", True, "expired"),
]


@API
@PROTO
@pytest.mark.parametrize("kind,trust_ca,reason", REFUSED,
                         ids=["unknown-root-default-store", "unknown-root", "wrong-host", "expired"])
async def test_bad_certificate_refused_by_default(api, proto, kind, trust_ca, reason, make_h1_server,
                                                  make_h2_server, client_ca_file, loop_impl):
    server = server_for(proto, kind, make_h1_server, make_h2_server)
    started = time.monotonic()
    with pytest.raises(AwsCrtError) as info:
        await connect(api, proto, "localhost", server.port, loop_impl=loop_impl,
                      tls_connection_options=tls(client_ca_file if trust_ca else None))
    assert info.value.name == "AWS_IO_TLS_ERROR_NEGOTIATION_FAILURE"
    assert reason in info.value.message
    assert time.monotonic() - started < 1.5


@API
@PROTO
async def test_good_certificate_accepted_with_defaults(api, proto, make_h1_server, make_h2_server,
                                                       client_ca_file, loop_impl):
    server = server_for(proto, "server", make_h1_server, make_h2_server)
    conn = await connect(api, proto, "localhost", server.port, loop_impl=loop_impl,
                         tls_connection_options=tls(client_ca_file))
    try:
        assert (await conn.request("GET", "/echo", [("x-repeat-data", "10")])).status == 200
    finally:
        await conn.close()
