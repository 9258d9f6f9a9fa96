"""``crt-http``: fetch a URL with crt_http and print the response (a small curl).

    crt-http [-X METHOD] [-H 'Name: value'] [-d DATA | --data-file PATH] [--http2 | --http1.1]
             [-i] [-k] [--cacert PATH] [-o FILE] URL
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any, AsyncIterator, List, Optional, Sequence
from urllib.parse import urlsplit

from crt_http._models import HttpHeaders, HttpRequest
from crt_http.aio.http import (
    AIOHttp2ClientConnection, AIOHttpClientConnection, AIOHttpClientConnectionUnified,
)
from crt_http.exceptions import AwsCrtError
from crt_http.io import ClientBootstrap, ClientTlsContext, TlsConnectionOptions, TlsContextOptions


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="crt-http", description="Fetch a URL with crt_http.")
    p.add_argument("url")
    p.add_argument("-X", "--request", dest="method", default=None, help="method (default GET, or PUT with a body)")
    p.add_argument("-H", "--header", action="append", default=[], help="'Name: value' (repeatable)")
    p.add_argument("-d", "--data", default=None, help="request body (text)")
    p.add_argument("--data-file", default=None, help="request body from a file")
    version = p.add_mutually_exclusive_group()
    version.add_argument("--http2", action="store_true", help="HTTP/2 only (h2c on http://)")
    version.add_argument("--http1.1", dest="http1", action="store_true", help="HTTP/1.1 only")
    p.add_argument("-i", "--include", action="store_true", help="print the status line and headers")
    p.add_argument("-k", "--insecure", action="store_true", help="do not verify the certificate")
    p.add_argument("--cacert", default=None, help="CA bundle (PEM) to trust instead of the system's")
    p.add_argument("-o", "--output", default=None, help="write the body to this file")
    return p


def _tls_options(host: str, insecure: bool, cacert: Optional[str]) -> TlsConnectionOptions:
    ctx_opts = TlsContextOptions()
    ctx_opts.verify_peer = not insecure
    if cacert:
        ctx_opts.override_default_trust_store_from_path(ca_filepath=cacert)
    options = ClientTlsContext(ctx_opts).new_connection_options()
    options.set_server_name(host)
    return options


async def fetch(argv: Sequence[str], out: Any = None) -> int:
    """Run the command; returns the process exit code (0 for any HTTP status, 1 on error)."""
    args = _parser().parse_args(argv)
    parts = urlsplit(args.url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        print(f"crt-http: unsupported URL {args.url!r} (http:// or https:// only)", file=sys.stderr)
        return 2
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    headers = HttpHeaders([("Host", parts.netloc)])
    for raw in args.header:
        name, _, value = raw.partition(":")
        headers.add(name.strip(), value.strip())
    body: Optional[bytes] = None
    if args.data is not None:
        body = args.data.encode()
    elif args.data_file is not None:
        with open(args.data_file, "rb") as f:
            body = f.read()
    if body is not None and headers.get("content-length") is None:
        headers.add("Content-Length", str(len(body)))
    method = args.method or ("PUT" if body is not None else "GET")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    cls: Any = AIOHttpClientConnectionUnified
    if args.http2:
        cls = AIOHttp2ClientConnection
    elif args.http1:
        cls = AIOHttpClientConnection
    tls_opts = _tls_options(parts.hostname, args.insecure, args.cacert) if tls else None
    sink = out if out is not None else sys.stdout.buffer
    try:
        conn = await cls.new(parts.hostname, port, ClientBootstrap.get_or_create_static_default(),
                             tls_connection_options=tls_opts)
        try:
            stream = conn.request(HttpRequest(method, path, headers, _body_stream(body)))
            status = await stream.get_response_status_code()
            if args.include:
                lines: List[str] = [f"HTTP/{_version_text(stream.version)} {status}"]
                lines += [f"{n}: {v}" for n, v in await stream.get_response_headers()]
                sys.stderr.write("\n".join(lines) + "\n\n")
            target = open(args.output, "wb") if args.output else None
            try:
                async for chunk in _chunks(stream):
                    (target or sink).write(chunk)  # type: ignore[attr-defined]
            finally:
                if target is not None:
                    target.close()
            await stream.wait_for_completion()
        finally:
            await conn.close()
    except AwsCrtError as exc:
        print(f"crt-http: {exc}", file=sys.stderr)
        return 1
    return 0


def _body_stream(body: Optional[bytes]) -> Optional[object]:
    if body is None:
        return None
    import io
    return io.BytesIO(body)


async def _chunks(stream: object) -> AsyncIterator[bytes]:
    while True:
        chunk = await stream.get_next_response_chunk()  # type: ignore[attr-defined]
        if not chunk:
            return
        yield chunk


def _version_text(version: object) -> str:
    return {1: "1.0", 2: "1.1", 3: "2", 4: "3"}.get(int(version), "?")  # type: ignore[call-overload]


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``crt-http`` command."""
    return asyncio.run(fetch(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
