"""Certificates for the test servers, made once per process with trustme.

``get_certs()`` returns the process-wide :class:`CertBundle` (the ``ca`` fixture is this
object). What it holds:

- ``ca``: the CA the client is told to trust (``ca_pem`` bytes, ``ca_file`` path).
- ``server``: leaf for ``localhost``, ``127.0.0.1`` and ``::1``, signed by ``ca``.
- ``wrong_host``: leaf for ``wrong.example`` only, signed by ``ca`` (host-mismatch tests).
- ``expired``: leaf for the same names as ``server``, signed by ``ca``, expired yesterday.
- ``untrusted_ca`` / ``untrusted``: a second CA the client does not trust and a
  ``localhost`` leaf signed by it (unknown-root tests).
- ``client``: a client certificate (``client.example``) signed by ``ca`` for mTLS tests;
  ``client_cert_file`` / ``client_key_file``.

``server_context(kind, alpn, require_client_cert)`` builds (and caches) a server-side
``ssl.SSLContext``; ``kind`` is one of :data:`KINDS`. ``cert_files(kind)`` gives
``(cert_chain_path, key_path)`` PEM files (for nginx / nghttpd). All files live in one temp
dir of mode 0755 (files 0644) so servers that drop privileges can read them; it is removed by
``cleanup()`` (the session fixture calls it; an ``atexit`` hook is the fallback).
"""

from __future__ import annotations

import atexit
import datetime
import os
import shutil
import ssl
import tempfile
import threading

import trustme

KINDS = ("server", "wrong-host", "expired", "untrusted")
SERVER_IDENTITIES = ("localhost", "127.0.0.1", "::1")


class CertBundle:
    """All test certificates plus their PEM files (see module docstring)."""

    def __init__(self) -> None:
        now = datetime.datetime.now(datetime.timezone.utc)
        self.ca = trustme.CA(organization_name="crt_http test CA")
        self.server = self.ca.issue_cert(*SERVER_IDENTITIES)
        self.wrong_host = self.ca.issue_cert("wrong.example")
        self.expired = self.ca.issue_cert(
            *SERVER_IDENTITIES,
            not_before=now - datetime.timedelta(days=30),
            not_after=now - datetime.timedelta(days=1),
        )
        self.untrusted_ca = trustme.CA(organization_name="crt_http UNTRUSTED CA")
        self.untrusted = self.untrusted_ca.issue_cert(*SERVER_IDENTITIES)
        self.client = self.ca.issue_cert("client.example")
        self._leaves = {
            "server": self.server,
            "wrong-host": self.wrong_host,
            "expired": self.expired,
            "untrusted": self.untrusted,
        }
        self.dir = tempfile.mkdtemp(prefix="crt_http_certs_")
        os.chmod(self.dir, 0o755)
        self.ca_pem: bytes = self.ca.cert_pem.bytes()
        self.ca_file = self._write("ca.pem", self.ca_pem)
        self.untrusted_ca_file = self._write("untrusted-ca.pem", self.untrusted_ca.cert_pem.bytes())
        self._files: dict[str, tuple[str, str]] = {}
        for kind, leaf in self._leaves.items():
            chain = b"".join(b.bytes() for b in leaf.cert_chain_pems)
            self._files[kind] = (
                self._write(f"{kind}.crt", chain),
                self._write(f"{kind}.key", leaf.private_key_pem.bytes()),
            )
        self.client_cert_file = self._write("client.crt", b"".join(b.bytes() for b in self.client.cert_chain_pems))
        self.client_key_file = self._write("client.key", self.client.private_key_pem.bytes())
        self.client_cert_pem: bytes = self.client.cert_chain_pems[0].bytes()
        self.client_key_pem: bytes = self.client.private_key_pem.bytes()
        self._contexts: dict[tuple[str, tuple[str, ...], bool], ssl.SSLContext] = {}
        self._lock = threading.Lock()

    def _write(self, name: str, data: bytes) -> str:
        path = os.path.join(self.dir, name)
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, 0o644)
        return path

    def cert_files(self, kind: str = "server") -> tuple[str, str]:
        """``(certificate chain PEM path, private key PEM path)`` of leaf ``kind``."""
        return self._files[kind]

    def server_context(
        self,
        kind: str = "server",
        alpn: tuple[str, ...] | list[str] | None = ("http/1.1",),
        require_client_cert: bool = False,
    ) -> ssl.SSLContext:
        """Server-side context presenting leaf ``kind`` and offering ``alpn`` (None: no ALPN).

        ``require_client_cert`` demands a client certificate signed by ``ca``. Cached: the
        same arguments give the same context object.
        """
        if kind not in self._leaves:
            raise ValueError(f"unknown cert kind {kind!r}; one of {KINDS}")
        key = (kind, tuple(alpn) if alpn else (), require_client_cert)
        with self._lock:
            ctx = self._contexts.get(key)
            if ctx is None:
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                self._leaves[kind].configure_cert(ctx)
                if alpn:
                    ctx.set_alpn_protocols(list(alpn))
                if require_client_cert:
                    ctx.verify_mode = ssl.CERT_REQUIRED
                    self.ca.configure_trust(ctx)
                self._contexts[key] = ctx
            return ctx

    def client_context(self, alpn: tuple[str, ...] | list[str] | None = None) -> ssl.SSLContext:
        """A client context trusting ``ca`` (for tests that talk to servers with raw sockets)."""
        ctx = ssl.create_default_context(cafile=self.ca_file)
        if alpn:
            ctx.set_alpn_protocols(list(alpn))
        return ctx

    def cleanup(self) -> None:
        """Remove the temp dir (idempotent)."""
        shutil.rmtree(self.dir, ignore_errors=True)


_bundle: CertBundle | None = None
_bundle_lock = threading.Lock()


def get_certs() -> CertBundle:
    """The process-wide bundle, created on first use (~50 ms)."""
    global _bundle
    with _bundle_lock:
        if _bundle is None or not os.path.isdir(_bundle.dir):
            _bundle = CertBundle()
            atexit.register(_bundle.cleanup)
        return _bundle
