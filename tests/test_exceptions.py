"""crt_http.exceptions: AwsCrtError, from_code, error, and the translate() boundary table."""

from __future__ import annotations

import asyncio
import errno
import os
import pickle
import socket
import ssl
from pathlib import Path

import h2.config
import h2.connection
import h2.exceptions
import h11
import hpack.exceptions
import pytest

from crt_http import exceptions
from crt_http._error_table import ERRORS
from crt_http.exceptions import AwsCrtError, error, from_code, translate

# --- AwsCrtError -----------------------------------------------------------------------------


def test_aws_crt_error_fields_str_repr() -> None:
    e = AwsCrtError(1047, "AWS_IO_SOCKET_CONNECTION_REFUSED", "socket connection refused.")
    assert (e.code, e.name, e.message) == (1047, "AWS_IO_SOCKET_CONNECTION_REFUSED",
                                           "socket connection refused.")
    assert str(e) == "AWS_IO_SOCKET_CONNECTION_REFUSED: socket connection refused."
    assert repr(e) == ("AwsCrtError(name='AWS_IO_SOCKET_CONNECTION_REFUSED', "
                       "message='socket connection refused.', code=1047)")
    assert isinstance(e, RuntimeError)
    with pytest.raises(RuntimeError):
        raise e


def test_aws_crt_error_repr_matches_awscrt() -> None:
    awscrt_exceptions = pytest.importorskip("awscrt.exceptions")
    for code in (0, 3, 1029, 1047, 2058, 2074, 99999):
        theirs, ours = awscrt_exceptions.from_code(code), from_code(code)
        assert (repr(ours), str(ours)) == (repr(theirs), str(theirs))


def test_aws_crt_error_pickles() -> None:
    e = error("AWS_ERROR_HTTP_CONNECTION_CLOSED", "closed by peer example.org:443")
    clone = pickle.loads(pickle.dumps(e))
    assert type(clone) is AwsCrtError
    assert (clone.code, clone.name, clone.message, str(clone)) == (e.code, e.name, e.message,
                                                                  str(e))


# --- from_code / error / table ---------------------------------------------------------------

BUILTINS = [(1, MemoryError), (5, OverflowError), (10, IndexError), (34, ValueError),
            (37, NotImplementedError), (44, FileNotFoundError), (1043, BlockingIOError),
            (1044, BrokenPipeError)]


@pytest.mark.parametrize(("code", "cls"), BUILTINS)
def test_from_code_builtins(code: int, cls: type[BaseException]) -> None:
    exc = from_code(code)
    assert type(exc) is cls
    assert not isinstance(exc, AwsCrtError)


def test_from_code_crt_errors() -> None:
    e = from_code(2058)
    assert isinstance(e, AwsCrtError)
    assert (e.code, e.name, e.message) == (2058, "AWS_ERROR_HTTP_CONNECTION_CLOSED",
                                           "The connection has closed or is closing.")
    for unknown in (-1, 2047, 99999):
        u = from_code(unknown)
        assert isinstance(u, AwsCrtError)
        assert (u.code, u.name, u.message) == (unknown, "Unknown Error Code", "Unknown Error Code")


def test_error_by_name() -> None:
    e = error("AWS_IO_SOCKET_CONNECTION_REFUSED")
    assert (e.code, e.message) == (1047, "socket connection refused.")
    d = error("AWS_IO_SOCKET_CONNECTION_REFUSED", "connecting to localhost:1")
    assert d.message == "socket connection refused.: connecting to localhost:1"
    assert str(d) == "AWS_IO_SOCKET_CONNECTION_REFUSED: socket connection refused.: " \
                     "connecting to localhost:1"
    with pytest.raises(KeyError):
        error("AWS_NO_SUCH_ERROR")


def test_table_matches_awscrt() -> None:
    _awscrt = pytest.importorskip("_awscrt")
    assert len(ERRORS) > 250
    for code, (name, message) in ERRORS.items():
        assert (_awscrt.get_error_name(code), _awscrt.get_error_message(code)) == (name, message)


def test_generated_table_is_up_to_date() -> None:
    root = Path(__file__).resolve().parent.parent
    # The project's shared/ folder sits beside the checkout (CI lays a copy there too).
    tsv = Path(os.environ.get("CRT_HTTP_ERROR_CODES_TSV", root.parent / "shared" / "error_codes.tsv"))
    if not tsv.exists():
        pytest.skip(f"{tsv} not present")
    import importlib.util

    spec = importlib.util.spec_from_file_location("gen_error_table",
                                                  root / "tools" / "gen_error_table.py")
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    generated = gen.render(gen.read_table(tsv))
    assert generated == (root / "crt_http" / "_error_table.py").read_text(encoding="utf-8")


# --- translate(): sockets and DNS ------------------------------------------------------------


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _check(exc: BaseException, name: str, where: str = "doing it") -> AwsCrtError:
    result = translate(exc, where)
    assert isinstance(result, AwsCrtError), result
    assert result.name == name
    assert result.code == exceptions._CODES_BY_NAME[name]
    assert result.message.startswith(ERRORS[result.code][1] + ": " + where + ": ")
    assert result.__cause__ is exc
    return result


def test_real_connection_refused() -> None:
    port = _closed_port()
    with socket.socket() as s, pytest.raises(ConnectionRefusedError) as info:
        s.connect(("127.0.0.1", port))
    result = _check(info.value, "AWS_IO_SOCKET_CONNECTION_REFUSED",
                    f"connecting to 127.0.0.1:{port}")
    assert "Connection refused" in result.message


async def test_real_connection_refused_from_asyncio() -> None:
    port = _closed_port()
    with pytest.raises(OSError) as info:
        await asyncio.open_connection("127.0.0.1", port)
    _check(info.value, "AWS_IO_SOCKET_CONNECTION_REFUSED", f"connecting to 127.0.0.1:{port}")


def test_real_address_errors() -> None:
    with socket.socket() as a, socket.socket() as b:
        a.bind(("127.0.0.1", 0))
        a.listen()
        with pytest.raises(OSError) as in_use:
            b.bind(a.getsockname())
    _check(in_use.value, "AWS_IO_SOCKET_ADDRESS_IN_USE")
    with socket.socket() as c, pytest.raises(OSError) as not_avail:
        c.bind(("192.0.2.1", 0))  # TEST-NET-1: never a local address
    _check(not_avail.value, "AWS_IO_SOCKET_INVALID_ADDRESS")


def test_real_gaierror_noname() -> None:
    with pytest.raises(socket.gaierror) as info:
        socket.getaddrinfo("not-an-ip", 80, flags=socket.AI_NUMERICHOST)
    _check(info.value, "AWS_IO_DNS_INVALID_NAME", "resolving not-an-ip")


@pytest.mark.parametrize(("eai", "name"), [
    (socket.EAI_NONAME, "AWS_IO_DNS_INVALID_NAME"),
    (socket.EAI_AGAIN, "AWS_IO_DNS_QUERY_AGAIN"),
    (socket.EAI_FAIL, "AWS_IO_DNS_QUERY_FAILED"),
    (socket.EAI_FAMILY, "AWS_IO_SOCKET_UNSUPPORTED_ADDRESS_FAMILY"),
    (socket.EAI_SYSTEM, "AWS_IO_DNS_QUERY_FAILED"),
    (12345, "AWS_IO_DNS_QUERY_FAILED"),
])
def test_gaierror_codes(eai: int, name: str) -> None:
    _check(socket.gaierror(eai, "resolver says no"), name, "resolving example.invalid")


@pytest.mark.parametrize(("code", "name"), [
    (errno.ECONNREFUSED, "AWS_IO_SOCKET_CONNECTION_REFUSED"),
    (errno.ETIMEDOUT, "AWS_IO_SOCKET_TIMEOUT"),
    (errno.ECONNRESET, "AWS_IO_SOCKET_CLOSED"),
    (errno.EPIPE, "AWS_IO_SOCKET_CLOSED"),
    (errno.ECONNABORTED, "AWS_IO_SOCKET_CLOSED"),
    (errno.ENOTCONN, "AWS_IO_SOCKET_NOT_CONNECTED"),
    (errno.ENETUNREACH, "AWS_IO_SOCKET_NO_ROUTE_TO_HOST"),
    (errno.EHOSTUNREACH, "AWS_IO_SOCKET_NO_ROUTE_TO_HOST"),
    (errno.ENETDOWN, "AWS_IO_SOCKET_NETWORK_DOWN"),
    (errno.EADDRINUSE, "AWS_IO_SOCKET_ADDRESS_IN_USE"),
    (errno.EADDRNOTAVAIL, "AWS_IO_SOCKET_INVALID_ADDRESS"),
    (errno.EAFNOSUPPORT, "AWS_IO_SOCKET_UNSUPPORTED_ADDRESS_FAMILY"),
    (errno.EMFILE, "AWS_ERROR_MAX_FDS_EXCEEDED"),
    (errno.EACCES, "AWS_ERROR_NO_PERMISSION"),
    (errno.EIO, "AWS_ERROR_SYS_CALL_FAILURE"),
])
def test_oserror_errnos(code: int, name: str) -> None:
    exc = OSError(code, os.strerror(code))  # Python picks the subclass, as for a real one
    result = _check(exc, name)
    assert os.strerror(code) in result.message


@pytest.mark.parametrize(("exc", "name"), [
    (TimeoutError(), "AWS_IO_SOCKET_TIMEOUT"),
    (TimeoutError("timed out"), "AWS_IO_SOCKET_TIMEOUT"),
    (ConnectionRefusedError(), "AWS_IO_SOCKET_CONNECTION_REFUSED"),
    (ConnectionResetError(), "AWS_IO_SOCKET_CLOSED"),
    (BrokenPipeError(), "AWS_IO_SOCKET_CLOSED"),
    (ConnectionAbortedError(), "AWS_IO_SOCKET_CLOSED"),
    (EOFError(), "AWS_IO_SOCKET_CLOSED"),
    (asyncio.IncompleteReadError(b"abc", 10), "AWS_IO_SOCKET_CLOSED"),
    (OSError("no errno"), "AWS_ERROR_SYS_CALL_FAILURE"),
])
def test_exceptions_without_errno(exc: BaseException, name: str) -> None:
    result = _check(exc, name)
    assert result.message.endswith(str(exc) or type(exc).__name__)


# --- translate(): TLS ------------------------------------------------------------------------


def _verify_error(reason: str, code: int) -> ssl.SSLCertVerificationError:
    exc = ssl.SSLCertVerificationError(
        1, f"[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: {reason} (_ssl.c:1006)")
    exc.verify_message = reason
    exc.verify_code = code
    exc.reason = "CERTIFICATE_VERIFY_FAILED"
    return exc


@pytest.mark.parametrize(("reason", "code"), [
    ("unable to get local issuer certificate", 20),
    ("Hostname mismatch, certificate is not valid for 'example.org'.", 62),
    ("certificate has expired", 10),
])
def test_certificate_verification_errors(reason: str, code: int) -> None:
    for handshake in (True, False):
        result = translate(_verify_error(reason, code), "TLS handshake with example.org:443",
                           tls_handshake=handshake)
        assert isinstance(result, AwsCrtError)
        assert result.name == "AWS_IO_TLS_ERROR_NEGOTIATION_FAILURE"
        assert result.message == ("TLS (SSL) negotiation failed: TLS handshake with "
                                  f"example.org:443: certificate verify failed: {reason}")


def test_other_ssl_errors_depend_on_handshake() -> None:
    cases = [
        (ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"),
         "AWS_IO_TLS_ERROR_NEGOTIATION_FAILURE", "AWS_IO_TLS_ERROR_READ_FAILURE"),
        (ssl.SSLEOFError(8, "EOF occurred in violation of protocol"),
         "AWS_IO_TLS_ERROR_NEGOTIATION_FAILURE", "AWS_IO_SOCKET_CLOSED"),
        (ssl.SSLZeroReturnError(6, "TLS/SSL connection has been closed"),
         "AWS_IO_TLS_ERROR_NEGOTIATION_FAILURE", "AWS_IO_SOCKET_CLOSED"),
    ]
    for exc, during, after in cases:
        first = translate(exc, "x", tls_handshake=True)
        second = translate(exc, "x")
        assert isinstance(first, AwsCrtError) and isinstance(second, AwsCrtError)
        assert (first.name, second.name) == (during, after)
        assert str(exc) in first.message


def test_real_unknown_root_from_memory_handshake(tmp_path: Path) -> None:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("localhost").configure_cert(server_ctx)
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # trusts nothing
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname="localhost")
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    with pytest.raises(ssl.SSLCertVerificationError) as info:
        for _ in range(10):
            for obj, out, peer_in in ((client, c_out, s_in), (server, s_out, c_in)):
                try:
                    obj.do_handshake()
                except ssl.SSLWantReadError:
                    pass
                peer_in.write(out.read())
    result = translate(info.value, "TLS handshake with localhost:443")
    assert isinstance(result, AwsCrtError)
    assert result.name == "AWS_IO_TLS_ERROR_NEGOTIATION_FAILURE"
    assert result.message.endswith("certificate verify failed: unable to get local issuer "
                                   "certificate")


# --- translate(): protocol libraries ---------------------------------------------------------


def test_real_h11_remote_protocol_error() -> None:
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
    conn.send(h11.EndOfMessage())
    conn.receive_data(b"HTTP/1.1 2OO OK\r\n\r\n")
    with pytest.raises(h11.RemoteProtocolError) as info:
        conn.next_event()
    result = _check(info.value, "AWS_ERROR_HTTP_PROTOCOL_ERROR", "reading from x:80")
    assert "illegal status line" in result.message and "2OO" in result.message


@pytest.mark.parametrize(("make", "name"), [
    (lambda: h11.Request(method="GET", target="/", headers=[("Host", "x"), ("Bad Name", "v")]),
     "AWS_ERROR_HTTP_INVALID_HEADER_NAME"),
    (lambda: h11.Request(method="GET", target="/", headers=[("Host", "x"), ("X", "a\x00b")]),
     "AWS_ERROR_HTTP_INVALID_HEADER_VALUE"),
    (lambda: h11.Request(method="G T", target="/", headers=[("Host", "x")]),
     "AWS_ERROR_HTTP_INVALID_METHOD"),
    (lambda: h11.Request(method="GET", target="/a b", headers=[("Host", "x")]),
     "AWS_ERROR_HTTP_INVALID_PATH"),
    (lambda: h11.Request(method="GET", target="/", headers=[]),
     "AWS_ERROR_HTTP_INVALID_HEADER_FIELD"),
])
def test_real_h11_local_protocol_errors(make, name: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(h11.LocalProtocolError) as info:
        make()
    _check(info.value, name)


def test_real_h11_length_and_state_errors() -> None:
    conn = h11.Connection(h11.CLIENT)
    with pytest.raises(h11.LocalProtocolError) as state:
        conn.send(h11.Data(data=b"too early"))
    _check(state.value, "AWS_ERROR_INVALID_STATE")
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method="PUT", target="/",
                          headers=[("Host", "x"), ("Content-Length", "3")]))
    with pytest.raises(h11.LocalProtocolError) as too_much:
        conn.send(h11.Data(data=b"four"))
    _check(too_much.value, "AWS_ERROR_HTTP_OUTGOING_STREAM_LENGTH_INCORRECT")


def test_real_h2_protocol_errors() -> None:
    frames = [b"\x00\x00\x00\x00\x00\x00\x00\x00\x00",  # DATA on stream 0
              b"\x00\x00\x05\x04\x00\x00\x00\x00\x00abcde"]  # SETTINGS of a bad length
    for frame in frames:
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        conn.initiate_connection()
        with pytest.raises(h2.exceptions.ProtocolError) as info:
            conn.receive_data(frame)
        result = _check(info.value, "AWS_ERROR_HTTP_PROTOCOL_ERROR", "reading from h:443")
        assert str(info.value) in result.message


@pytest.mark.parametrize(("exc", "name"), [
    (h2.exceptions.FrameTooLargeError("frame too large"), "AWS_ERROR_HTTP_PROTOCOL_ERROR"),
    (h2.exceptions.FlowControlError("window exceeded"), "AWS_ERROR_HTTP_PROTOCOL_ERROR"),
    (h2.exceptions.InvalidSettingsValueError("bad", 1), "AWS_ERROR_HTTP_PROTOCOL_ERROR"),
    (h2.exceptions.NoAvailableStreamIDError("exhausted"), "AWS_ERROR_HTTP_STREAM_IDS_EXHAUSTED"),
    (h2.exceptions.TooManyStreamsError("too many"),
     "AWS_ERROR_HTTP_MAX_CONCURRENT_STREAMS_EXCEEDED"),
    (h2.exceptions.StreamClosedError(3), "AWS_ERROR_HTTP_STREAM_HAS_COMPLETED"),
    (hpack.exceptions.HPACKDecodingError("bad hpack"), "AWS_ERROR_HTTP_PROTOCOL_ERROR"),
    (hpack.exceptions.OversizedHeaderListError("too big"), "AWS_ERROR_HTTP_PROTOCOL_ERROR"),
])
def test_h2_and_hpack_classes(exc: BaseException, name: str) -> None:
    _check(exc, name)


def test_aioquic_errors() -> None:
    connection = pytest.importorskip("aioquic.quic.connection")
    h3 = pytest.importorskip("aioquic.h3.connection")
    _check(connection.QuicConnectionError(0x1, 0, "bad frame"), "AWS_ERROR_HTTP_PROTOCOL_ERROR")
    _check(h3.FrameUnexpected("unexpected"), "AWS_ERROR_HTTP_PROTOCOL_ERROR")


# --- translate(): pass-through and unknown ---------------------------------------------------


@pytest.mark.parametrize("exc", [
    AwsCrtError(2058, "AWS_ERROR_HTTP_CONNECTION_CLOSED", "closed"),
    ValueError("bad argument"), TypeError("bad type"), UnicodeEncodeError("ascii", "é", 0, 1, "x"),
    NotImplementedError(), MemoryError(), OverflowError(),
    asyncio.CancelledError(), KeyboardInterrupt(), SystemExit(1),
])
def test_passthrough(exc: BaseException) -> None:
    assert translate(exc, "anywhere") is exc


def test_unknown_exception() -> None:
    exc = KeyError("surprise")
    result = translate(exc, "handling a frame from h:443")
    assert isinstance(result, AwsCrtError)
    assert result.name == "AWS_ERROR_UNKNOWN"
    assert result.message == "Unknown error.: handling a frame from h:443: KeyError('surprise')"
    assert result.__cause__ is exc


def test_empty_where_keeps_only_the_original_text() -> None:
    result = translate(ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"), "")
    assert isinstance(result, AwsCrtError)
    assert result.message == "socket is closed.: [Errno 104] Connection reset by peer"
