"""Connection set-up shared by both APIs: transport, ALPN decision, driver hand-off."""

from __future__ import annotations

import asyncio
from typing import List, Literal, Optional

from crt_http import exceptions
from crt_http.aio._driver import ConnectionDriver
from crt_http.aio._options import ConnectionOptions
from crt_http.aio._transport import open_transport

# What a connection class accepts: HTTP/1.x only, HTTP/2 only, whatever ALPN picks offering
# both ("any"), or whatever ALPN picks offering only http/1.1 unless the caller's list says
# otherwise ("alpn", the sync HttpClientConnection as awscrt has it).
Mode = Literal["h1", "h2", "any", "alpn"]

_DEFAULT_ALPN = {"h1": ["http/1.1"], "h2": ["h2"], "any": ["h2", "http/1.1"], "alpn": ["http/1.1"]}


async def establish(opts: ConnectionOptions, mode: Mode) -> ConnectionDriver:
    """Connect, negotiate, and return the running driver for the protocol picked."""
    loop = asyncio.get_running_loop()
    tls = opts.tls_connection_options
    default_alpn: Optional[List[str]] = _DEFAULT_ALPN[mode] if tls is not None else None
    connected = await open_transport(opts, default_alpn)
    if tls is None:
        use_h2 = mode == "h2"  # plain text: h2c with prior knowledge
    else:
        use_h2 = connected.alpn == "h2"
        wanted = {"h1": False, "h2": True}.get(mode)
        if wanted is not None and wanted != use_h2:
            connected.transport.abort()
            picked = connected.alpn or "no ALPN protocol"
            raise exceptions.error(
                "AWS_ERROR_HTTP_UNSUPPORTED_PROTOCOL",
                f"{opts.where} negotiated {picked}, but this connection class needs "
                f"{'HTTP/2' if wanted else 'HTTP/1.1'}")
    driver: ConnectionDriver
    try:
        if use_h2:
            from crt_http.aio._h2 import H2Driver
            driver = H2Driver(opts, loop, tls=tls is not None)
        else:
            from crt_http.aio._h1 import H1Driver
            driver = H1Driver(opts, loop, forward_proxy=connected.forward_proxy, tls=tls is not None)
        connected.handoff.hand_to(driver)  # type: ignore[arg-type]
        await driver.ready()
    except BaseException:  # a failed or cancelled set-up leaves no connection open
        connected.transport.abort()
        raise
    return driver
