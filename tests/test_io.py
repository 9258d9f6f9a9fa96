"""crt_http.io: TLS contexts, sockets options, resolver, event-loop threads, logging."""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
import ssl
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from crt_http import AwsCrtError, exceptions
from crt_http import io as cio
from crt_http._loop_thread import LoopThread, loop_factory
from crt_http.io import (
    ClientBootstrap,
    ClientTlsContext,
    DefaultHostResolver,
    EventLoopGroup,
    HostResolverBase,
    LogLevel,
    SocketDomain,
    SocketOptions,
    SocketType,
    TlsCipherPref,
    TlsConnectionOptions,
    TlsContextOptions,
    TlsVersion,
)

try:
    import uvloop
except ImportError:
    uvloop = None

needs_uvloop = pytest.mark.skipif(uvloop is None, reason="uvloop is not installed")

# --- TLS helpers -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def server_cert(tls_ca: trustme.CA) -> trustme.LeafCert:
    return tls_ca.issue_cert("localhost", "127.0.0.1")


def _server_context(cert: trustme.LeafCert, alpn: list[str] | None = None,
                    client_ca: trustme.CA | None = None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(ctx)
    if alpn:
        ctx.set_alpn_protocols(alpn)
    if client_ca is not None:
        client_ca.configure_trust(ctx)
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def _handshake(client_ctx: ssl.SSLContext, server_ctx: ssl.SSLContext,
               server_hostname: str = "localhost") -> ssl.SSLObject:
    """A TLS handshake through memory BIOs; returns the client's SSLObject or raises."""
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname=server_hostname)
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    for _ in range(10):
        done = True
        for obj, out, peer_in in ((client, c_out, s_in), (server, s_out, c_in)):
            try:
                obj.do_handshake()
            except ssl.SSLWantReadError:
                done = False
            peer_in.write(out.read())
        if done:
            # TLS 1.3: the server checks a client certificate after the client is done.
            client.write(b"ping")
            s_in.write(c_out.read())
            assert server.read(4) == b"ping"
            return client
    raise AssertionError("handshake did not finish")


def _trusting(tls_ca: trustme.CA, **attrs: Any) -> TlsContextOptions:
    opts = TlsContextOptions()
    opts.override_default_trust_store(tls_ca.cert_pem.bytes())
    for name, value in attrs.items():
        setattr(opts, name, value)
    return opts


# --- enums and plain options -----------------------------------------------------------------


def test_enum_values() -> None:
    assert [(v.name, int(v)) for v in TlsVersion] == [
        ("SSLv3", 0), ("TLSv1", 1), ("TLSv1_1", 2), ("TLSv1_2", 3), ("TLSv1_3", 4),
        ("DEFAULT", 128)]
    assert [(p.name, int(p)) for p in TlsCipherPref] == [
        ("DEFAULT", 0), ("PQ_TLSv1_0_2021_05", 6), ("PQ_DEFAULT", 8), ("TLSv1_2_2025_07", 9)]
    assert [(d.name, int(d)) for d in SocketDomain] == [("IPv4", 0), ("IPv6", 1), ("Local", 2)]
    assert [(t.name, int(t)) for t in SocketType] == [("Stream", 0), ("DGram", 1)]
    assert [(lv.name, int(lv)) for lv in LogLevel] == [
        ("NoLogs", 0), ("Fatal", 1), ("Error", 2), ("Warn", 3), ("Info", 4), ("Debug", 5),
        ("Trace", 6)]


def test_socket_options_defaults() -> None:
    s = SocketOptions()
    assert (s.domain, s.type, s.connect_timeout_ms, s.keep_alive, s.keep_alive_timeout_secs,
            s.keep_alive_interval_secs, s.keep_alive_max_probes) == (
        SocketDomain.IPv6, SocketType.Stream, 5000, False, 0, 0, 0)
    with pytest.raises(AttributeError):
        s.typo = 1  # type: ignore[attr-defined]


def test_socket_options_match_awscrt() -> None:
    awscrt_io = pytest.importorskip("awscrt.io")
    theirs, ours = awscrt_io.SocketOptions(), SocketOptions()
    assert {k: getattr(theirs, k) for k in theirs.__slots__} == {
        k: getattr(ours, k) for k in ours.__slots__}


def test_cipher_pref_support_is_honest() -> None:
    assert TlsCipherPref.DEFAULT.is_supported()
    assert TlsCipherPref.TLSv1_2_2025_07.is_supported() == ssl.HAS_TLSv1_2
    assert not TlsCipherPref.PQ_TLSv1_0_2021_05.is_supported()
    assert TlsCipherPref.PQ_DEFAULT.is_supported() == (ssl.OPENSSL_VERSION_INFO >= (3, 5))
    assert cio.is_alpn_available() is ssl.HAS_ALPN


def test_tls_context_options_defaults() -> None:
    o = TlsContextOptions()
    assert (o.min_tls_ver, o.cipher_pref, o.verify_peer, o.no_certificate_revocation) == (
        TlsVersion.DEFAULT, TlsCipherPref.DEFAULT, True, False)
    assert (o.alpn_list, o.ca_dirpath, o.ca_buffer, o.certificate_buffer, o.private_key_buffer,
            o.pkcs12_filepath, o.pkcs12_password) == (None,) * 7


def test_mtls_constructors_store_buffers(tmp_path: Path) -> None:
    o = TlsContextOptions.create_client_with_mtls(b"CERT", bytearray(b"KEY"))
    assert (o.certificate_buffer, o.private_key_buffer) == (b"CERT", b"KEY")
    (tmp_path / "c.pem").write_bytes(b"C")
    (tmp_path / "k.pem").write_bytes(b"K")
    p = TlsContextOptions.create_client_with_mtls_from_path(str(tmp_path / "c.pem"),
                                                            str(tmp_path / "k.pem"))
    assert (p.certificate_buffer, p.private_key_buffer) == (b"C", b"K")
    with pytest.raises(FileNotFoundError):
        TlsContextOptions.create_client_with_mtls_from_path(str(tmp_path / "nope"), "x")
    with pytest.raises(TypeError, match="cert_buffer"):
        TlsContextOptions.create_client_with_mtls("CERT", b"KEY")  # type: ignore[arg-type]
    q = TlsContextOptions.create_client_with_mtls_pkcs12("/x.p12", "pw")
    assert (q.pkcs12_filepath, q.pkcs12_password) == ("/x.p12", "pw")


@pytest.mark.parametrize("call", [
    lambda: TlsContextOptions.create_client_with_mtls_pkcs11(pkcs11_lib=None, user_pin=None),
    lambda: cio.Pkcs11Lib(file="/usr/lib/softhsm/libsofthsm2.so"),
    lambda: TlsContextOptions.create_client_with_mtls_windows_cert_store_path("CurrentUser\\MY"),
    lambda: TlsContextOptions.create_server(b"c", b"k"),
    lambda: TlsContextOptions.create_server_from_path("c", "k"),
    lambda: TlsContextOptions.create_server_pkcs12("p", "pw"),
], ids=["pkcs11", "pkcs11lib", "windows", "server", "server_path", "server_pkcs12"])
def test_unsupported_constructors_say_why(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NotImplementedError, match="crt_http") as info:
        call()
    assert "Python's ssl module" in str(info.value) or "HTTP client" in str(info.value)


# --- ClientTlsContext ------------------------------------------------------------------------


def test_context_is_cached_per_alpn(tls_ca: trustme.CA, server_cert: trustme.LeafCert) -> None:
    ctx = ClientTlsContext(_trusting(tls_ca))
    plain = ctx._ssl_context(None)
    assert ctx._ssl_context(None) is plain
    h2 = ctx._ssl_context(("h2", "http/1.1"))
    assert h2 is not plain
    assert ctx._ssl_context(("h2", "http/1.1")) is h2
    server = _server_context(server_cert, alpn=["h2", "http/1.1"])
    assert _handshake(h2, server).selected_alpn_protocol() == "h2"
    assert _handshake(plain, server).selected_alpn_protocol() is None


def test_context_cache_is_thread_safe(tls_ca: trustme.CA) -> None:
    ctx = ClientTlsContext(_trusting(tls_ca))
    results: list[ssl.SSLContext] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        results.append(ctx._ssl_context(("h2",)))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8 and len({id(r) for r in results}) == 1


def test_default_trust_store_rejects_private_ca(server_cert: trustme.LeafCert) -> None:
    ctx = ClientTlsContext(TlsContextOptions())._ssl_context(None)
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    with pytest.raises(ssl.SSLCertVerificationError) as info:
        _handshake(ctx, _server_context(server_cert))
    err = exceptions.translate(info.value, "TLS handshake with localhost:443")
    assert isinstance(err, AwsCrtError) and err.name == "AWS_IO_TLS_ERROR_NEGOTIATION_FAILURE"
    assert "unable to get local issuer certificate" in err.message


def test_trust_store_override_from_buffer_and_path(tls_ca: trustme.CA,
                                                   server_cert: trustme.LeafCert,
                                                   tmp_path: Path) -> None:
    server = _server_context(server_cert)
    _handshake(ClientTlsContext(_trusting(tls_ca))._ssl_context(None), server)
    ca_file = tmp_path / "tls_ca.pem"
    tls_ca.cert_pem.write_to_path(str(ca_file))
    opts = TlsContextOptions()
    opts.override_default_trust_store_from_path(ca_filepath=str(ca_file))
    assert opts.ca_buffer == tls_ca.cert_pem.bytes() and opts.ca_dirpath is None
    _handshake(ClientTlsContext(opts)._ssl_context(None), server)


def test_hostname_is_checked(tls_ca: trustme.CA, server_cert: trustme.LeafCert) -> None:
    ctx = ClientTlsContext(_trusting(tls_ca))._ssl_context(None)
    with pytest.raises(ssl.SSLCertVerificationError) as info:
        _handshake(ctx, _server_context(server_cert), server_hostname="example.org")
    assert "Hostname mismatch" in str(exceptions.translate(info.value, "x"))


def test_verify_peer_false(server_cert: trustme.LeafCert) -> None:
    opts = TlsContextOptions()
    opts.verify_peer = False
    ctx = ClientTlsContext(opts)._ssl_context(None)
    assert ctx.verify_mode == ssl.CERT_NONE and not ctx.check_hostname
    _handshake(ctx, _server_context(server_cert), server_hostname="anything.example")


def test_garbage_ca_is_invalid_argument() -> None:
    for buffer in (b"garbage", "é".encode()):
        opts = TlsContextOptions()
        opts.override_default_trust_store(buffer)
        with pytest.raises(AwsCrtError) as info:
            ClientTlsContext(opts)
        assert info.value.name == "AWS_ERROR_INVALID_ARGUMENT"
        assert "ca_buffer" in info.value.message


def test_options_are_copied(tls_ca: trustme.CA, server_cert: trustme.LeafCert) -> None:
    opts = _trusting(tls_ca)
    ctx = ClientTlsContext(opts)
    opts.verify_peer = False
    opts.ca_buffer = b"garbage"
    fresh = ctx._ssl_context(("http/1.1",))  # built after the change
    assert fresh.verify_mode == ssl.CERT_REQUIRED
    _handshake(fresh, _server_context(server_cert))


def test_min_tls_version(tls_ca: trustme.CA) -> None:
    ctx = ClientTlsContext(_trusting(tls_ca, min_tls_ver=TlsVersion.TLSv1_3))._ssl_context(None)
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_3
    default = ClientTlsContext(_trusting(tls_ca))._ssl_context(None)
    assert default.minimum_version >= ssl.TLSVersion.TLSv1_2
    if ssl.HAS_TLSv1:  # explicit request: no DeprecationWarning escapes (warnings are errors)
        old = ClientTlsContext(_trusting(tls_ca, min_tls_ver=TlsVersion.TLSv1))._ssl_context(None)
        assert old.minimum_version == ssl.TLSVersion.TLSv1


@pytest.mark.skipif(ssl.HAS_SSLv3, reason="this OpenSSL still has SSLv3")
def test_unavailable_tls_version_is_named_error(tls_ca: trustme.CA) -> None:
    with pytest.raises(AwsCrtError) as info:
        ClientTlsContext(_trusting(tls_ca, min_tls_ver=TlsVersion.SSLv3))
    assert info.value.name == "AWS_IO_TLS_VERSION_UNSUPPORTED"
    assert "SSLv3" in info.value.message


def test_cipher_prefs(tls_ca: trustme.CA) -> None:
    with pytest.raises(AwsCrtError) as info:
        ClientTlsContext(_trusting(tls_ca, cipher_pref=TlsCipherPref.PQ_TLSv1_0_2021_05))
    assert info.value.name == "AWS_IO_TLS_CIPHER_PREF_UNSUPPORTED"
    ctx = ClientTlsContext(_trusting(tls_ca, cipher_pref=TlsCipherPref.TLSv1_2_2025_07))
    context = ctx._ssl_context(None)
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    tls12 = {c["name"] for c in context.get_ciphers() if c["protocol"] == "TLSv1.2"}
    assert tls12 and all(n.startswith("ECDHE-") and "-GCM-" in n for n in tls12)


def _tmp_leftovers(tmp: Path) -> list[str]:
    return [p.name for p in tmp.iterdir() if p.name.startswith("crt_http-")]


def test_mtls_from_buffers(tls_ca: trustme.CA, server_cert: trustme.LeafCert, tmp_path: Path,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    client_cert = tls_ca.issue_cert("client@example.com")
    server = _server_context(server_cert, client_ca=tls_ca)
    with pytest.raises(ssl.SSLError):  # the server insists on a client certificate
        _handshake(ClientTlsContext(_trusting(tls_ca))._ssl_context(None), server)
    opts = TlsContextOptions.create_client_with_mtls(
        b"".join(blob.bytes() for blob in client_cert.cert_chain_pems),
        client_cert.private_key_pem.bytes())
    opts.override_default_trust_store(tls_ca.cert_pem.bytes())
    ctx = ClientTlsContext(opts)
    _handshake(ctx._ssl_context(None), server)
    _handshake(ctx._ssl_context(("h2",)), server)  # a second build loads them again
    assert _tmp_leftovers(tmp_path) == []  # the temporary PEM files are gone


def test_mtls_bad_key_or_half_pair(tls_ca: trustme.CA, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    cert = tls_ca.issue_cert("client@example.com")
    opts = TlsContextOptions.create_client_with_mtls(cert.cert_chain_pems[0].bytes(), b"garbage")
    with pytest.raises(AwsCrtError) as info:
        ClientTlsContext(opts)
    assert info.value.name == "AWS_ERROR_INVALID_ARGUMENT"
    assert _tmp_leftovers(tmp_path) == []
    half = TlsContextOptions()
    half.certificate_buffer = cert.cert_chain_pems[0].bytes()
    with pytest.raises(AwsCrtError, match="private_key_buffer"):
        ClientTlsContext(half)


def _pkcs12_file(cert: trustme.LeafCert, path: Path, password: bytes) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import (
        BestAvailableEncryption,
        load_pem_private_key,
        pkcs12,
    )

    key = load_pem_private_key(cert.private_key_pem.bytes(), None)
    certs = [x509.load_pem_x509_certificate(b.bytes()) for b in cert.cert_chain_pems]
    path.write_bytes(pkcs12.serialize_key_and_certificates(
        b"client", key, certs[0], certs[1:] or None,  # type: ignore[arg-type]
        BestAvailableEncryption(password)))


def test_mtls_pkcs12(tls_ca: trustme.CA, server_cert: trustme.LeafCert, tmp_path: Path) -> None:
    pytest.importorskip("cryptography")
    p12 = tmp_path / "client.p12"
    _pkcs12_file(tls_ca.issue_cert("client@example.com"), p12, b"s3cret")
    opts = TlsContextOptions.create_client_with_mtls_pkcs12(str(p12), "s3cret")
    opts.override_default_trust_store(tls_ca.cert_pem.bytes())
    _handshake(ClientTlsContext(opts)._ssl_context(None),
               _server_context(server_cert, client_ca=tls_ca))
    wrong = TlsContextOptions.create_client_with_mtls_pkcs12(str(p12), "wrong")
    with pytest.raises(AwsCrtError) as info:
        ClientTlsContext(wrong)
    assert info.value.name == "AWS_ERROR_INVALID_ARGUMENT"


def test_pkcs12_without_cryptography(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in [m for m in sys.modules if m == "cryptography" or m.startswith("cryptography.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "cryptography", None)  # makes the import fail
    opts = TlsContextOptions.create_client_with_mtls_pkcs12(str(tmp_path / "x.p12"), "pw")
    with pytest.raises(AwsCrtError) as info:
        ClientTlsContext(opts)
    assert info.value.name == "AWS_ERROR_PLATFORM_NOT_SUPPORTED"
    assert "cryptography" in info.value.message and "crt_http[pkcs12]" in info.value.message
    assert isinstance(info.value.__cause__, ImportError)


# --- TlsConnectionOptions --------------------------------------------------------------------


def test_connection_options(tls_ca: trustme.CA) -> None:
    ctx = ClientTlsContext(_trusting(tls_ca))
    conn = ctx.new_connection_options()
    assert isinstance(conn, TlsConnectionOptions) and conn.tls_ctx is ctx
    assert (conn.alpn_list, conn.server_name) == (None, None)
    conn.set_server_name("example.org")
    assert conn.server_name == "example.org"
    with pytest.raises(TypeError):
        conn.set_alpn_list("h2")
    with pytest.raises(TypeError):
        TlsConnectionOptions(TlsContextOptions())  # type: ignore[arg-type]
    # no ALPN anywhere: the connection class's default
    assert conn._ssl_context(("h2", "http/1.1")) is ctx._ssl_context(("h2", "http/1.1"))
    assert conn._ssl_context(None) is ctx._ssl_context(None)
    conn.set_alpn_list(["http/1.1"])
    assert conn.alpn_list == ["http/1.1"]
    assert conn._ssl_context(("h2",)) is ctx._ssl_context(("http/1.1",))
    conn.set_alpn_list([])
    assert conn.alpn_list is None


def test_context_alpn_list_beats_default(tls_ca: trustme.CA) -> None:
    ctx = ClientTlsContext(_trusting(tls_ca, alpn_list=["h2"]))
    conn = TlsConnectionOptions(ctx)
    assert conn._ssl_context(("http/1.1",)) is ctx._ssl_context(("h2",))
    conn.set_alpn_list(["http/1.1"])
    assert conn._ssl_context(None) is ctx._ssl_context(("http/1.1",))


# --- resolver and bootstrap ------------------------------------------------------------------


async def test_default_resolver_resolves() -> None:
    resolver = DefaultHostResolver(EventLoopGroup())
    infos = await resolver.resolve("127.0.0.1", 8443, socket.AF_INET)
    assert infos and all(len(info) == 5 for info in infos)
    assert {info[4] for info in infos} == {("127.0.0.1", 8443)}
    assert {info[1] for info in infos} == {socket.SOCK_STREAM}
    with pytest.raises(TypeError):
        DefaultHostResolver(None)  # type: ignore[arg-type]


async def test_resolver_can_be_overridden() -> None:
    class Failing(HostResolverBase):
        async def resolve(self, host: str, port: int, family: int) -> list[tuple[Any, ...]]:
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    bootstrap = ClientBootstrap(EventLoopGroup(), Failing())
    with pytest.raises(socket.gaierror) as info:
        await bootstrap.host_resolver.resolve("example.org", 443, socket.AF_UNSPEC)
    err = exceptions.translate(info.value, "resolving example.org")
    assert isinstance(err, AwsCrtError) and err.name == "AWS_IO_DNS_QUERY_AGAIN"


def test_bootstrap() -> None:
    group = EventLoopGroup()
    resolver = DefaultHostResolver(group)
    bootstrap = ClientBootstrap(group, resolver)
    assert bootstrap.event_loop_group is group and bootstrap.host_resolver is resolver
    with pytest.raises(TypeError):
        ClientBootstrap(group, None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ClientBootstrap(resolver, resolver)  # type: ignore[arg-type]
    event = bootstrap.shutdown_event
    assert not event.is_set()
    del bootstrap
    gc.collect()
    assert event.is_set()


def test_static_defaults() -> None:
    try:
        bootstrap = ClientBootstrap.get_or_create_static_default()
        assert ClientBootstrap.get_or_create_static_default() is bootstrap
        assert bootstrap.event_loop_group is EventLoopGroup.get_or_create_static_default()
        assert bootstrap.host_resolver is DefaultHostResolver.get_or_create_static_default()
        ClientBootstrap.release_static_default()
        assert ClientBootstrap.get_or_create_static_default() is not bootstrap
        group = EventLoopGroup.get_or_create_static_default()
        EventLoopGroup.release_static_default()
        assert EventLoopGroup.get_or_create_static_default() is not group
    finally:
        ClientBootstrap.release_static_default()
        DefaultHostResolver.release_static_default()
        EventLoopGroup.release_static_default()


# --- event-loop threads ----------------------------------------------------------------------


def _loop_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("crt_http-")]


def test_group_starts_one_thread_lazily() -> None:
    before = len(_loop_threads())
    group = EventLoopGroup(loop_impl="asyncio")
    try:
        assert len(_loop_threads()) == before  # nothing started by the constructor
        loop = group._next_loop()
        assert len(_loop_threads()) == before + 1
        assert group._next_loop() is loop  # one thread by default
        future = asyncio.run_coroutine_threadsafe(_thread_of_running_loop(), loop)
        thread = future.result(5)
        assert thread is not threading.current_thread() and thread.daemon
    finally:
        group._close()


async def _thread_of_running_loop() -> threading.Thread:
    await asyncio.sleep(0)
    return threading.current_thread()


def test_group_round_robin_and_close() -> None:
    group = EventLoopGroup(num_threads=2)
    loops = [group._next_loop() for _ in range(4)]
    assert loops[0] is not loops[1] and loops[0] is loops[2] and loops[1] is loops[3]
    threads = [asyncio.run_coroutine_threadsafe(_thread_of_running_loop(), lp).result(5)
               for lp in loops[:2]]
    assert not group.shutdown_event.is_set()
    group._close()
    assert group.shutdown_event.wait(5)
    assert not any(t.is_alive() for t in threads)
    assert all(lp.is_closed() for lp in loops)
    with pytest.raises(AwsCrtError) as info:
        group._next_loop()
    assert info.value.name == "AWS_IO_EVENT_LOOP_SHUTDOWN"


def test_group_close_cancels_pending_tasks() -> None:
    group = EventLoopGroup()
    loop = group._next_loop()
    cancelled = threading.Event()

    async def forever() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    asyncio.run_coroutine_threadsafe(forever(), loop)
    asyncio.run_coroutine_threadsafe(asyncio.sleep(0), loop).result(5)
    group._close()
    assert cancelled.is_set() and group.shutdown_event.is_set()


def test_group_without_threads_closes_at_once() -> None:
    group = EventLoopGroup()
    group._close()
    assert group.shutdown_event.is_set()


def test_group_stops_when_garbage_collected() -> None:
    group = EventLoopGroup()
    loop = group._next_loop()
    thread = asyncio.run_coroutine_threadsafe(_thread_of_running_loop(), loop).result(5)
    event = group.shutdown_event
    del group, loop
    gc.collect()
    assert event.wait(5)
    thread.join(5)
    assert not thread.is_alive()


def test_group_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="loop_impl"):
        EventLoopGroup(loop_impl="trio")
    with pytest.raises(ValueError, match="num_threads"):
        EventLoopGroup(num_threads=-1)
    with pytest.raises(TypeError, match="cpu_group"):
        EventLoopGroup(cpu_group="0")  # type: ignore[arg-type]
    assert EventLoopGroup(num_threads=3, cpu_group=0).loop_impl == "asyncio"
    monkeypatch.setenv("CRT_HTTP_LOOP", "bogus")
    with pytest.raises(ValueError, match="bogus"):
        EventLoopGroup()
    monkeypatch.setenv("CRT_HTTP_LOOP", "asyncio")
    assert EventLoopGroup().loop_impl == "asyncio"


@needs_uvloop
def test_group_with_uvloop_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRT_HTTP_LOOP", "uvloop")
    group = EventLoopGroup()
    try:
        assert group.loop_impl == "uvloop"
        assert isinstance(group._next_loop(), uvloop.Loop)
    finally:
        group._close()
    assert group.shutdown_event.is_set()


def test_missing_uvloop_is_a_clear_import_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)
    with pytest.raises(ImportError, match=r"crt_http\[uvloop\]"):
        loop_factory("uvloop")


@pytest.mark.parametrize("impl", ["asyncio", pytest.param("uvloop", marks=needs_uvloop)])
def test_loop_thread(impl: str) -> None:
    exited = threading.Event()
    lt = LoopThread(impl, name="crt_http-test", on_exit=exited.set)
    if impl == "uvloop":
        assert isinstance(lt.loop, uvloop.Loop)
    assert asyncio.run_coroutine_threadsafe(asyncio.sleep(0, "ran"), lt.loop).result(5) == "ran"
    assert lt.is_alive()
    assert lt.stop(5) is True
    assert not lt.is_alive() and exited.is_set() and lt.loop.is_closed()
    assert lt.stop(5) is True  # idempotent


def test_loop_thread_stopped_from_its_own_thread() -> None:
    lt = LoopThread()
    result = asyncio.run_coroutine_threadsafe(_stop_from_inside(lt), lt.loop).result(5)
    assert result is False
    lt._thread.join(5)
    assert not lt.is_alive()


async def _stop_from_inside(lt: LoopThread) -> bool:
    return lt.stop(5)


# --- logging ---------------------------------------------------------------------------------


@pytest.fixture
def reset_logging() -> Iterator[None]:
    logger = logging.getLogger("crt_http")
    level = logger.level
    yield
    with cio._handler_lock:
        if cio._handler is not None:
            logger.removeHandler(cio._handler)
            cio._handler.close()
            cio._handler = None
    logger.setLevel(level)


def test_init_logging_to_file_and_levels(tmp_path: Path, reset_logging: None) -> None:
    path = tmp_path / "crt.log"
    cio.init_logging(LogLevel.Info, str(path))
    log = cio._get_logger("crt_http.test")
    log.info("connected to %s", "example.org:443")
    log.debug("not shown at Info")
    cio.set_log_level(LogLevel.Trace)
    log.log(cio.TRACE, "trace shown")
    cio.set_log_level(LogLevel.NoLogs)
    log.critical("nothing at NoLogs")
    text = path.read_text()
    assert "[INFO]" in text and "connected to example.org:443" in text
    assert "[TRACE]" in text and "trace shown" in text
    assert "not shown" not in text and "nothing at NoLogs" not in text


def test_init_logging_twice_replaces_the_handler(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 reset_logging: None) -> None:
    logger = logging.getLogger("crt_http")
    cio.init_logging(LogLevel.Warn, str(tmp_path / "first.log"))
    cio.init_logging(LogLevel.Warn, "stderr")
    ours = [h for h in logger.handlers if h is cio._handler]
    assert len(ours) == 1 and len(logger.handlers) == 1
    cio._get_logger("crt_http.x").warning("to stderr")
    assert "to stderr" in capsys.readouterr().err
    with pytest.raises(ValueError):
        cio.init_logging(99, "stderr")  # type: ignore[arg-type]


SECRETS = [
    ("Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/x, Signature=deadbeef",
     "AKIDEXAMPLE"),
    ("sending headers\nproxy-authorization: Basic dXNlcjpwYXNz\nHost: h", "dXNlcjpwYXNz"),
    ("Cookie: session=abc123; theme=dark", "abc123"),
    ("headers=[('Host', 'h'), ('Authorization', 'Bearer tok3n'), ('Accept', '*/*')]", "tok3n"),
    ("raw=[(b'cookie', b'sid=s3cr3t'), (b'host', b'h')]", "s3cr3t"),
    ("{'authorization': 'Bearer d1ct'}", "d1ct"),
]


@pytest.mark.parametrize(("message", "secret"), SECRETS)
def test_secret_header_values_are_redacted(message: str, secret: str,
                                           caplog: pytest.LogCaptureFixture) -> None:
    log = cio._get_logger("crt_http.test.redact")
    with caplog.at_level(logging.DEBUG, logger="crt_http"):
        log.debug("%s", message)
    [record] = [r for r in caplog.records if r.name == "crt_http.test.redact"]
    text = record.getMessage()
    assert secret not in text and "<redacted>" in text


def test_redaction_keeps_other_headers(caplog: pytest.LogCaptureFixture) -> None:
    log = cio._get_logger("crt_http.test.redact")
    with caplog.at_level(logging.DEBUG, logger="crt_http"):
        log.debug("headers=[('Host', 'example.org'), ('Authorization', 'x')] status=%d", 200)
        log.debug("Host: example.org")
    texts = [r.getMessage() for r in caplog.records if r.name == "crt_http.test.redact"]
    assert texts == [
        "headers=[('Host', 'example.org'), ('Authorization', '<redacted>')] status=200",
        "Host: example.org",
    ]


def test_redaction_is_linear_on_hostile_input(caplog: pytest.LogCaptureFixture) -> None:
    log = cio._get_logger("crt_http.test.redact")
    hostile = "('authorization', '" + "\\" * 50_000  # no closing quote
    with caplog.at_level(logging.DEBUG, logger="crt_http"):
        log.debug("%s", hostile)  # returns at once (the timeout would catch a regex blow-up)
    assert len(caplog.records) == 1


def test_redaction_on_the_package_logger(tmp_path: Path, reset_logging: None) -> None:
    path = tmp_path / "crt.log"
    cio.init_logging(LogLevel.Debug, str(path))
    logging.getLogger("crt_http").debug("Authorization: Bearer top-secret")
    logging.getLogger("crt_http.plain_child").debug("Cookie: plain-child-secret")
    text = path.read_text()
    assert "top-secret" not in text and "plain-child-secret" not in text
    assert text.count("<redacted>") == 2


def test_get_logger_installs_filter_once() -> None:
    log = cio._get_logger("crt_http.test.once")
    assert cio._get_logger("crt_http.test.once") is log
    assert log.filters.count(cio._REDACT) == 1
