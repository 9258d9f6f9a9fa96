"""Drop-in for ``awscrt.http``: the models and the synchronous connection and stream classes.

A namespace only: the classes live in :mod:`crt_http._models`, :mod:`crt_http._base` and
:mod:`crt_http.sync.http`.
"""

from concurrent.futures import Future

from crt_http._base import (
    HttpClientConnectionBase,
    HttpClientStreamBase,
    HttpConnectionBase,
    HttpStreamBase,
)
from crt_http._models import (
    Http2Setting,
    Http2SettingID,
    HttpHeaders,
    HttpMessageBase,
    HttpProxyAuthenticationType,
    HttpProxyConnectionType,
    HttpProxyOptions,
    HttpRequest,
    HttpVersion,
)
from crt_http.io import ClientBootstrap, InputStream, SocketOptions, TlsConnectionOptions
from crt_http.sync.http import (
    Http2ClientConnection,
    Http2ClientStream,
    HttpClientConnection,
    HttpClientStream,
)

__all__ = [
    "HttpVersion", "Http2SettingID", "Http2Setting", "HttpHeaders", "HttpMessageBase", "HttpRequest",
    "HttpProxyOptions", "HttpProxyConnectionType", "HttpProxyAuthenticationType",
    "HttpConnectionBase", "HttpClientConnectionBase", "HttpStreamBase", "HttpClientStreamBase",
    "HttpClientConnection", "Http2ClientConnection", "HttpClientStream", "Http2ClientStream",
    "ClientBootstrap", "InputStream", "SocketOptions", "TlsConnectionOptions", "Future",
]
