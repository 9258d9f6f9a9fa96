"""Validated connection options: built once per ``new()`` call, shared by transport and driver.

Limits on what a server controls (each failing the stream with 2074
``AWS_ERROR_HTTP_PROTOCOL_ERROR`` and a message naming the limit when crossed):

- ``max_response_header_bytes`` (keyword of every ``new()``, default 64 KiB): a response head
  (status line and header fields; trailers too). HTTP/1.1: counted by the driver after h11
  parsed the head, and h11 refuses an incomplete head (or chunk-size line with its
  extensions) that grows past it. HTTP/2: advertised as SETTINGS_MAX_HEADER_LIST_SIZE and
  enforced by hpack's decoder (RFC 9113 size: name + value + 32 per field) from the start,
  before the server acknowledged it; a header block (HEADERS + CONTINUATION) whose encoded
  size passes it fails before it is decoded.
- ``MAX_RESPONSE_HEADER_COUNT`` (500, not configurable: awscrt has no such option): header
  fields in one response head or trailer block (HTTP/2: that stream is reset).
- HTTP/1.1 chunked framing: a chunk size has at most 16 hex digits (64 bits); a chunk-size
  line with its extensions is bounded by ``max_response_header_bytes`` plus one 64 KiB read.
- HTTP/2 frames: at most the MAX_FRAME_SIZE we advertise (1 MiB in automatic window mode,
  16 KiB otherwise unless ``initial_settings`` says more), refused at the frame header;
  CONTINUATION frames per header block: 64 (h2's ``CONTINUATION_BACKLOG``).
- Undelivered body: ``DEFAULT_HIGH_WATER_MARK`` (8 MiB) per aio stream in automatic window
  mode; the window itself in manual mode (HTTP/1.1 stops reading, HTTP/2 withholds
  WINDOW_UPDATE, and a peer that sends past the window breaks the protocol: 2074). The
  sync API hands every chunk to ``on_body`` as it arrives and buffers nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

from crt_http._models import Http2Setting, HttpProxyOptions
from crt_http.io import ClientBootstrap, SocketOptions, TlsConnectionOptions

MAX_WINDOW = 2**31 - 1
DEFAULT_MAX_RESPONSE_HEADER_BYTES = 64 * 1024
MAX_RESPONSE_HEADER_COUNT = 500
# Automatic window mode: undelivered body bytes an aio stream buffers before reading stops.
DEFAULT_HIGH_WATER_MARK = 8 * 1024 * 1024
DEFAULT_READ_BUFFER_CAPACITY = 64 * 1024


@dataclass
class ConnectionOptions:
    """Everything ``new()`` was given, checked; ``where`` names the peer in error messages."""

    host_name: str
    port: int
    bootstrap: Optional[ClientBootstrap] = None
    socket_options: SocketOptions = field(default_factory=SocketOptions)
    tls_connection_options: Optional[TlsConnectionOptions] = None
    proxy_options: Optional[HttpProxyOptions] = None
    manual_window_management: bool = False
    initial_window_size: Optional[int] = None
    read_buffer_capacity: Optional[int] = None
    initial_settings: Optional[List[Http2Setting]] = None
    on_remote_settings_changed: Optional[Callable[[List[Http2Setting]], None]] = None
    conn_manual_window_management: bool = False
    conn_window_size_threshold: Optional[int] = None
    stream_window_size_threshold: Optional[int] = None
    max_response_header_bytes: int = DEFAULT_MAX_RESPONSE_HEADER_BYTES
    response_first_byte_timeout_ms: Optional[int] = None
    minimum_throughput_bytes_per_second: int = 0
    allowable_throughput_failure_interval_seconds: int = 2
    tls_negotiation_timeout_ms: Optional[int] = None
    high_water_mark: int = DEFAULT_HIGH_WATER_MARK
    sync_api: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.host_name, str) or not self.host_name:
            raise ValueError("host_name must be a non-empty str")
        if not isinstance(self.port, int) or isinstance(self.port, bool) or not 0 <= self.port <= 65535:
            raise ValueError(f"port must be an int in 0..65535, got {self.port!r}")
        if self.socket_options is None:
            self.socket_options = SocketOptions()
        _check_type("socket_options", self.socket_options, SocketOptions)
        _check_type("tls_connection_options", self.tls_connection_options, TlsConnectionOptions)
        _check_type("proxy_options", self.proxy_options, HttpProxyOptions)
        _check_type("bootstrap", self.bootstrap, ClientBootstrap)
        if self.manual_window_management:
            if self.initial_window_size is None:
                raise ValueError("initial_window_size is required when manual_window_management is True")
            _check_range("initial_window_size", self.initial_window_size, 0, MAX_WINDOW)
        for name in ("conn_window_size_threshold", "stream_window_size_threshold", "read_buffer_capacity"):
            value = getattr(self, name)
            if value is not None:
                _check_range(name, value, 0, MAX_WINDOW)
        _check_range("max_response_header_bytes", self.max_response_header_bytes, 1, 2**32 - 1)
        if self.response_first_byte_timeout_ms is not None:
            _check_range("response_first_byte_timeout_ms", self.response_first_byte_timeout_ms, 0, 2**63)
        if self.initial_settings is not None:
            for setting in self.initial_settings:
                _check_type("initial_settings item", setting, Http2Setting)
                Http2Setting(setting.id, setting.value)  # again: .value may have changed since
        if self.on_remote_settings_changed is not None and not callable(self.on_remote_settings_changed):
            raise TypeError("on_remote_settings_changed must be callable")

    @property
    def where(self) -> str:
        """``host:port`` as written in error messages."""
        return f"{self.host_name}:{self.port}"

    @property
    def connect_timeout(self) -> float:
        """TCP connect timeout in seconds (SocketOptions.connect_timeout_ms; 0 means 5 s)."""
        ms = self.socket_options.connect_timeout_ms or 5000
        return ms / 1000.0

    @property
    def tls_timeout(self) -> float:
        """Bound on the TLS handshake in seconds (default: the connect timeout, at least 1 s)."""
        if self.tls_negotiation_timeout_ms:
            return self.tls_negotiation_timeout_ms / 1000.0
        return max(self.connect_timeout, 1.0)

    def stream_window(self) -> Optional[int]:
        """Initial window of a new stream as the stream core counts it."""
        if self.manual_window_management:
            return self.initial_window_size
        if self.sync_api:
            return None
        return self.high_water_mark


def arguments(call_locals: Dict[str, Any]) -> Dict[str, Any]:
    """The keyword arguments of a ``new()`` call, from its ``locals()`` taken first thing."""
    return {name: value for name, value in call_locals.items() if name not in ("cls", "self")}


def _check_type(name: str, value: Any, cls: type) -> None:
    if value is not None and not isinstance(value, cls):
        raise TypeError(f"{name} must be a {cls.__name__} or None, got {type(value).__name__}")


def _check_range(name: str, value: Any, low: int, high: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be in {low}..{high}, got {value}")
