"""Real, independent servers for interop tests: nginx, nghttpd, squid.

Each ``start_*`` runs the binary in the foreground as a child process with its config, logs
and pid file in a temp dir of mode 0755 (``tempfile.mkdtemp`` + chmod, never pytest's 0700
``tmp_path``: the servers may drop privileges to another user), on free 127.0.0.1 ports
(found by binding port 0), waits (bounded) until it answers, and returns a handle whose
``stop()`` ends the process by PID (SIGTERM, then SIGKILL after 2 s) and removes the temp dir.
A missing binary raises :class:`MissingBinary` whose message names the binary and says that
``make test`` installs it with apt-get when run as root; the fixtures turn it into
``pytest.skip``. A server that fails to start raises ``RuntimeError`` with its log.

Docroot (:func:`get_docroot`, made once per process, shared by nginx and nghttpd; files of
mode 0644): ``/1MiB.bin`` (1 MiB) and ``/100MiB.bin`` (100 MiB), both ``pattern(size)``
(see :mod:`tests.servers.common`), and ``/hello.txt`` (``b"hello\\n"``).

nginx (:func:`start_nginx` -> :class:`NginxHandle`): ``daemon off; master_process off;`` (one
process, no worker user), ``http_port`` plain HTTP/1.1, ``https_port`` TLS with ``http2`` (ALPN
``h2``, ``http/1.1``) using the session certs, ``sendfile on``, ``keepalive_requests``
10_000_000, ``keepalive_timeout 300s``. Locations: static files from the docroot;
``/upload`` (any method, any body size: ``client_max_body_size 0``) is proxied unbuffered
(``proxy_request_buffering off``, HTTP/1.1 upstream, chunked bodies passed as chunked) to an
in-process :class:`~tests.servers.h1.H1Server` with ``x-upload-test: true`` added, so the
answer is the decimal count of body bytes that reached the upstream — robust for 128 MiB+
bodies and no disk involved (nginx cannot count bytes itself; a DAV ``PUT`` would need a
file compare). ``/echo`` is proxied the same way to the H1 server's ``/echo``.

nghttpd (:func:`start_nghttpd` -> :class:`NghttpdHandle`): HTTP/2 only, serving the docroot,
``tls=True`` (ALPN h2, session certs) or ``tls=False`` (h2c prior knowledge), with
``--echo-upload`` (POST/PUT bodies are sent back as the response body) unless disabled.

squid (:func:`start_squid` -> :class:`SquidHandle`): forward proxy, ``squid -N`` (foreground),
no disk cache (``cache deny all``), two listeners: ``port`` (no auth) and ``auth_port``
(Basic auth, ``username`` / ``password``, checked by squid's ``basic_ncsa_auth`` helper
against an MD5-crypt htpasswd file). Only destinations 127.0.0.1 / ::1 are allowed, on any
port, both forwarding (absolute-form requests) and ``CONNECT`` tunnels. As root, squid runs
as its ``cache_effective_user`` (``proxy`` when that user exists), so the temp dir and files
are chowned to it.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field

from .certs import CertBundle, get_certs
from .common import write_pattern_file
from .h1 import H1Server

__all__ = [
    "MissingBinary",
    "Docroot",
    "get_docroot",
    "NginxHandle",
    "NghttpdHandle",
    "SquidHandle",
    "start_nginx",
    "start_nghttpd",
    "start_squid",
    "find_binary",
    "free_port",
    "md5_crypt",
]

START_TIMEOUT = 10.0
STOP_TIMEOUT = 2.0

_INSTALL_HINT = "`make test` installs it with apt-get (package {pkg}) when run as root"


class MissingBinary(RuntimeError):
    """The server binary is not installed; ``str()`` is a skip reason."""


def find_binary(name: str, package: str) -> str:
    """Absolute path of ``name`` (PATH, then /usr/sbin, /usr/bin, /usr/local/sbin) or raise
    :class:`MissingBinary`."""
    found = shutil.which(name)
    if found:
        return found
    for d in ("/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"):
        p = os.path.join(d, name)
        if os.access(p, os.X_OK):
            return p
    raise MissingBinary(f"{name} not installed: " + _INSTALL_HINT.format(pkg=package))


def free_port() -> int:
    """A port that was free on 127.0.0.1 a moment ago (bind port 0, read, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _mkdtemp(prefix: str) -> str:
    d = tempfile.mkdtemp(prefix=prefix)
    os.chmod(d, 0o755)
    return d


def _wait_port(port: int, proc: subprocess.Popen[bytes], deadline: float) -> None:
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with status {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"port {port} not accepting within {START_TIMEOUT} s") from None
            time.sleep(0.02)


def _stop_proc(proc: subprocess.Popen[bytes] | None, timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM by PID, wait, SIGKILL (the process and its own process group) if needed."""
    if proc is None or proc.poll() is not None:
        if proc is not None:
            proc.wait()
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait(timeout)
    # helpers the server may have left in its own process group (e.g. squid's auth helpers)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _read(path: str, limit: int = 4000) -> str:
    try:
        with open(path, errors="replace") as f:
            return f.read()[-limit:]
    except OSError:
        return "(no log)"


# --------------------------------------------------------------------------- docroot


@dataclass
class Docroot:
    """Static files shared by nginx and nghttpd: ``files`` maps URL path -> size."""

    path: str
    files: dict[str, int]

    def cleanup(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


DOCROOT_FILES = {"/1MiB.bin": 1 << 20, "/100MiB.bin": 100 << 20}
_docroot: Docroot | None = None
_docroot_lock = threading.Lock()


def get_docroot() -> Docroot:
    """The process-wide docroot (created on first call, ~0.1 s; removed at exit)."""
    global _docroot
    with _docroot_lock:
        if _docroot is None or not os.path.isdir(_docroot.path):
            path = _mkdtemp("crt_http_docroot_")
            files = dict(DOCROOT_FILES)
            for name, size in DOCROOT_FILES.items():
                write_pattern_file(os.path.join(path, name.lstrip("/")), size)
            with open(os.path.join(path, "hello.txt"), "wb") as f:
                f.write(b"hello\n")
            os.chmod(os.path.join(path, "hello.txt"), 0o644)
            files["/hello.txt"] = 6
            _docroot = Docroot(path, files)
            atexit.register(_docroot.cleanup)
        return _docroot


# --------------------------------------------------------------------------- nginx


@dataclass
class NginxHandle:
    """A running nginx (see module docstring)."""

    http_port: int
    https_port: int
    docroot: Docroot
    workdir: str
    proc: subprocess.Popen[bytes]
    sink: H1Server
    host: str = "127.0.0.1"
    files: dict[str, int] = field(default_factory=dict)

    def stop(self) -> None:
        """Stop nginx and the upload sink, remove the temp dir (idempotent, bounded)."""
        _stop_proc(self.proc)
        self.sink.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def error_log(self) -> str:
        return _read(os.path.join(self.workdir, "error.log"))


_NGINX_CONF = """\
daemon off;
master_process off;
worker_processes 1;
pid {w}/nginx.pid;
error_log {w}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {w}/client_body;
    proxy_temp_path {w}/proxy;
    fastcgi_temp_path {w}/fastcgi;
    uwsgi_temp_path {w}/uwsgi;
    scgi_temp_path {w}/scgi;
    types {{ text/plain txt; text/html html; application/octet-stream bin; }}
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
    http2_max_concurrent_streams 256;
    upstream sink {{ server 127.0.0.1:{sink}; keepalive 32; }}
    server {{
        listen 127.0.0.1:{http};
        listen 127.0.0.1:{https} ssl http2;
        server_name localhost;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        root {root};
        client_max_body_size 0;
        location /upload {{
            proxy_pass http://sink;
            proxy_http_version 1.1;
            proxy_request_buffering off;
            proxy_buffering off;
            proxy_set_header Connection "";
            proxy_set_header x-upload-test true;
        }}
        location = /echo {{
            proxy_pass http://sink;
            proxy_http_version 1.1;
            proxy_request_buffering off;
            proxy_set_header Connection "";
        }}
    }}
}}
"""


def start_nginx(
    workdir: str | None = None,
    certs: CertBundle | None = None,
    docroot: Docroot | None = None,
    binary: str | None = None,
) -> NginxHandle:
    """Start nginx (see module docstring); ``workdir`` (made 0755) defaults to a new temp dir."""
    nginx = binary or find_binary("nginx", "nginx")
    certs = certs or get_certs()
    docroot = docroot or get_docroot()
    w = workdir or _mkdtemp("crt_http_nginx_")
    os.chmod(w, 0o755)
    cert, key = certs.cert_files("server")
    sink = H1Server()
    last_error: Exception | None = None
    for _attempt in range(3):  # a free port can be taken between probe and bind: retry
        http, https = free_port(), free_port()
        conf = os.path.join(w, "nginx.conf")
        with open(conf, "w") as f:
            f.write(
                _NGINX_CONF.format(w=w, http=http, https=https, cert=cert, key=key, root=docroot.path, sink=sink.port)
            )
        log = open(os.path.join(w, "stderr.log"), "wb")
        try:
            proc = subprocess.Popen(
                [nginx, "-p", w, "-c", conf, "-e", os.path.join(w, "error.log")],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        finally:
            log.close()
        try:
            deadline = time.monotonic() + START_TIMEOUT
            _wait_port(http, proc, deadline)
            _wait_port(https, proc, deadline)
        except RuntimeError as e:
            _stop_proc(proc)
            last_error = RuntimeError(
                f"nginx failed to start: {e}\n{_read(os.path.join(w, 'error.log'))}"
                f"{_read(os.path.join(w, 'stderr.log'))}"
            )
            continue
        return NginxHandle(http, https, docroot, w, proc, sink, files=dict(docroot.files))
    sink.stop()
    shutil.rmtree(w, ignore_errors=True)
    assert last_error is not None
    raise last_error


# --------------------------------------------------------------------------- nghttpd


@dataclass
class NghttpdHandle:
    """A running nghttpd (see module docstring)."""

    port: int
    tls: bool
    docroot: Docroot
    workdir: str
    proc: subprocess.Popen[bytes]
    host: str = "127.0.0.1"
    files: dict[str, int] = field(default_factory=dict)

    def stop(self) -> None:
        _stop_proc(self.proc)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def log(self) -> str:
        return _read(os.path.join(self.workdir, "nghttpd.log"))


def start_nghttpd(
    certs: CertBundle | None = None,
    docroot: Docroot | None = None,
    *,
    tls: bool = True,
    echo_upload: bool = True,
    extra_args: tuple[str, ...] = (),
    binary: str | None = None,
) -> NghttpdHandle:
    """Start nghttpd on a free port (see module docstring)."""
    nghttpd = binary or find_binary("nghttpd", "nghttp2-server")
    certs = certs or get_certs()
    docroot = docroot or get_docroot()
    w = _mkdtemp("crt_http_nghttpd_")
    last_error: Exception | None = None
    for _attempt in range(3):
        port = free_port()
        argv = [nghttpd, "-a", "127.0.0.1", "-d", docroot.path]
        if echo_upload:
            argv.append("--echo-upload")
        argv += list(extra_args)
        if tls:
            cert, key = certs.cert_files("server")
            argv += [str(port), key, cert]
        else:
            argv += ["--no-tls", str(port)]
        log = open(os.path.join(w, "nghttpd.log"), "wb")
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        finally:
            log.close()
        try:
            _wait_port(port, proc, time.monotonic() + START_TIMEOUT)
        except RuntimeError as e:
            _stop_proc(proc)
            last_error = RuntimeError(f"nghttpd failed to start: {e}\n{_read(os.path.join(w, 'nghttpd.log'))}")
            continue
        return NghttpdHandle(port, tls, docroot, w, proc, files=dict(docroot.files))
    shutil.rmtree(w, ignore_errors=True)
    assert last_error is not None
    raise last_error


# --------------------------------------------------------------------------- squid

_ITOA64 = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def md5_crypt(password: str, salt: str) -> str:
    """MD5-crypt (``$1$salt$hash``), as ``openssl passwd -1`` and ``basic_ncsa_auth`` know it."""
    pw, sl, magic = password.encode(), salt.encode()[:8], b"$1$"
    ctx = hashlib.md5(pw + magic + sl)
    alt = hashlib.md5(pw + sl + pw).digest()
    n = len(pw)
    while n > 0:
        ctx.update(alt[: min(16, n)])
        n -= 16
    i = len(pw)
    while i:
        ctx.update(b"\x00" if i & 1 else pw[:1])
        i >>= 1
    final = ctx.digest()
    for r in range(1000):
        c = hashlib.md5()
        c.update(pw if r & 1 else final)
        if r % 3:
            c.update(sl)
        if r % 7:
            c.update(pw)
        c.update(final if r & 1 else pw)
        final = c.digest()

    def to64(v: int, k: int) -> bytes:
        out = bytearray()
        for _ in range(k):
            out.append(_ITOA64[v & 0x3F])
            v >>= 6
        return bytes(out)

    f = final
    h = b"".join(
        [
            to64((f[0] << 16) | (f[6] << 8) | f[12], 4),
            to64((f[1] << 16) | (f[7] << 8) | f[13], 4),
            to64((f[2] << 16) | (f[8] << 8) | f[14], 4),
            to64((f[3] << 16) | (f[9] << 8) | f[15], 4),
            to64((f[4] << 16) | (f[10] << 8) | f[5], 4),
            to64(f[11], 2),
        ]
    )
    return (magic + sl + b"$" + h).decode()


@dataclass
class SquidHandle:
    """A running squid (see module docstring)."""

    port: int
    auth_port: int
    username: str
    password: str
    workdir: str
    proc: subprocess.Popen[bytes]
    host: str = "127.0.0.1"

    def stop(self) -> None:
        _stop_proc(self.proc)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def cache_log(self) -> str:
        return _read(os.path.join(self.workdir, "cache.log"))

    def access_log(self) -> str:
        return _read(os.path.join(self.workdir, "access.log"))


_SQUID_CONF = """\
http_port 127.0.0.1:{port}
http_port 127.0.0.1:{auth_port} name=authport
pid_filename {w}/squid.pid
cache_log {w}/cache.log
access_log stdio:{w}/access.log
cache_store_log none
cache deny all
cache_mem 8 MB
coredump_dir {w}
visible_hostname localhost
shutdown_lifetime 0 seconds
pinger_enable off
netdb_filename none
logfile_rotate 0
{user_line}
auth_param basic program {helper} {w}/passwd
auth_param basic children 2 startup=0 idle=1
auth_param basic realm crt_http-test
acl localdst dst 127.0.0.1/32 ::1
acl authport myportname authport
acl authed proxy_auth REQUIRED
http_access allow authport authed localdst
http_access deny authport
http_access allow localdst
http_access deny all
"""


def _squid_helper() -> str:
    for d in ("/usr/lib/squid", "/usr/lib64/squid", "/usr/libexec/squid", "/usr/lib/squid3"):
        p = os.path.join(d, "basic_ncsa_auth")
        if os.access(p, os.X_OK):
            return p
    raise MissingBinary("squid's basic_ncsa_auth helper not found: " + _INSTALL_HINT.format(pkg="squid"))


def start_squid(username: str = "crtuser", password: str = "crt-pass-1") -> SquidHandle:
    """Start squid (see module docstring) and wait until it answers HTTP."""
    squid = find_binary("squid", "squid")
    helper = _squid_helper()
    w = _mkdtemp("crt_http_squid_")
    with open(os.path.join(w, "passwd"), "w") as f:
        f.write(f"{username}:{md5_crypt(password, secrets.token_hex(4))}\n")
    user_line = ""
    uid = gid = None
    if os.geteuid() == 0:
        for candidate in ("proxy", "squid", "nobody"):
            try:
                pw = pwd.getpwnam(candidate)
            except KeyError:
                continue
            user_line = f"cache_effective_user {candidate}"
            uid, gid = pw.pw_uid, pw.pw_gid
            break
    last_error: Exception | None = None
    for _attempt in range(3):
        port, auth_port = free_port(), free_port()
        conf = os.path.join(w, "squid.conf")
        with open(conf, "w") as f:
            f.write(_SQUID_CONF.format(port=port, auth_port=auth_port, w=w, helper=helper, user_line=user_line))
        if uid is not None:
            for name in [".", *os.listdir(w)]:
                os.chown(os.path.join(w, name), uid, gid)  # type: ignore[arg-type]
        log = open(os.path.join(w, "stderr.log"), "wb")
        try:
            proc = subprocess.Popen(
                [squid, "-N", "-f", conf],
                cwd=w,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        finally:
            log.close()
        try:
            deadline = time.monotonic() + START_TIMEOUT
            _wait_port(port, proc, deadline)
            _wait_port(auth_port, proc, deadline)
            _squid_answers(port, deadline)
        except RuntimeError as e:
            _stop_proc(proc)
            last_error = RuntimeError(
                f"squid failed to start: {e}\n{_read(os.path.join(w, 'cache.log'))}"
                f"{_read(os.path.join(w, 'stderr.log'))}"
            )
            continue
        return SquidHandle(port, auth_port, username, password, w, proc)
    shutil.rmtree(w, ignore_errors=True)
    assert last_error is not None
    raise last_error


def _squid_answers(port: int, deadline: float) -> None:
    """Readiness: squid answers a request for a refused destination with an HTTP status."""
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0) as s:
                s.sendall(b"GET http://127.0.0.1:1/ HTTP/1.0\r\n\r\n")
                if s.recv(16).startswith(b"HTTP/1."):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("squid does not answer HTTP")
        time.sleep(0.05)
