"""Transport: DNS, socket options, connect timeout, TLS + ALPN + SNI, proxies.

:func:`open_transport` returns a connected asyncio transport whose protocol is a
:class:`Handoff` that holds any bytes received before the protocol driver takes over
(:meth:`Handoff.hand_to`). Every failure is raised as the AwsCrtError of the error table.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import ssl
from typing import Any, List, Optional, Tuple

import h11

from crt_http import exceptions
from crt_http._models import HttpProxyAuthenticationType, HttpProxyConnectionType
from crt_http.aio._options import ConnectionOptions
from crt_http.io import ClientBootstrap, SocketDomain, TlsConnectionOptions

_FAMILIES = {SocketDomain.IPv4: socket.AF_INET, SocketDomain.IPv6: socket.AF_UNSPEC}
PROXY_HEAD_LIMIT = 64 * 1024


class Handoff(asyncio.Protocol):
    """Stands in for the driver until the connection is set up; buffers early bytes."""

    def __init__(self) -> None:
        self.transport: Optional[asyncio.Transport] = None
        self.buffer: List[bytes] = []
        self.eof = False
        self.lost: Optional[Tuple[Optional[Exception]]] = None
        self.waiter: Optional[asyncio.Future] = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer.append(data)
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return True

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self.lost = (exc,)
        self._wake()

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def wait_event(self) -> None:
        """Wait until more bytes, EOF or loss arrives."""
        self.waiter = asyncio.get_running_loop().create_future()
        await self.waiter
        self.waiter = None

    def hand_to(self, protocol: asyncio.BaseProtocol) -> None:
        """Make ``protocol`` the transport's protocol and replay what arrived meanwhile."""
        transport = self.transport
        assert transport is not None
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        for data in self.buffer:
            protocol.data_received(data)  # type: ignore[attr-defined]
        self.buffer.clear()
        if self.lost is not None:
            protocol.connection_lost(self.lost[0])
        elif self.eof and not protocol.eof_received():  # type: ignore[attr-defined]
            transport.close()


class Connected:
    """What :func:`open_transport` returns."""

    __slots__ = ("transport", "handoff", "alpn", "forward_proxy")

    def __init__(self, transport: asyncio.Transport, handoff: Handoff, alpn: Optional[str],
                 forward_proxy: bool) -> None:
        self.transport = transport
        self.handoff = handoff
        self.alpn = alpn
        # True when requests go to a forwarding proxy in absolute form.
        self.forward_proxy = forward_proxy


async def open_transport(opts: ConnectionOptions, default_alpn: Optional[List[str]]) -> Connected:
    """Connect to ``opts``' host (through its proxy, if any) and negotiate TLS.

    ``default_alpn`` is offered when the caller's TLS options carry no ALPN list.
    """
    proxy = opts.proxy_options
    tls = opts.tls_connection_options
    if proxy is None:
        transport, handoff = await _connect(opts, opts.host_name, opts.port, opts.where)
        return await _maybe_tls(opts, transport, handoff, tls, default_alpn, False)

    kind = proxy.connection_type
    if kind == HttpProxyConnectionType.Legacy:
        kind = HttpProxyConnectionType.Tunneling if tls else HttpProxyConnectionType.Forwarding
    if kind == HttpProxyConnectionType.Forwarding and tls is not None:
        raise ValueError("proxy_options: a forwarding proxy cannot carry TLS to the origin; "
                         "use HttpProxyConnectionType.Tunneling")
    proxy_where = f"proxy {proxy.host_name}:{proxy.port}"
    transport, handoff = await _connect(opts, proxy.host_name, proxy.port, proxy_where)
    try:
        if proxy.tls_connection_options is not None:
            transport = await _start_tls(opts, transport, handoff, proxy.tls_connection_options,
                                         None, proxy.host_name, proxy_where)
        if kind == HttpProxyConnectionType.Forwarding:
            return Connected(transport, handoff, None, True)
        await _tunnel(opts, transport, handoff, proxy_where)
        return await _maybe_tls(opts, transport, handoff, tls, default_alpn, False)
    except BaseException:
        transport.abort()
        raise


def proxy_authorization(opts: ConnectionOptions) -> Optional[Tuple[str, str]]:
    """The ``Proxy-Authorization`` header for Basic auth, if configured."""
    proxy = opts.proxy_options
    if proxy is None or proxy.auth_type != HttpProxyAuthenticationType.Basic:
        return None
    raw = f"{proxy.auth_username or ''}:{proxy.auth_password or ''}".encode()
    return ("Proxy-Authorization", "Basic " + base64.b64encode(raw).decode("ascii"))


async def _maybe_tls(opts: ConnectionOptions, transport: asyncio.Transport, handoff: Handoff,
                     tls: Optional[TlsConnectionOptions], default_alpn: Optional[List[str]],
                     forward: bool) -> Connected:
    if tls is None:
        return Connected(transport, handoff, None, forward)
    try:
        transport = await _start_tls(opts, transport, handoff, tls, default_alpn, opts.host_name,
                                     opts.where)
    except BaseException:
        transport.abort()
        raise
    ssl_object = transport.get_extra_info("ssl_object")
    alpn = ssl_object.selected_alpn_protocol() if ssl_object is not None else None
    return Connected(transport, handoff, alpn, forward)


async def _start_tls(opts: ConnectionOptions, transport: asyncio.Transport, handoff: Handoff,
                     tls: TlsConnectionOptions, default_alpn: Optional[List[str]],
                     host: str, where: str) -> asyncio.Transport:
    loop = asyncio.get_running_loop()
    context = tls._ssl_context(tuple(default_alpn) if default_alpn else None)
    server_name: Optional[str] = tls.server_name or host
    if context.check_hostname is False and context.verify_mode == ssl.CERT_NONE:
        server_name = tls.server_name or (None if _is_ip(host) else host)
    timeout = opts.tls_timeout
    try:
        async with asyncio.timeout(timeout):
            new_transport = await loop.start_tls(
                transport, handoff, context, server_hostname=server_name,
                ssl_handshake_timeout=timeout + 1.0)
    except TimeoutError:
        raise exceptions.error(
            "AWS_IO_TLS_NEGOTIATION_TIMEOUT",
            f"TLS handshake with {where} took longer than {timeout:g} s") from None
    except (ssl.SSLError, ssl.CertificateError) as exc:
        err = exceptions.error("AWS_IO_TLS_ERROR_NEGOTIATION_FAILURE",
                               f"{_tls_reason(exc)} (TLS handshake with {where})")
        raise err from exc
    except (OSError, EOFError) as exc:
        err = exceptions.error("AWS_IO_TLS_ERROR_NEGOTIATION_FAILURE",
                               f"connection closed during the TLS handshake with {where}: {exc!r}")
        raise err from exc
    if new_transport is None:
        raise exceptions.error("AWS_IO_TLS_ERROR_NEGOTIATION_FAILURE",
                               f"connection closed during the TLS handshake with {where}")
    new_transport.set_protocol(handoff)
    handoff.transport = new_transport
    return new_transport


def _tls_reason(exc: BaseException) -> str:
    verify = getattr(exc, "verify_message", None)
    if verify:
        return str(verify)
    reason = getattr(exc, "reason", None)
    return str(reason or exc)


def _is_ip(host: str) -> bool:
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
            return True
        except OSError:
            pass
    return False


async def _connect(opts: ConnectionOptions, host: str, port: int,
                   where: str) -> Tuple[asyncio.Transport, Handoff]:
    loop = asyncio.get_running_loop()
    sock_opts = opts.socket_options
    timeout = opts.connect_timeout
    try:
        async with asyncio.timeout(timeout):
            if sock_opts.domain == SocketDomain.Local:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    sock.setblocking(False)
                    await loop.sock_connect(sock, host)
                except BaseException:
                    sock.close()
                    raise
            else:
                sock = await _connect_tcp(loop, opts, host, port, where)
    except TimeoutError:
        raise exceptions.error(
            "AWS_IO_SOCKET_TIMEOUT",
            f"connecting to {where} took longer than {timeout:g} s "
            f"(SocketOptions.connect_timeout_ms)") from None
    except exceptions.AwsCrtError:
        raise
    except OSError as exc:
        raise exceptions.translate(exc, f"connecting to {where}") from exc
    try:
        transport, handoff = await loop.create_connection(Handoff, sock=sock)
    except OSError as exc:
        sock.close()
        raise exceptions.translate(exc, f"connecting to {where}") from exc
    return transport, handoff  # type: ignore[return-value]


async def _connect_tcp(loop: asyncio.AbstractEventLoop, opts: ConnectionOptions, host: str,
                       port: int, where: str) -> socket.socket:
    bootstrap = opts.bootstrap or ClientBootstrap.get_or_create_static_default()
    family = _FAMILIES.get(opts.socket_options.domain, socket.AF_UNSPEC)
    try:
        infos = await bootstrap.host_resolver.resolve(host, port, family)
    except socket.gaierror as exc:
        raise exceptions.translate(exc, f"resolving {host}") from exc
    if not infos:
        raise exceptions.error("AWS_IO_DNS_NO_ADDRESS_FOR_HOST", f"resolving {host}")
    last_error: Optional[BaseException] = None
    for info in infos:
        fam, _type, proto, _name, address = info
        sock = socket.socket(fam, socket.SOCK_STREAM, proto)
        try:
            sock.setblocking(False)
            _apply_socket_options(sock, opts)
            await loop.sock_connect(sock, address)
            return sock
        except OSError as exc:
            sock.close()
            last_error = exc
        except BaseException:
            sock.close()
            raise
    assert last_error is not None
    raise exceptions.translate(last_error, f"connecting to {where}") from last_error


def _apply_socket_options(sock: socket.socket, opts: ConnectionOptions) -> None:
    so = opts.socket_options
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if so.keep_alive:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for attr, value in (("TCP_KEEPIDLE", so.keep_alive_timeout_secs),
                            ("TCP_KEEPINTVL", so.keep_alive_interval_secs),
                            ("TCP_KEEPCNT", so.keep_alive_max_probes)):
            if value and hasattr(socket, attr):
                sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, attr), value)


async def _tunnel(opts: ConnectionOptions, transport: asyncio.Transport, handoff: Handoff,
                  proxy_where: str) -> None:
    """Send ``CONNECT host:port`` and wait for the proxy's 2xx (h11 parses the answer)."""
    target = f"{opts.host_name}:{opts.port}"
    headers = [("Host", target)]
    auth = proxy_authorization(opts)
    if auth is not None:
        headers.append(auth)
    conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=PROXY_HEAD_LIMIT)
    transport.write(conn.send(h11.Request(method="CONNECT", target=target, headers=headers)))
    try:
        async with asyncio.timeout(opts.connect_timeout):
            while True:
                event: Any = conn.next_event()
                if event is h11.NEED_DATA:
                    if handoff.buffer:
                        data = b"".join(handoff.buffer)
                        handoff.buffer.clear()
                        conn.receive_data(data)
                        continue
                    if handoff.lost is not None or handoff.eof:
                        conn.receive_data(b"")
                        continue
                    await handoff.wait_event()
                    continue
                if isinstance(event, h11.InformationalResponse):
                    continue
                if isinstance(event, h11.Response):
                    if 200 <= event.status_code < 300:
                        # Bytes past the proxy's head belong to the tunnel.
                        leftover, _closed = conn.trailing_data
                        if leftover:
                            handoff.buffer.insert(0, bytes(leftover))
                        return
                    raise exceptions.error(
                        "AWS_ERROR_HTTP_PROXY_CONNECT_FAILED",
                        f"{proxy_where} answered CONNECT {target} with {event.status_code} "
                        f"{event.reason.decode('latin-1')}")
                raise exceptions.error("AWS_ERROR_HTTP_PROXY_CONNECT_FAILED",
                                       f"{proxy_where} closed the connection during CONNECT {target}")
    except TimeoutError:
        raise exceptions.error("AWS_IO_SOCKET_TIMEOUT",
                               f"{proxy_where} did not answer CONNECT {target} in time") from None
    except h11.RemoteProtocolError as exc:
        raise exceptions.error("AWS_ERROR_HTTP_PROXY_CONNECT_FAILED",
                               f"{proxy_where} sent a malformed answer to CONNECT: {exc}") from exc
