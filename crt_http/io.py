"""I/O options of crt_http, with the names of ``awscrt.io``: TLS, sockets, DNS, loop threads,
request body streams and logging.

TLS is Python's ``ssl`` module (OpenSSL): a :class:`ClientTlsContext` validates its options and
builds its ``ssl.SSLContext`` once. An :class:`EventLoopGroup` is the set of event-loop
threads the synchronous API runs on (one by default).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import re
import socket
import ssl
import sys
import tempfile
import threading
import warnings
import weakref
from collections.abc import Sequence
from enum import IntEnum
from typing import Any, ClassVar

from crt_http._loop_thread import LoopThread, loop_factory
from crt_http._models import InputStream
from crt_http.exceptions import error

__all__ = [
    "ClientBootstrap",
    "ClientTlsContext",
    "DefaultHostResolver",
    "EventLoopGroup",
    "ExponentialBackoffJitterMode",
    "HostResolverBase",
    "InputStream",
    "LogLevel",
    "Pkcs11Lib",
    "SocketDomain",
    "SocketOptions",
    "SocketType",
    "TlsCipherPref",
    "TlsConnectionOptions",
    "TlsContextOptions",
    "TlsVersion",
    "init_logging",
    "is_alpn_available",
    "set_log_level",
]

_Buffer = bytes | bytearray | memoryview


# --- logging ---------------------------------------------------------------------------------

class LogLevel(IntEnum):
    """awscrt's log levels; mapped onto the ``logging`` levels of the ``crt_http`` logger."""

    NoLogs = 0
    Fatal = 1
    Error = 2
    Warn = 3
    Info = 4
    Debug = 5
    Trace = 6


TRACE = 5
logging.addLevelName(TRACE, "TRACE")

_LOGGING_LEVELS: dict[LogLevel, int] = {
    LogLevel.NoLogs: logging.CRITICAL + 10,
    LogLevel.Fatal: logging.CRITICAL,
    LogLevel.Error: logging.ERROR,
    LogLevel.Warn: logging.WARNING,
    LogLevel.Info: logging.INFO,
    LogLevel.Debug: logging.DEBUG,
    LogLevel.Trace: TRACE,
}

_SECRET_NAMES = r"(?:proxy-authorization|authorization|set-cookie|cookie)"
# "Authorization: value", "'cookie': 'value'": everything to the end of the line goes.
_SECRET_NAME_VALUE = re.compile(rf"(?i)(\b{_SECRET_NAMES}['\"]?\s*:[ \t]*)[^\r\n]+")
# "('Authorization', 'value')", "(b'cookie', b'value')": the quoted value goes.
_SECRET_PAIR = re.compile(
    rf"""(?i)(b?(['"]){_SECRET_NAMES}\2\s*,\s*b?)(['"])(?:\\.|(?!\3)[^\\])*\3""")
_MAYBE_SECRET = re.compile(r"(?i)authorization|cookie").search


class _RedactSecrets(logging.Filter):
    """Replaces the values of Authorization, Proxy-Authorization, Cookie and Set-Cookie
    headers in a log message by ``<redacted>``, in the forms ``name: value`` (to the end of
    the line) and ``('name', 'value')``. Always lets the record through."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a bad format: the handler reports it as usual
            return True
        if _MAYBE_SECRET(message):
            redacted = _SECRET_NAME_VALUE.sub(r"\1<redacted>", message)
            redacted = _SECRET_PAIR.sub(r"\1'<redacted>'", redacted)
            if redacted != message:
                record.msg = redacted
                record.args = None
        return True


_REDACT = _RedactSecrets()
_LOGGER = logging.getLogger("crt_http")
_LOGGER.addFilter(_REDACT)
_handler: logging.Handler | None = None
_handler_lock = threading.Lock()


def _get_logger(name: str) -> logging.Logger:
    """The logger ``name`` (under ``crt_http``) with the secret-redacting filter installed.

    Logging's filters run only on the logger a record is logged on, not on its ancestors:
    modules of crt_http take their logger from here so that every handler, ours or the
    application's, sees redacted messages.
    """
    logger = logging.getLogger(name)
    if _REDACT not in logger.filters:
        logger.addFilter(_REDACT)
    return logger


def init_logging(log_level: LogLevel, file_name: str) -> None:
    """Send crt_http's log messages of ``log_level`` and above to ``file_name``.

    ``file_name`` is ``"stdout"``, ``"stderr"`` or a file path (appended to). This installs
    one handler on the standard ``logging`` logger ``"crt_http"``, replacing the one an
    earlier call installed (awscrt allows one call only). Values of Authorization,
    Proxy-Authorization and Cookie headers are redacted from every message.
    """
    level = _LOGGING_LEVELS[LogLevel(log_level)]
    new: logging.Handler
    if file_name == "stdout":
        new = logging.StreamHandler(sys.stdout)
    elif file_name == "stderr":
        new = logging.StreamHandler(sys.stderr)
    else:
        new = logging.FileHandler(file_name, encoding="utf-8")
    new.setFormatter(logging.Formatter(
        "[%(levelname)s] [%(asctime)s] [%(threadName)s] [%(name)s] - %(message)s"))
    new.addFilter(_REDACT)
    global _handler
    with _handler_lock:
        old, _handler = _handler, new
        _LOGGER.addHandler(new)
        _LOGGER.setLevel(level)
        if old is not None:
            _LOGGER.removeHandler(old)
            old.close()


def set_log_level(log_level: LogLevel) -> None:
    """Change the level of the ``crt_http`` logger (works before :func:`init_logging` too)."""
    _LOGGER.setLevel(_LOGGING_LEVELS[LogLevel(log_level)])


# --- event loops, DNS, bootstrap -------------------------------------------------------------

_ATEXIT_STOP_TIMEOUT = 2.0


class _LoopThreads:
    """The threads of one EventLoopGroup. Holds no reference to the group, so that the
    group's finalizer can stop them."""

    def __init__(self, num_threads: int, loop_impl: str, event: threading.Event,
                 name: str) -> None:
        self.slots: list[LoopThread | None] = [None] * num_threads
        self.loop_impl = loop_impl
        self.event = event
        self.name = name
        self.lock = threading.Lock()
        self.next_index = 0
        self.running = 0
        self.closed = False

    def next_loop(self) -> asyncio.AbstractEventLoop:
        with self.lock:
            if self.closed:
                raise error("AWS_IO_EVENT_LOOP_SHUTDOWN", f"{self.name} was shut down")
            index = self.next_index
            self.next_index = (index + 1) % len(self.slots)
            thread = self.slots[index]
            if thread is None:
                thread = LoopThread(self.loop_impl, f"{self.name}-{index}", self._exited)
                self.slots[index] = thread
                self.running += 1
            return thread.loop

    def _exited(self) -> None:
        with self.lock:
            self.running -= 1
            done = self.closed and self.running == 0
        if done:
            self.event.set()

    def close(self, timeout: float | None) -> None:
        with self.lock:
            self.closed = True
            threads = [t for t in self.slots if t is not None]
            if self.running == 0:
                self.event.set()
        for thread in threads:
            thread.stop(timeout)


class EventLoopGroup:
    """The event-loop threads that the synchronous API runs its connections on.

    Args:
        num_threads: number of loop threads; None or 0 means one (awscrt starts one per core,
            which only adds contention under the GIL). Threads start on first use.
        cpu_group: accepted for compatibility; threads are not pinned.
        loop_impl: keyword-only, beyond awscrt: the event loop the threads run, ``"asyncio"``
            or ``"uvloop"``; None reads the environment variable ``CRT_HTTP_LOOP``, else
            ``"asyncio"``.

    Attributes:
        shutdown_event: set once the group's threads have stopped, after :meth:`_close`, when
            the group is garbage-collected, or at interpreter exit.
    """

    _static_event_loop_group: ClassVar[EventLoopGroup | None] = None
    _static_event_loop_group_lock: ClassVar[threading.Lock] = threading.Lock()

    __slots__ = ("__weakref__", "_finalizer", "_threads", "loop_impl", "shutdown_event")

    def __init__(self, num_threads: int | None = None, cpu_group: int | None = None,
                 *, loop_impl: str | None = None) -> None:
        if num_threads is None:
            num_threads = 0
        if not isinstance(num_threads, int) or num_threads < 0:
            raise ValueError(f"num_threads must be None or an int >= 0, got {num_threads!r}")
        if cpu_group is not None and not isinstance(cpu_group, int):
            raise TypeError(f"cpu_group must be None or an int, got {type(cpu_group).__name__}")
        if loop_impl is None:
            loop_impl = os.environ.get("CRT_HTTP_LOOP") or "asyncio"
        loop_factory(loop_impl)  # ValueError / ImportError now, not in a thread later
        self.loop_impl: str = loop_impl
        self.shutdown_event = threading.Event()
        self._threads = _LoopThreads(num_threads or 1, loop_impl, self.shutdown_event,
                                     f"crt_http-elg-{id(self):x}")
        self._finalizer = weakref.finalize(self, self._threads.close, _ATEXIT_STOP_TIMEOUT)

    def _next_loop(self) -> asyncio.AbstractEventLoop:
        """The loop of the next thread, round-robin, starting that thread if needed.

        AwsCrtError AWS_IO_EVENT_LOOP_SHUTDOWN after :meth:`_close`.
        """
        return self._threads.next_loop()

    def _close(self, timeout: float | None = 5.0) -> None:
        """Stop the threads, waiting up to ``timeout`` seconds for each."""
        self._finalizer.detach()
        self._threads.close(timeout)

    @staticmethod
    def get_or_create_static_default() -> EventLoopGroup:
        """The process-wide default group, created on first use."""
        with EventLoopGroup._static_event_loop_group_lock:
            if EventLoopGroup._static_event_loop_group is None:
                EventLoopGroup._static_event_loop_group = EventLoopGroup()
            return EventLoopGroup._static_event_loop_group

    @staticmethod
    def release_static_default() -> None:
        """Forget the default group; it stops once nothing references it any more."""
        with EventLoopGroup._static_event_loop_group_lock:
            EventLoopGroup._static_event_loop_group = None


class HostResolverBase:
    """DNS host resolver. Subclasses may override :meth:`resolve`."""

    __slots__ = ()

    async def resolve(self, host: str, port: int, family: int) -> list[tuple[Any, ...]]:
        """Addresses of ``host`` as ``socket.getaddrinfo`` tuples
        ``(family, type, proto, canonname, sockaddr)``, for TCP on ``port``.

        ``family`` is ``socket.AF_INET``, ``AF_INET6`` or ``AF_UNSPEC``. Failures raise
        ``socket.gaierror`` (mapped by ``crt_http.exceptions.translate``). Runs on the
        caller's event loop (getaddrinfo in its default executor).
        """
        loop = asyncio.get_running_loop()
        return await loop.getaddrinfo(host, port, family=family, type=socket.SOCK_STREAM)


class DefaultHostResolver(HostResolverBase):
    """The default resolver: the system's ``getaddrinfo``.

    Args:
        event_loop_group: kept alive with the resolver, as in awscrt.
        max_hosts: accepted for compatibility; results are not cached (the system
            resolver's cache applies).
    """

    _static_host_resolver: ClassVar[DefaultHostResolver | None] = None
    _static_host_resolver_lock: ClassVar[threading.Lock] = threading.Lock()

    __slots__ = ("_event_loop_group", "_max_hosts")

    def __init__(self, event_loop_group: EventLoopGroup, max_hosts: int = 16) -> None:
        if not isinstance(event_loop_group, EventLoopGroup):
            raise TypeError("event_loop_group must be an EventLoopGroup, "
                            f"got {type(event_loop_group).__name__}")
        self._event_loop_group = event_loop_group
        self._max_hosts = max_hosts

    @staticmethod
    def get_or_create_static_default() -> DefaultHostResolver:
        """The process-wide default resolver, created on first use."""
        with DefaultHostResolver._static_host_resolver_lock:
            if DefaultHostResolver._static_host_resolver is None:
                DefaultHostResolver._static_host_resolver = DefaultHostResolver(
                    EventLoopGroup.get_or_create_static_default())
            return DefaultHostResolver._static_host_resolver

    @staticmethod
    def release_static_default() -> None:
        """Forget the default resolver."""
        with DefaultHostResolver._static_host_resolver_lock:
            DefaultHostResolver._static_host_resolver = None


class ClientBootstrap:
    """What a client connection needs to connect: loop threads and a host resolver.

    Attributes:
        event_loop_group: the :class:`EventLoopGroup` (the sync API's loop threads).
        host_resolver: the :class:`HostResolverBase` that resolves host names.
        shutdown_event: set when the bootstrap is garbage-collected (or at interpreter exit).
    """

    _static_client_bootstrap: ClassVar[ClientBootstrap | None] = None
    _static_client_bootstrap_lock: ClassVar[threading.Lock] = threading.Lock()

    __slots__ = ("__weakref__", "event_loop_group", "host_resolver", "shutdown_event")

    def __init__(self, event_loop_group: EventLoopGroup, host_resolver: HostResolverBase) -> None:
        if not isinstance(event_loop_group, EventLoopGroup):
            raise TypeError("event_loop_group must be an EventLoopGroup, "
                            f"got {type(event_loop_group).__name__}")
        if not isinstance(host_resolver, HostResolverBase):
            raise TypeError("host_resolver must be a HostResolverBase, "
                            f"got {type(host_resolver).__name__}")
        self.event_loop_group = event_loop_group
        self.host_resolver = host_resolver
        self.shutdown_event = threading.Event()
        weakref.finalize(self, self.shutdown_event.set)

    @staticmethod
    def get_or_create_static_default() -> ClientBootstrap:
        """The process-wide default bootstrap (default group and resolver), created on first
        use."""
        with ClientBootstrap._static_client_bootstrap_lock:
            if ClientBootstrap._static_client_bootstrap is None:
                ClientBootstrap._static_client_bootstrap = ClientBootstrap(
                    EventLoopGroup.get_or_create_static_default(),
                    DefaultHostResolver.get_or_create_static_default())
            return ClientBootstrap._static_client_bootstrap

    @staticmethod
    def release_static_default() -> None:
        """Forget the default bootstrap."""
        with ClientBootstrap._static_client_bootstrap_lock:
            ClientBootstrap._static_client_bootstrap = None


# --- sockets ---------------------------------------------------------------------------------

class SocketDomain(IntEnum):
    IPv4 = 0
    IPv6 = 1
    Local = 2
    """Unix domain socket: the host name is the socket's path."""


class SocketType(IntEnum):
    Stream = 0
    """TCP, or a stream Unix domain socket."""
    DGram = 1
    """UDP; not compatible with ``SocketDomain.Local``."""


class SocketOptions:
    """Socket options.

    Attributes:
        domain: :class:`SocketDomain` (default IPv6, falling back to the addresses the
            resolver finds).
        type: :class:`SocketType` (default Stream).
        connect_timeout_ms: connection timeout in milliseconds (default 5000).
        keep_alive: send TCP keep-alive probes (default False).
        keep_alive_timeout_secs: idle seconds before the first probe; 0 is the system default.
        keep_alive_interval_secs: seconds between probes; 0 is the system default.
        keep_alive_max_probes: failed probes before the connection is dropped; 0 is the
            system default.
    """

    __slots__ = (
        "connect_timeout_ms",
        "domain",
        "keep_alive",
        "keep_alive_interval_secs",
        "keep_alive_max_probes",
        "keep_alive_timeout_secs",
        "type",
    )

    def __init__(self) -> None:
        self.domain = SocketDomain.IPv6
        self.type = SocketType.Stream
        self.connect_timeout_ms = 5000
        self.keep_alive = False
        self.keep_alive_timeout_secs = 0
        self.keep_alive_interval_secs = 0
        self.keep_alive_max_probes = 0


# --- TLS -------------------------------------------------------------------------------------

class TlsVersion(IntEnum):
    SSLv3 = 0
    TLSv1 = 1
    TLSv1_1 = 2
    TLSv1_2 = 3
    TLSv1_3 = 4
    DEFAULT = 128


_SSL_VERSIONS: dict[TlsVersion, tuple[ssl.TLSVersion, bool]] = {
    TlsVersion.SSLv3: (ssl.TLSVersion.SSLv3, ssl.HAS_SSLv3),
    TlsVersion.TLSv1: (ssl.TLSVersion.TLSv1, ssl.HAS_TLSv1),
    TlsVersion.TLSv1_1: (ssl.TLSVersion.TLSv1_1, ssl.HAS_TLSv1_1),
    TlsVersion.TLSv1_2: (ssl.TLSVersion.TLSv1_2, ssl.HAS_TLSv1_2),
    TlsVersion.TLSv1_3: (ssl.TLSVersion.TLSv1_3, ssl.HAS_TLSv1_3),
}

# TLSv1_2_2025_07 for TLS 1.2: ECDHE key exchange, AES-GCM, ECDSA or RSA certificates.
_TLS12_2025_07_CIPHERS = ("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                          "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384")


class TlsCipherPref(IntEnum):
    """TLS cipher preference.

    DEFAULT: OpenSSL's defaults. TLSv1_2_2025_07: TLS 1.2 or newer, and on TLS 1.2 only
    ECDHE with AES-GCM; Python's ``ssl`` cannot restrict TLS 1.3 suites or key-exchange
    groups, so those stay OpenSSL's. PQ_DEFAULT: a hybrid post-quantum key exchange,
    supported when OpenSSL (3.5 and later) offers X25519MLKEM768 by default.
    PQ_TLSv1_0_2021_05 (Kyber round 3) exists in no OpenSSL: never supported.
    """

    DEFAULT = 0
    PQ_TLSv1_0_2021_05 = 6
    PQ_DEFAULT = 8
    TLSv1_2_2025_07 = 9

    def is_supported(self) -> bool:
        """Whether this preference can be used with the ``ssl`` module of this process."""
        return _cipher_pref_supported(self)


@functools.cache
def _cipher_pref_supported(pref: TlsCipherPref) -> bool:
    if pref is TlsCipherPref.DEFAULT:
        return True
    if pref is TlsCipherPref.TLSv1_2_2025_07:
        if not ssl.HAS_TLSv1_2:
            return False
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).set_ciphers(_TLS12_2025_07_CIPHERS)
        except ssl.SSLError:
            return False
        return True
    if pref is TlsCipherPref.PQ_DEFAULT:
        return ssl.OPENSSL_VERSION_INFO >= (3, 5)
    return False


class TlsContextOptions:
    """Options to create a :class:`ClientTlsContext`; the ``create_*`` static methods give
    common configurations. A default instance verifies the peer against the system's trust
    store.

    Attributes:
        min_tls_ver: :class:`TlsVersion` (DEFAULT: OpenSSL's, TLS 1.2 with Python >= 3.10).
        cipher_pref: :class:`TlsCipherPref`.
        verify_peer: verify the server's certificate and host name (default True).
        no_certificate_revocation: accepted; OpenSSL checks no revocation here anyway.
        alpn_list: ALPN protocol names, or None (per connection:
            :meth:`TlsConnectionOptions.set_alpn_list`).
        ca_dirpath, ca_buffer: trust store overrides (see ``override_default_trust_store*``).
        certificate_buffer, private_key_buffer: PEM client certificate and key (mTLS).
        pkcs12_filepath, pkcs12_password: PKCS#12 client certificate and key (mTLS).
    """

    __slots__ = (
        "alpn_list",
        "ca_buffer",
        "ca_dirpath",
        "certificate_buffer",
        "cipher_pref",
        "min_tls_ver",
        "no_certificate_revocation",
        "pkcs12_filepath",
        "pkcs12_password",
        "private_key_buffer",
        "verify_peer",
    )

    def __init__(self) -> None:
        self.min_tls_ver = TlsVersion.DEFAULT
        self.cipher_pref = TlsCipherPref.DEFAULT
        self.verify_peer = True
        self.no_certificate_revocation = False
        self.alpn_list: list[str] | None = None
        self.ca_dirpath: str | None = None
        self.ca_buffer: bytes | None = None
        self.certificate_buffer: bytes | None = None
        self.private_key_buffer: bytes | None = None
        self.pkcs12_filepath: str | None = None
        self.pkcs12_password: str | None = None

    @staticmethod
    def create_client_with_mtls_from_path(cert_filepath: str, pk_filepath: str
                                          ) -> TlsContextOptions:
        """Mutual TLS with a PEM certificate and private key read from these files now."""
        _check_str("cert_filepath", cert_filepath)
        _check_str("pk_filepath", pk_filepath)
        return TlsContextOptions.create_client_with_mtls(_read_file(cert_filepath),
                                                         _read_file(pk_filepath))

    @staticmethod
    def create_client_with_mtls(cert_buffer: _Buffer, key_buffer: _Buffer) -> TlsContextOptions:
        """Mutual TLS with a PEM certificate (chain) and an unencrypted PEM private key."""
        opt = TlsContextOptions()
        opt.certificate_buffer = _as_bytes("cert_buffer", cert_buffer)
        opt.private_key_buffer = _as_bytes("key_buffer", key_buffer)
        return opt

    @staticmethod
    def create_client_with_mtls_pkcs12(pkcs12_filepath: str, pkcs12_password: str
                                       ) -> TlsContextOptions:
        """Mutual TLS with the certificate and key of a PKCS#12 file, read when the
        :class:`ClientTlsContext` is created; needs the ``cryptography`` package."""
        _check_str("pkcs12_filepath", pkcs12_filepath)
        _check_str("pkcs12_password", pkcs12_password)
        opt = TlsContextOptions()
        opt.pkcs12_filepath = pkcs12_filepath
        opt.pkcs12_password = pkcs12_password
        return opt

    @staticmethod
    def create_client_with_mtls_pkcs11(*, pkcs11_lib: Pkcs11Lib, user_pin: str | None,
                                       slot_id: int | None = None,
                                       token_label: str | None = None,
                                       private_key_label: str | None = None,
                                       cert_file_path: str | None = None,
                                       cert_file_contents: _Buffer | None = None
                                       ) -> TlsContextOptions:
        """Not available: raises ``NotImplementedError`` (see :class:`Pkcs11Lib`)."""
        raise NotImplementedError(_NO_PKCS11)

    @staticmethod
    def create_client_with_mtls_windows_cert_store_path(cert_path: str) -> TlsContextOptions:
        """Not available: raises ``NotImplementedError``."""
        raise NotImplementedError(
            "Windows certificate stores are not supported by crt_http: Python's ssl module "
            "cannot use a private key held by the Windows certificate store. Export the "
            "certificate and key to PEM and use create_client_with_mtls_from_path().")

    @staticmethod
    def create_server_from_path(cert_filepath: str, pk_filepath: str) -> TlsContextOptions:
        """Not available: raises ``NotImplementedError``."""
        raise NotImplementedError(_NO_SERVER)

    @staticmethod
    def create_server(cert_buffer: _Buffer, key_buffer: _Buffer) -> TlsContextOptions:
        """Not available: raises ``NotImplementedError``."""
        raise NotImplementedError(_NO_SERVER)

    @staticmethod
    def create_server_pkcs12(pkcs12_filepath: str, pkcs12_password: str) -> TlsContextOptions:
        """Not available: raises ``NotImplementedError``."""
        raise NotImplementedError(_NO_SERVER)

    def override_default_trust_store_from_path(self, ca_dirpath: str | None = None,
                                               ca_filepath: str | None = None) -> None:
        """Trust only the CA certificates of the directory ``ca_dirpath`` (OpenSSL hashed
        directory) and/or the PEM file ``ca_filepath`` (read now), not the system's."""
        if ca_dirpath is not None:
            _check_str("ca_dirpath", ca_dirpath)
        if ca_filepath is not None:
            _check_str("ca_filepath", ca_filepath)
            self.override_default_trust_store(_read_file(ca_filepath))
        self.ca_dirpath = ca_dirpath

    def override_default_trust_store(self, rootca_buffer: _Buffer) -> None:
        """Trust only the PEM CA certificates of ``rootca_buffer``, not the system's."""
        self.ca_buffer = _as_bytes("rootca_buffer", rootca_buffer)


_NO_SERVER = ("crt_http is an HTTP client: server-side TLS contexts are not provided. "
              "Use ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER) for a server.")
_NO_PKCS11 = ("PKCS#11 is not supported by crt_http: Python's ssl module can only use a "
              "private key it can read, not one that stays inside a PKCS#11 token.")


def _check_str(name: str, value: object) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")


def _as_bytes(name: str, value: object) -> bytes:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError(f"{name} must be bytes, got {type(value).__name__}")
    return bytes(value)


def _read_file(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


class ClientTlsContext:
    """A client TLS configuration, validated and turned into an ``ssl.SSLContext`` when
    created, then shared by every connection that uses it.

    The options are copied: changing them afterwards has no effect. Invalid options raise
    AwsCrtError: AWS_ERROR_INVALID_ARGUMENT (unreadable CA, certificate or key, as awscrt),
    AWS_IO_TLS_VERSION_UNSUPPORTED, AWS_IO_TLS_CIPHER_PREF_UNSUPPORTED, or
    AWS_ERROR_PLATFORM_NOT_SUPPORTED (PKCS#12 without the ``cryptography`` package).
    """

    __slots__ = (
        "_alpn",
        "_ca_dirpath",
        "_ca_text",
        "_cert_chain",
        "_cipher_pref",
        "_contexts",
        "_lock",
        "_min_tls_ver",
        "_verify_peer",
    )

    def __init__(self, options: TlsContextOptions) -> None:
        if not isinstance(options, TlsContextOptions):
            raise TypeError(f"options must be a TlsContextOptions, got {type(options).__name__}")
        self._min_tls_ver = TlsVersion(options.min_tls_ver)
        self._cipher_pref = TlsCipherPref(options.cipher_pref)
        self._verify_peer = bool(options.verify_peer)
        self._ca_dirpath = options.ca_dirpath
        self._ca_text = None if options.ca_buffer is None else _pem_text(options.ca_buffer)
        self._cert_chain = _client_cert_chain(options)
        self._alpn = _alpn_tuple(options.alpn_list)
        self._contexts: dict[tuple[str, ...] | None, ssl.SSLContext] = {}
        self._lock = threading.Lock()
        self._contexts[self._alpn] = self._build(self._alpn)

    def new_connection_options(self) -> TlsConnectionOptions:
        """New :class:`TlsConnectionOptions` that use this context."""
        return TlsConnectionOptions(self)

    def _ssl_context(self, alpn: tuple[str, ...] | None) -> ssl.SSLContext:
        """The ``ssl.SSLContext`` offering the ALPN protocols ``alpn`` (None: no ALPN),
        built on first request and then returned each time."""
        context = self._contexts.get(alpn)
        if context is None:
            with self._lock:
                context = self._contexts.get(alpn)
                if context is None:
                    context = self._contexts[alpn] = self._build(alpn)
        return context

    def _build(self, alpn: tuple[str, ...] | None) -> ssl.SSLContext:
        try:
            context = ssl.create_default_context(capath=self._ca_dirpath, cadata=self._ca_text)
        except (ssl.SSLError, ValueError) as exc:
            raise error("AWS_ERROR_INVALID_ARGUMENT",
                        f"the CA certificates of ca_buffer could not be loaded: {exc}") from exc
        if not self._verify_peer:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if self._min_tls_ver is not TlsVersion.DEFAULT:
            version, available = _SSL_VERSIONS[self._min_tls_ver]
            if not available:
                raise error("AWS_IO_TLS_VERSION_UNSUPPORTED",
                            f"{self._min_tls_ver.name} is not available in {ssl.OPENSSL_VERSION}")
            with warnings.catch_warnings():  # the caller asked for TLS 1.0/1.1 explicitly
                warnings.simplefilter("ignore", DeprecationWarning)
                context.minimum_version = version
        self._apply_cipher_pref(context)
        if self._cert_chain is not None:
            _load_cert_chain(context, *self._cert_chain)
        if alpn:
            context.set_alpn_protocols(alpn)
        return context

    def _apply_cipher_pref(self, context: ssl.SSLContext) -> None:
        pref = self._cipher_pref
        if pref is TlsCipherPref.DEFAULT:
            return
        if not pref.is_supported():
            raise error("AWS_IO_TLS_CIPHER_PREF_UNSUPPORTED",
                        f"{pref.name} is not available with {ssl.OPENSSL_VERSION}")
        if pref is TlsCipherPref.TLSv1_2_2025_07:
            context.minimum_version = max(context.minimum_version, ssl.TLSVersion.TLSv1_2)
            context.set_ciphers(_TLS12_2025_07_CIPHERS)


def _alpn_tuple(alpn_list: Sequence[str] | None) -> tuple[str, ...] | None:
    if not alpn_list:
        return None
    if isinstance(alpn_list, str):
        raise TypeError("alpn_list must be a list of str, not a str")
    return tuple(alpn_list)


def _pem_text(buffer: _Buffer) -> str:
    try:
        return bytes(buffer).decode("ascii")
    except UnicodeDecodeError as exc:
        raise error("AWS_ERROR_INVALID_ARGUMENT", "ca_buffer is not PEM text") from exc


def _client_cert_chain(options: TlsContextOptions) -> tuple[bytes, bytes] | None:
    """The (certificate chain PEM, private key PEM) of the options, if any."""
    if options.pkcs12_filepath is not None:
        return _read_pkcs12(options.pkcs12_filepath, options.pkcs12_password)
    cert, key = options.certificate_buffer, options.private_key_buffer
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise error("AWS_ERROR_INVALID_ARGUMENT",
                    "mutual TLS needs both certificate_buffer and private_key_buffer")
    return bytes(cert), bytes(key)


def _read_pkcs12(path: str, password: str | None) -> tuple[bytes, bytes]:
    try:
        from cryptography.hazmat.primitives.serialization import (
            Encoding,
            NoEncryption,
            PrivateFormat,
            pkcs12,
        )
    except ImportError as exc:
        raise error("AWS_ERROR_PLATFORM_NOT_SUPPORTED",
                    "PKCS#12 needs the 'cryptography' package: "
                    "pip install 'crt_http[pkcs12]'") from exc
    data = _read_file(path)
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(
            data, password.encode() if password else None)
    except ValueError as exc:
        raise error("AWS_ERROR_INVALID_ARGUMENT",
                    f"{path} could not be read as PKCS#12 with this password: {exc}") from exc
    if key is None or cert is None:
        raise error("AWS_ERROR_INVALID_ARGUMENT",
                    f"{path} holds no certificate with its private key")
    chain = b"".join(c.public_bytes(Encoding.PEM) for c in [cert, *extra])
    key_pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    return chain, key_pem


def _load_cert_chain(context: ssl.SSLContext, cert: bytes, key: bytes) -> None:
    """Load a PEM certificate chain and key from memory: ``ssl`` reads only files, so they
    go through private temporary files that are deleted at once."""
    with tempfile.TemporaryDirectory(prefix="crt_http-") as tmp:  # mode 0700
        cert_path = os.path.join(tmp, "cert.pem")
        key_path = os.path.join(tmp, "key.pem")
        for path, data in ((cert_path, cert), (key_path, key)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
        try:
            # An encrypted key would make OpenSSL prompt on the terminal; the empty
            # password makes it fail instead.
            context.load_cert_chain(cert_path, key_path, password=b"")
        except ssl.SSLError as exc:
            raise error("AWS_ERROR_INVALID_ARGUMENT",
                        f"the client certificate or private key could not be loaded: {exc}"
                        ) from exc


class TlsConnectionOptions:
    """Per-connection TLS options over a shared :class:`ClientTlsContext`.

    Attributes:
        tls_ctx: the context.
        alpn_list: ALPN names set by :meth:`set_alpn_list`, else None.
        server_name: the SNI / certificate name set by :meth:`set_server_name`, else None
            (the connection's host name is used).
    """

    __slots__ = ("alpn_list", "server_name", "tls_ctx")

    def __init__(self, tls_ctx: ClientTlsContext) -> None:
        if not isinstance(tls_ctx, ClientTlsContext):
            raise TypeError(f"tls_ctx must be a ClientTlsContext, got {type(tls_ctx).__name__}")
        self.tls_ctx = tls_ctx
        self.alpn_list: list[str] | None = None
        self.server_name: str | None = None

    def set_alpn_list(self, alpn_list: Sequence[str] | None) -> None:
        """Offer these ALPN protocol names, overriding the context's ``alpn_list``; None or
        an empty list removes the override."""
        alpn = _alpn_tuple(alpn_list)
        self.alpn_list = None if alpn is None else list(alpn)

    def set_server_name(self, server_name: str) -> None:
        """Send ``server_name`` as SNI and check the certificate against it."""
        _check_str("server_name", server_name)
        self.server_name = server_name

    def _ssl_context(self, default_alpn: tuple[str, ...] | None) -> ssl.SSLContext:
        """The ``ssl.SSLContext`` for a connection: ALPN from :meth:`set_alpn_list`, else the
        context's ``alpn_list``, else ``default_alpn`` (the connection class's choice)."""
        alpn = self.alpn_list
        return self.tls_ctx._ssl_context(
            tuple(alpn) if alpn else (self.tls_ctx._alpn or default_alpn))


def is_alpn_available() -> bool:
    """True if ALPN is supported by this Python's ``ssl`` module."""
    return ssl.HAS_ALPN


class Pkcs11Lib:
    """A PKCS#11 library handle: not available in crt_http (``NotImplementedError``)."""

    class InitializeFinalizeBehavior(IntEnum):
        DEFAULT = 0
        OMIT = 1
        STRICT = 2

    def __init__(self, *, file: str,
                 behavior: Pkcs11Lib.InitializeFinalizeBehavior | None = None) -> None:
        raise NotImplementedError(_NO_PKCS11)


class ExponentialBackoffJitterMode(IntEnum):
    """Randomization of retry delays (the names of awscrt.io)."""

    DEFAULT = 0
    NONE = 1
    FULL = 2
    DECORRELATED = 3

