"""crt_http: a pure-Python asyncio drop-in replacement for the HTTP client of awscrt.

Replace ``awscrt`` by ``crt_http`` in the import lines (``crt_http.http``,
``crt_http.aio.http``, ``crt_http.io``, ``crt_http.exceptions``). The models and
:class:`AwsCrtError` are re-exported here; the connection classes too, imported on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from crt_http._models import (
    Http2Setting,
    Http2SettingID,
    HttpHeaders,
    HttpProxyAuthenticationType,
    HttpProxyConnectionType,
    HttpProxyOptions,
    HttpRequest,
    HttpVersion,
    InputStream,
)
from crt_http.exceptions import AwsCrtError

__version__ = "0.1.0"

__all__ = [
    "AwsCrtError",
    "Http2Setting",
    "Http2SettingID",
    "HttpHeaders",
    "HttpProxyAuthenticationType",
    "HttpProxyConnectionType",
    "HttpProxyOptions",
    "HttpRequest",
    "HttpVersion",
    "InputStream",
    "__version__",
]

# Served by __getattr__ from crt_http.http; names starting with "AIO" from crt_http.aio.http.
_SYNC_NAMES = frozenset({
    "HttpClientConnectionBase", "HttpClientConnection", "Http2ClientConnection",
    "Http3ClientConnection", "HttpClientStreamBase", "HttpClientStream", "Http2ClientStream",
    "Http3ClientStream", "HttpClientConnectionManager", "Http2StreamManager",
})


def __getattr__(name: str) -> Any:
    if name.startswith("AIO"):
        module = importlib.import_module("crt_http.aio.http")
    elif name in _SYNC_NAMES:
        module = importlib.import_module("crt_http.http")
    else:
        raise AttributeError(f"module 'crt_http' has no attribute {name!r}")
    try:
        return getattr(module, name)
    except AttributeError:
        raise AttributeError(f"module 'crt_http' has no attribute {name!r}") from None
