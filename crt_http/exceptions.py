"""Errors of crt_http, with awscrt's codes, names and messages.

This module is the single error boundary of the package: :func:`translate` maps what sockets,
``ssl``, h11, h2/hpack and aioquic raise onto an :class:`AwsCrtError` with awscrt's code for
the same condition, and :func:`error` builds one by name. Drivers never build an
:class:`AwsCrtError` by hand.
"""

from __future__ import annotations

import errno
import functools
import socket
import ssl

from crt_http._error_table import ERRORS

__all__ = ["AwsCrtError", "error", "from_code", "translate"]

_CODES_BY_NAME: dict[str, int] = {name: code for code, (name, _message) in ERRORS.items()}

# awscrt returns a builtin exception, not an AwsCrtError, for these codes.
_BUILTINS: dict[int, type[BaseException]] = {
    1: MemoryError,
    5: OverflowError,
    10: IndexError,
    34: ValueError,
    37: NotImplementedError,
    44: FileNotFoundError,
    1043: BlockingIOError,
    1044: BrokenPipeError,
}

_UNKNOWN_CODE = "Unknown Error Code"


class AwsCrtError(RuntimeError):
    """An error of the AWS Common Runtime, identified by ``code`` and ``name``.

    Derives from ``RuntimeError`` (awscrt's derives from ``Exception``) because awscrt raises
    bare ``RuntimeError`` from its synchronous calls: both ``except RuntimeError`` and
    ``.name`` work here. Picklable.

    Attributes:
        code: awscrt's integer error code.
        name: awscrt's error name, e.g. ``"AWS_IO_SOCKET_CONNECTION_REFUSED"``.
        message: awscrt's message for the code, possibly followed by specifics.
    """

    def __init__(self, code: int, name: str, message: str) -> None:
        super().__init__(code, name, message)
        self.code = code
        self.name = name
        self.message = message

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(name={self.name!r}, message={self.message!r}, "
                f"code={self.code})")

    def __str__(self) -> str:
        return f"{self.name}: {self.message}"


def from_code(code: int) -> BaseException:
    """The exception awscrt gives for ``code``.

    A builtin for the few codes awscrt maps to one (1 ``MemoryError``, 5 ``OverflowError``,
    10 ``IndexError``, 34 ``ValueError``, 37 ``NotImplementedError``, 44 ``FileNotFoundError``,
    1043 ``BlockingIOError``, 1044 ``BrokenPipeError``), an :class:`AwsCrtError` otherwise; an
    unknown code gives name and message ``"Unknown Error Code"``, as awscrt does.
    """
    builtin = _BUILTINS.get(code)
    if builtin is not None:
        return builtin()
    name, message = ERRORS.get(code, (_UNKNOWN_CODE, _UNKNOWN_CODE))
    return AwsCrtError(code, name, message)


def error(name: str, detail: str | None = None) -> AwsCrtError:
    """An :class:`AwsCrtError` for the awscrt error ``name``.

    Its message is awscrt's message for that code, followed by ``": " + detail`` when
    ``detail`` is given. An unknown ``name`` raises ``KeyError`` (a programming error).
    """
    code = _CODES_BY_NAME[name]
    message = ERRORS[code][1]
    if detail:
        message = f"{message}: {detail}"
    return AwsCrtError(code, name, message)


# --- translate(): the boundary table ---------------------------------------------------------

_ERRNO_NAMES: dict[int, str] = {
    errno.ECONNREFUSED: "AWS_IO_SOCKET_CONNECTION_REFUSED",
    errno.ETIMEDOUT: "AWS_IO_SOCKET_TIMEOUT",
    errno.ECONNRESET: "AWS_IO_SOCKET_CLOSED",
    errno.EPIPE: "AWS_IO_SOCKET_CLOSED",
    errno.ECONNABORTED: "AWS_IO_SOCKET_CLOSED",
    errno.ESHUTDOWN: "AWS_IO_SOCKET_CLOSED",
    errno.ENOTCONN: "AWS_IO_SOCKET_NOT_CONNECTED",
    errno.ENETUNREACH: "AWS_IO_SOCKET_NO_ROUTE_TO_HOST",
    errno.EHOSTUNREACH: "AWS_IO_SOCKET_NO_ROUTE_TO_HOST",
    errno.ENETDOWN: "AWS_IO_SOCKET_NETWORK_DOWN",
    errno.EHOSTDOWN: "AWS_IO_SOCKET_NETWORK_DOWN",
    errno.EADDRINUSE: "AWS_IO_SOCKET_ADDRESS_IN_USE",
    errno.EADDRNOTAVAIL: "AWS_IO_SOCKET_INVALID_ADDRESS",
    errno.EAFNOSUPPORT: "AWS_IO_SOCKET_UNSUPPORTED_ADDRESS_FAMILY",
    errno.EMFILE: "AWS_ERROR_MAX_FDS_EXCEEDED",
    errno.ENFILE: "AWS_ERROR_MAX_FDS_EXCEEDED",
    errno.EACCES: "AWS_ERROR_NO_PERMISSION",
    errno.EPERM: "AWS_ERROR_NO_PERMISSION",
}

# Checked in order, after the errno table, for OSErrors whose errno is missing or unlisted.
_OSERROR_CLASS_NAMES: tuple[tuple[type[BaseException], str], ...] = (
    (ConnectionRefusedError, "AWS_IO_SOCKET_CONNECTION_REFUSED"),
    (TimeoutError, "AWS_IO_SOCKET_TIMEOUT"),
    (ConnectionError, "AWS_IO_SOCKET_CLOSED"),  # reset, aborted, broken pipe
)

_GAI_NAMES: dict[int, str] = {
    socket.EAI_NONAME: "AWS_IO_DNS_INVALID_NAME",
    socket.EAI_SERVICE: "AWS_IO_DNS_INVALID_NAME",
    socket.EAI_AGAIN: "AWS_IO_DNS_QUERY_AGAIN",
    socket.EAI_FAIL: "AWS_IO_DNS_QUERY_FAILED",
    socket.EAI_FAMILY: "AWS_IO_SOCKET_UNSUPPORTED_ADDRESS_FAMILY",
    socket.EAI_MEMORY: "AWS_ERROR_OOM",
}
for _const, _name in (("EAI_NODATA", "AWS_IO_DNS_NO_ADDRESS_FOR_HOST"),
                      ("EAI_ADDRFAMILY", "AWS_IO_DNS_NO_ADDRESS_FOR_HOST")):
    if hasattr(socket, _const):  # glibc only
        _GAI_NAMES[getattr(socket, _const)] = _name

# h11.LocalProtocolError is raised for what *we* were about to send; its text says what.
_H11_LOCAL_PREFIXES: tuple[tuple[str, str], ...] = (
    ("Illegal header name", "AWS_ERROR_HTTP_INVALID_HEADER_NAME"),
    ("Illegal header value", "AWS_ERROR_HTTP_INVALID_HEADER_VALUE"),
    ("Illegal method", "AWS_ERROR_HTTP_INVALID_METHOD"),
    ("Illegal target", "AWS_ERROR_HTTP_INVALID_PATH"),
    ("Too much data for declared Content-Length",
     "AWS_ERROR_HTTP_OUTGOING_STREAM_LENGTH_INCORRECT"),
    ("Too little data for declared Content-Length",
     "AWS_ERROR_HTTP_OUTGOING_STREAM_LENGTH_INCORRECT"),
)

# Exceptions that say "bad argument" or "bug" on their own; translate() lets them through.
_PASSTHROUGH = (ValueError, TypeError, MemoryError, NotImplementedError, OverflowError)


@functools.cache
def _library_errors() -> tuple[tuple[type[BaseException], str], ...]:
    """(exception class, error name) of the protocol libraries, most specific first.

    The name ``""`` marks h11.LocalProtocolError, named from its text.
    """
    import h2.exceptions
    import h11
    import hpack.exceptions

    table: list[tuple[type[BaseException], str]] = [
        (h11.LocalProtocolError, ""),
        (h11.RemoteProtocolError, "AWS_ERROR_HTTP_PROTOCOL_ERROR"),
        (h2.exceptions.NoAvailableStreamIDError, "AWS_ERROR_HTTP_STREAM_IDS_EXHAUSTED"),
        (h2.exceptions.TooManyStreamsError, "AWS_ERROR_HTTP_MAX_CONCURRENT_STREAMS_EXCEEDED"),
        (h2.exceptions.StreamClosedError, "AWS_ERROR_HTTP_STREAM_HAS_COMPLETED"),
        (h2.exceptions.H2Error, "AWS_ERROR_HTTP_PROTOCOL_ERROR"),
        (hpack.exceptions.HPACKError, "AWS_ERROR_HTTP_PROTOCOL_ERROR"),
    ]
    try:
        import aioquic.h3.connection
        import aioquic.h3.exceptions
        import aioquic.quic.connection
        import aioquic.quic.stream
        import aioquic.tls
    except ImportError:
        pass
    else:
        table += [
            (aioquic.tls.Alert, "AWS_IO_TLS_ERROR_NEGOTIATION_FAILURE"),
            (aioquic.quic.connection.QuicConnectionError, "AWS_ERROR_HTTP_PROTOCOL_ERROR"),
            (aioquic.quic.stream.FinalSizeError, "AWS_ERROR_HTTP_PROTOCOL_ERROR"),
            (aioquic.h3.connection.ProtocolError, "AWS_ERROR_HTTP_PROTOCOL_ERROR"),
            (aioquic.h3.exceptions.H3Error, "AWS_ERROR_HTTP_PROTOCOL_ERROR"),
        ]
    return tuple(table)


def _h11_local_name(text: str) -> str:
    for prefix, name in _H11_LOCAL_PREFIXES:
        if text.startswith(prefix):
            return name
    if "state" in text:  # "Can't send data when our state is ERROR", "can't handle event ..."
        return "AWS_ERROR_INVALID_STATE"
    return "AWS_ERROR_HTTP_INVALID_HEADER_FIELD"


def _oserror_class_name(exc: OSError) -> str:
    for cls, name in _OSERROR_CLASS_NAMES:
        if isinstance(exc, cls):
            return name
    return "AWS_ERROR_SYS_CALL_FAILURE"


def _ssl_name_and_text(exc: ssl.SSLError, tls_handshake: bool) -> tuple[str, str]:
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = exc.verify_message or exc.reason or str(exc)
        return "AWS_IO_TLS_ERROR_NEGOTIATION_FAILURE", f"certificate verify failed: {reason}"
    text = str(exc) or exc.__class__.__name__
    if tls_handshake:
        return "AWS_IO_TLS_ERROR_NEGOTIATION_FAILURE", text
    if isinstance(exc, (ssl.SSLEOFError, ssl.SSLZeroReturnError)):
        return "AWS_IO_SOCKET_CLOSED", text
    return "AWS_IO_TLS_ERROR_READ_FAILURE", text


def _name_and_text(exc: Exception, tls_handshake: bool) -> tuple[str, str] | None:
    """The error name and original text for ``exc``; None if it passes through unchanged."""
    if isinstance(exc, ssl.SSLError):
        return _ssl_name_and_text(exc, tls_handshake)
    text = str(exc) or exc.__class__.__name__
    if isinstance(exc, socket.gaierror):
        return _GAI_NAMES.get(exc.errno or 0, "AWS_IO_DNS_QUERY_FAILED"), text
    if isinstance(exc, socket.herror):
        return "AWS_IO_DNS_QUERY_FAILED", text
    for cls, name in _library_errors():
        if isinstance(exc, cls):
            return name or _h11_local_name(text), text
    if isinstance(exc, OSError):
        return _ERRNO_NAMES.get(exc.errno or 0) or _oserror_class_name(exc), text
    if isinstance(exc, EOFError):  # includes asyncio.IncompleteReadError
        return "AWS_IO_SOCKET_CLOSED", text
    if isinstance(exc, _PASSTHROUGH):
        return None
    return "AWS_ERROR_UNKNOWN", repr(exc)


def translate(exc: BaseException, where: str, *, tls_handshake: bool = False) -> BaseException:
    """Map an exception from sockets, ``ssl``, h11, h2/hpack or aioquic onto awscrt's error.

    Returns an :class:`AwsCrtError` whose message is awscrt's text for the code, then
    ``": {where}: {original text}"``; ``where`` names the operation and the host, e.g.
    ``"connecting to localhost:8443"``. The original exception is its ``__cause__``.

    Returned unchanged: an :class:`AwsCrtError`; a ``BaseException`` that is not an
    ``Exception`` (``CancelledError``, ``KeyboardInterrupt``...); and a ``ValueError``,
    ``TypeError``, ``MemoryError``, ``NotImplementedError`` or ``OverflowError`` (a bad
    argument or a bug) that no library entry claims (``ssl.SSLCertVerificationError`` and
    h2's ``InvalidSettingsValueError`` are ``ValueError`` subclasses and are translated).

    Certificate verification failures are AWS_IO_TLS_ERROR_NEGOTIATION_FAILURE with OpenSSL's
    reason in the message ("unable to get local issuer certificate", "Hostname mismatch,
    certificate is not valid for 'x'.", "certificate has expired"). Any other
    ``ssl.SSLError`` is AWS_IO_TLS_ERROR_NEGOTIATION_FAILURE too if ``tls_handshake`` (pass
    True while the handshake runs); after the handshake (the default), EOF and close-notify
    are AWS_IO_SOCKET_CLOSED and anything else AWS_IO_TLS_ERROR_READ_FAILURE. Anything
    unknown is AWS_ERROR_UNKNOWN with the original's repr.
    """
    if isinstance(exc, AwsCrtError) or not isinstance(exc, Exception):
        return exc
    name_and_text = _name_and_text(exc, tls_handshake)
    if name_and_text is None:
        return exc
    name, text = name_and_text
    result = error(name, f"{where}: {text}" if where else text)
    result.__cause__ = exc
    return result
