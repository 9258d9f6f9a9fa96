"""A small HTTP client program written for awscrt, used as-is to prove that crt_http is a
drop-in replacement (tests/test_dropin.py runs it with awscrt and, with ``awscrt`` replaced
by ``crt_http`` in its import lines, with crt_http, and compares the transcripts).

It prints one line per observation, ``<label>: <value>``, in a fixed order: nothing that
depends on timing, chunk boundaries or error message wording. Every section catches its own
exceptions so that one failure shows up as one line, not as a missing transcript.

Usage: awscrt_program.py --h1 PORT --h2 PORT --h1-tls PORT --untrusted PORT --refused PORT --ca FILE
  --h1        plain HTTP/1.1 test server (tests/servers/h1.py)
  --h2        HTTP/2 over TLS test server (ALPN h2, cert for localhost)
  --h1-tls    HTTP/1.1 over TLS test server (ALPN http/1.1 only)
  --untrusted HTTP/1.1 over TLS whose certificate is signed by a CA the client does not trust
  --refused   a port nobody listens on
  --ca        the CA file that signs the trusted servers' certificates
"""

import argparse
import asyncio
import io as stdio
import re
import threading
import time

from awscrt import exceptions, http, io
from awscrt.aio.http import AIOHttp2ClientConnection, AIOHttpClientConnection, AIOHttpClientConnectionUnified
from awscrt.http import (
    Http2ClientConnection,
    HttpClientConnection,
    HttpHeaders,
    HttpRequest,
    HttpVersion,
)

TIMEOUT = 30.0
UNIT = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxy"


def pattern(n):
    return (UNIT * (n // len(UNIT) + 1))[:n]


def out(label, value):
    print(f"{label}: {value}", flush=True)


def error_name(exc):
    """The CRT error name of an exception (awscrt raises bare RuntimeError("NNNN (NAME): ...")
    from some synchronous calls)."""
    name = getattr(exc, "name", None)
    if name:
        return name
    found = re.search(r"\((AWS_[A-Z0-9_]+)\)", str(exc))
    return found.group(1) if found else type(exc).__name__


def section(fn):
    """Run one section; an unexpected exception becomes one transcript line."""
    try:
        fn()
    except Exception as exc:  # the transcript records it
        out(f"{fn.__name__}.unexpected", f"{type(exc).__name__} {error_name(exc)}")


class Exchange:
    """Collects what the callbacks of one stream saw (they run on the CRT's threads)."""

    def __init__(self, stall_after=None):
        self.status = None
        self.headers = None
        self.response_kwargs = None
        self.body_kwargs = None
        self.body = bytearray()
        self.got = threading.Event()
        self.stall_after = stall_after
        self.caller = threading.current_thread()
        self.callback_threads = set()

    def on_response(self, http_stream, status_code, headers, **kwargs):
        self.callback_threads.add(threading.current_thread() is self.caller)
        self.response_kwargs = sorted(["http_stream", "status_code", "headers"] + list(kwargs))
        self.status = status_code
        self.headers = list(headers)

    def on_body(self, http_stream, chunk, **kwargs):
        self.callback_threads.add(threading.current_thread() is self.caller)
        self.body_kwargs = sorted(["http_stream", "chunk"] + list(kwargs))
        self.body += chunk
        if self.stall_after is not None and len(self.body) >= self.stall_after:
            self.got.set()

    def header(self, name):
        for key, value in self.headers or []:
            if key.lower() == name:
                return value
        return None


def request(method="GET", path="/echo", headers=(), body=None):
    hdrs = HttpHeaders([("Host", "localhost")] + list(headers))
    return HttpRequest(method, path, hdrs, body)


def tls_options(ca, alpn):
    opts = io.TlsContextOptions()
    opts.override_default_trust_store_from_path(ca_filepath=ca)
    conn_opts = io.ClientTlsContext(opts).new_connection_options()
    conn_opts.set_server_name("localhost")
    conn_opts.set_alpn_list(alpn)
    return conn_opts


def connect(cls, port, **kwargs):
    future = cls.new("localhost" if "tls_connection_options" in kwargs else "127.0.0.1", port, **kwargs)
    out("new.returns", type(future).__module__ + "." + type(future).__name__)
    return future.result(TIMEOUT)


def run_exchange(conn, req, label, **kwargs):
    ex = Exchange(kwargs.pop("stall_after", None))
    stream = conn.request(req, ex.on_response, ex.on_body, **kwargs)
    out(f"{label}.status_before", stream.response_status_code)
    stream.activate()
    try:
        status = stream.completion_future.result(TIMEOUT)
        out(f"{label}.completion", status)
    except Exception as exc:
        out(f"{label}.completion_error", error_name(exc))
    out(f"{label}.status_after", stream.response_status_code)
    return ex, stream


# --------------------------------------------------------------------------- HTTP/1.1


def h1_get_and_put(args):
    def h1_get():
        conn = connect(HttpClientConnection, args.h1)
        out("h1.type", (type(conn).__name__, isinstance(conn, http.HttpClientConnectionBase)))
        out("h1.version", conn.version is HttpVersion.Http1_1)
        out("h1.open", conn.is_open())
        out("h1.host_port", (conn.host_name, conn.port) == ("127.0.0.1", args.h1))
        ex, stream = run_exchange(conn, request(headers=[("x-repeat-data", "100000")]), "h1.get")
        out("h1.get.response_kwargs", ex.response_kwargs)
        out("h1.get.body_kwargs", ex.body_kwargs)
        out("h1.get.callbacks_on_caller_thread", sorted(ex.callback_threads))
        out("h1.get.headers", ex.headers)
        out("h1.get.body", (len(ex.body), bytes(ex.body) == pattern(100000)))
        out("h1.get.stream_version", stream.version is HttpVersion.Http1_1)
        out("h1.get.stream_connection", stream.connection is conn)

        body = b"put body \x00\xff" * 100
        ex, _ = run_exchange(conn, request("PUT", "/echo", [("Content-Length", str(len(body)))],
                                           stdio.BytesIO(body)), "h1.put")
        import json
        echo = json.loads(bytes(ex.body))
        out("h1.put.echo", (echo["method"], echo["path"], echo["headers"], echo["body_len"]))
        out("h1.put.echo_body", echo["body"].encode("latin-1") == body)

        big = 300_000
        ex, _ = run_exchange(conn, request("PUT", "/upload", [("Content-Length", str(big)),
                                                              ("x-upload-test", "true")],
                                           stdio.BytesIO(pattern(big))), "h1.upload")
        out("h1.upload.counted", bytes(ex.body))

        ex, _ = run_exchange(conn, request(headers=[("x-expect-status", "404")]), "h1.404")
        out("h1.404.status", ex.status)

        out("h1.close_is_shutdown_future", conn.close() is conn.shutdown_future)
        out("h1.shutdown", conn.shutdown_future.result(TIMEOUT))
        out("h1.open_after_close", conn.is_open())
        try:
            conn.request(request())
            out("h1.request_after_close", "no error")
        except Exception as exc:
            out("h1.request_after_close", (isinstance(exc, RuntimeError), error_name(exc)))

    section(h1_get)


def h1_flow_control(args):
    def h1_window():
        conn = connect(HttpClientConnection, args.h1, manual_window_management=True,
                       initial_window_size=1000)
        ex = Exchange(stall_after=1000)
        stream = conn.request(request(headers=[("x-repeat-data", "50000")]), ex.on_response, ex.on_body)
        stream.activate()
        out("h1.window.reached", ex.got.wait(TIMEOUT))
        time.sleep(0.3)
        out("h1.window.received_while_closed", len(ex.body))
        out("h1.window.done_while_closed", stream.completion_future.done())
        stream.update_window(49000)
        out("h1.window.completion", stream.completion_future.result(TIMEOUT))
        out("h1.window.body", (len(ex.body), bytes(ex.body) == pattern(50000)))
        conn.close().result(TIMEOUT)

    section(h1_window)


# --------------------------------------------------------------------------- HTTP/2


def h2_sections(args):
    def h2_manual_write():
        conn = connect(Http2ClientConnection, args.h2, tls_connection_options=tls_options(args.ca, ["h2"]))
        out("h2.type", (type(conn).__name__, isinstance(conn, HttpClientConnection)))
        out("h2.version", conn.version is HttpVersion.Http2)
        ex = Exchange()
        stream = conn.request(request("POST", "/echo"), ex.on_response, ex.on_body, manual_write=True)
        out("h2.stream_type", (type(stream).__name__, isinstance(stream, http.HttpClientStream)))
        stream.activate()
        first = stream.write_data(stdio.BytesIO(b"hello "))
        second = stream.write_data(stdio.BytesIO(b"world"), end_stream=False)
        last = stream.write_data(None, end_stream=True)
        out("h2.write_results", [f.result(TIMEOUT) for f in (first, second, last)])
        out("h2.completion", stream.completion_future.result(TIMEOUT))
        out("h2.remote_end", stream.remote_end_stream_future.result(TIMEOUT))
        import json
        echo = json.loads(bytes(ex.body))
        out("h2.echo", (echo["method"], echo["path"], echo["headers"], echo["body"]))
        out("h2.response_headers", ex.headers)

        ex2 = Exchange()
        plain = conn.request(request(), ex2.on_response, ex2.on_body)
        try:
            plain.write_data(stdio.BytesIO(b"x"))
            out("h2.write_without_manual_write", "no error")
        except Exception as exc:
            out("h2.write_without_manual_write", (isinstance(exc, RuntimeError), error_name(exc)))
        del plain

        ex, stream = run_exchange(conn, request(headers=[("x-repeat-data", "70000")]), "h2.get")
        out("h2.get.body", (len(ex.body), bytes(ex.body) == pattern(70000)))
        out("h2.get.stream_version", stream.version is HttpVersion.Http2)
        conn.update_window(1000)  # automatic connection window: accepted, no effect to see
        out("h2.close", conn.close().result(TIMEOUT))

    def h2_window():
        conn = connect(Http2ClientConnection, args.h2, tls_connection_options=tls_options(args.ca, ["h2"]),
                       manual_window_management=True, initial_window_size=1000)
        ex = Exchange(stall_after=1000)
        stream = conn.request(request(headers=[("x-repeat-data", "20000")]), ex.on_response, ex.on_body)
        stream.activate()
        out("h2.window.reached", ex.got.wait(TIMEOUT))
        time.sleep(0.3)
        out("h2.window.received_while_closed", len(ex.body))
        stream.update_window(19000)
        out("h2.window.completion", stream.completion_future.result(TIMEOUT))
        out("h2.window.body", (len(ex.body), bytes(ex.body) == pattern(20000)))
        conn.close().result(TIMEOUT)

    def h2_callback_raises():
        conn = connect(Http2ClientConnection, args.h2, tls_connection_options=tls_options(args.ca, ["h2"]))

        def bad(http_stream, status_code, headers, **kwargs):
            raise ValueError("callback failed on purpose")

        stream = conn.request(request(), on_response=bad)
        stream.activate()
        try:
            stream.completion_future.result(TIMEOUT)
            out("h2.callback_raises", "no error")
        except Exception as exc:
            out("h2.callback_raises", error_name(exc))
        time.sleep(0.2)
        out("h2.callback_raises.connection_open", conn.is_open())
        conn.close().exception(TIMEOUT)

    def h2_close_mid_body():
        conn = connect(Http2ClientConnection, args.h2, tls_connection_options=tls_options(args.ca, ["h2"]))
        ex, _ = run_exchange(conn, request(headers=[("x-fault", "close-mid-body"),
                                                   ("x-repeat-data", "10000")]), "h2.close_mid_body")
        out("h2.close_mid_body.received", len(ex.body))
        out("h2.close_mid_body.shutdown", error_name(conn.shutdown_future.exception(TIMEOUT)))

    for fn in (h2_manual_write, h2_window, h2_callback_raises, h2_close_mid_body):
        section(fn)


# --------------------------------------------------------------------------- errors


def error_sections(args):
    def refused():
        try:
            http.HttpClientConnection.new("127.0.0.1", args.refused).result(TIMEOUT)
            out("refused", "connected")
        except exceptions.AwsCrtError as exc:
            out("refused", (exc.name, exc.code))

    def untrusted():
        try:
            args.untrusted_future.result(TIMEOUT)  # started first: awscrt takes ~10 s to fail
            out("untrusted", "connected")
        except exceptions.AwsCrtError as exc:
            out("untrusted", (exc.name, exc.code))

    def h2_on_h1_only():
        try:
            connect(Http2ClientConnection, args.h1_tls, tls_connection_options=tls_options(args.ca, ["h2", "http/1.1"]))
            out("h2_on_h1_only", "connected")
        except exceptions.AwsCrtError as exc:
            out("h2_on_h1_only", exc.name)

    def h1_protocol_error():
        conn = connect(HttpClientConnection, args.h1)
        run_exchange(conn, request(headers=[("x-fault", "malformed-status")]), "h1.malformed_status")
        out("h1.malformed_status.open", conn.is_open())
        conn.close().exception(TIMEOUT)

    def h1_read_until_close():
        conn = connect(HttpClientConnection, args.h1)
        ex, _ = run_exchange(conn, request(headers=[("x-framing", "close"), ("x-repeat-data", "3000")]),
                             "h1.read_until_close")
        out("h1.read_until_close.body", (len(ex.body), bytes(ex.body) == pattern(3000)))
        conn.close().exception(TIMEOUT)

    def h2_rst_stream():
        conn = connect(Http2ClientConnection, args.h2, tls_connection_options=tls_options(args.ca, ["h2"]))
        ex = Exchange()
        stream = conn.request(request(headers=[("x-fault", "rst-stream"), ("x-fault-code", "2")]),
                              ex.on_response, ex.on_body)
        stream.activate()
        out("h2.rst_stream", error_name(stream.completion_future.exception(TIMEOUT)))
        out("h2.rst_stream.remote_end", type(stream.remote_end_stream_future.exception(TIMEOUT)).__name__)
        out("h2.rst_stream.connection_open", conn.is_open())
        out("h2.rst_stream.close", conn.close().result(TIMEOUT))

    def h1_close_mid_body():
        conn = connect(HttpClientConnection, args.h1)
        ex, _ = run_exchange(conn, request(headers=[("x-fault", "close-mid-body"),
                                                   ("x-repeat-data", "10000")]), "h1.close_mid_body")
        out("h1.close_mid_body.received", (len(ex.body), bytes(ex.body) == pattern(5000)))
        out("h1.close_mid_body.shutdown", error_name(conn.shutdown_future.exception(TIMEOUT)))

    def from_code():
        out("from_code", [type(exceptions.from_code(c)).__name__ for c in (1, 5, 10, 34, 37, 44, 1043, 1044)])
        err = exceptions.from_code(1047)
        out("from_code.1047", (type(err).__name__, err.code, err.name))

    for fn in (refused, untrusted, h2_on_h1_only, h1_protocol_error, h1_read_until_close, h2_rst_stream,
               h1_close_mid_body, from_code):
        section(fn)


# --------------------------------------------------------------------------- asyncio API


def aio_sections(args):
    async def aio_h1():
        conn = await AIOHttpClientConnection.new("127.0.0.1", args.h1)
        out("aio.h1.type", type(conn).__name__)
        stream = conn.request(request(headers=[("x-repeat-data", "30000")]))
        out("aio.h1.status", await stream.get_response_status_code())
        headers = await stream.get_response_headers()
        out("aio.h1.headers", headers)
        body = bytearray()
        while True:
            chunk = await stream.get_next_response_chunk()
            if not chunk:
                break
            body += chunk
        out("aio.h1.body", (len(body), bytes(body) == pattern(30000)))
        out("aio.h1.completion", await stream.wait_for_completion())
        out("aio.h1.completion_future", type(stream.completion_future).__module__)
        await conn.close()
        out("aio.h1.open_after_close", conn.is_open())

    async def aio_unified_h2():
        conn = await AIOHttpClientConnectionUnified.new(
            "localhost", args.h2, tls_connection_options=tls_options(args.ca, ["h2"]))
        out("aio.unified.type", type(conn).__name__)
        out("aio.unified.version", conn.version is HttpVersion.Http2)

        async def body():
            yield b"abc"
            yield b"def"

        stream = conn.request(request("POST", "/echo"), body())
        out("aio.unified.stream_type", type(stream).__name__)
        out("aio.unified.status", await stream.get_response_status_code())
        data = bytearray()
        while True:
            chunk = await stream.get_next_response_chunk()
            if not chunk:
                break
            data += chunk
        import json
        out("aio.unified.echo_body", json.loads(bytes(data))["body"])
        out("aio.unified.completion", await stream.wait_for_completion())
        await conn.close()

    async def aio_h2_404():
        conn = await AIOHttp2ClientConnection.new(
            "localhost", args.h2, tls_connection_options=tls_options(args.ca, ["h2"]))
        stream = conn.request(request(headers=[("x-expect-status", "404")]))
        out("aio.h2.404", await stream.wait_for_completion())
        await conn.close()

    async def aio_refused():
        try:
            await AIOHttpClientConnection.new("127.0.0.1", args.refused)
            out("aio.refused", "connected")
        except exceptions.AwsCrtError as exc:
            out("aio.refused", exc.name)

    for coro_fn in (aio_h1, aio_unified_h2, aio_h2_404, aio_refused):
        def run(coro_fn=coro_fn):
            asyncio.run(asyncio.wait_for(coro_fn(), TIMEOUT))
        run.__name__ = coro_fn.__name__
        section(run)


def main():
    parser = argparse.ArgumentParser()
    for name in ("--h1", "--h2", "--h1-tls", "--untrusted", "--refused"):
        parser.add_argument(name, type=int, required=True)
    parser.add_argument("--ca", required=True)
    args = parser.parse_args()
    args.untrusted_future = HttpClientConnection.new(
        "localhost", args.untrusted, tls_connection_options=tls_options(args.ca, ["http/1.1"]))
    for part in (h1_get_and_put, h1_flow_control, h2_sections, error_sections, aio_sections):
        part(args)
    out("end", "ok")


if __name__ == "__main__":
    main()
