"""The awscrt HTTP API, loaded by package name: "awscrt" or its drop-in "crt_http".

Both clients built on it (crt_sync, crt_aio) use only names that awscrt 0.38.0 exposes, so
the same code measures awscrt and crt_http.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from .common import Job

PACKAGES = ("awscrt", "crt_http")


class CrtApi:
    """``http``, ``io`` (and ``aio`` when asked) modules of one package, plus job helpers."""

    def __init__(self, package: str, job: Job, with_aio: bool = False) -> None:
        if package not in PACKAGES:
            raise ValueError(f"package must be one of {PACKAGES}, not {package!r}")
        names = ["http", "io"] + (["aio.http"] if with_aio else [])
        mods: dict[str, ModuleType] = {}
        for name in names:
            try:
                mods[name] = importlib.import_module(f"{package}.{name}")
            except ImportError as exc:
                raise ImportError(f"cannot import {package}.{name}: {exc}") from None
        self.package = package
        self.http = mods["http"]
        self.io = mods["io"]
        self.aio = mods.get("aio.http")
        self.job = job
        self._tls_ctx: Any = None

    def tls_options(self, h2: bool) -> Any:
        """TlsConnectionOptions trusting the job's CA, SNI = server_name, one ALPN id."""
        if self._tls_ctx is None:
            opts = self.io.TlsContextOptions()
            opts.override_default_trust_store_from_path(None, self.job.ca_file)
            self._tls_ctx = self.io.ClientTlsContext(opts)
        conn_opts = self._tls_ctx.new_connection_options()
        conn_opts.set_server_name(self.job.server_name)
        conn_opts.set_alpn_list(["h2"] if h2 else ["http/1.1"])
        return conn_opts

    def request(self, method: str, path: str, port: int, length: int | None = None,
                body: Any = None) -> Any:
        """An HttpRequest with Host (and Content-Length and body stream for uploads)."""
        headers = self.http.HttpHeaders([("Host", f"{self.job.server_name}:{port}")])
        if length is not None:
            headers.add("Content-Length", str(length))
        return self.http.HttpRequest(method, path, headers, body)
