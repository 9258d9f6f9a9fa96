"""Test servers for crt_http (import as ``tests.servers``; ``tests/conftest.py`` puts the
repository root on ``sys.path``).

- :mod:`.common`  — ``pattern(n)`` / ``PatternChecker``, the request -> response plan shared
  by HTTP/1.1 and HTTP/2 (``/echo``, ``x-repeat-data``, ``x-slow-response``,
  ``x-expect-status``, ``x-upload-test``, ``x-trailers``, ``x-interim``), the thread+loop base.
- :mod:`.certs`   — trustme certificates and server ``ssl.SSLContext`` objects.
- :mod:`.h1`      — ``H1Server`` (h11) with the HTTP/1.1 fault modes.
- :mod:`.h2`      — ``H2Server`` (h2; TLS+ALPN or h2c) with the HTTP/2 fault modes.
- :mod:`.raw`     — ``RawServer``: scripted bytes or a handler; records what the client sent.
- :mod:`.interop` — real nginx, nghttpd and squid as child processes.

Every server binds 127.0.0.1 on port 0, runs in its own daemon thread with its own event
loop (so a client that stalls its loop cannot stall the server), and ``stop()`` ends it
within 2 s.
"""

from .certs import CertBundle, get_certs
from .common import PATTERN_PERIOD, PATTERN_UNIT, PatternChecker, check_pattern, iter_pattern, pattern
from .h1 import H1Server
from .h2 import H2ConnRecord, H2Server
from .raw import RawServer

__all__ = [
    "CertBundle",
    "get_certs",
    "PATTERN_PERIOD",
    "PATTERN_UNIT",
    "PatternChecker",
    "check_pattern",
    "iter_pattern",
    "pattern",
    "H1Server",
    "H2Server",
    "H2ConnRecord",
    "RawServer",
]
