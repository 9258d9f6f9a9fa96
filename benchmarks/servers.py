"""The benchmark's own servers on 127.0.0.1: nginx (HTTP/1.1 + TLS/HTTP/2) and the upload sink.

``Servers`` is a context manager: it makes a temp dir (0755) with trustme certificates, the
docroot files and the nginx config, starts nginx and the sink on free ports, and stops both
by PID on exit, whatever the exit (exception, Ctrl-C). A missing or failing nginx is not an
error: ``nginx_skip`` then says why, and the scenarios that need it are skipped.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

from .scenarios import BIG_PATH, MEM_PATH, SMALL_PATH, SMALL_SIZE, Endpoints

REPO = Path(__file__).resolve().parent.parent
NGINX_CANDIDATES = ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx")
START_TIMEOUT_S = 10.0


def find_nginx(explicit: str | None = None) -> str | None:
    """Path of the nginx binary: ``explicit`` (or $BENCH_NGINX) if given, else the usual places."""
    want = explicit or os.environ.get("BENCH_NGINX")
    if want:
        return want if os.access(want, os.X_OK) else None
    found = shutil.which("nginx")
    if found:
        return found
    return next((p for p in NGINX_CANDIDATES if os.access(p, os.X_OK)), None)


def nginx_version(binary: str) -> tuple[int, ...]:
    """(major, minor, patch) from ``nginx -v``; (0,) when it cannot be read."""
    try:
        out = subprocess.run([binary, "-v"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return (0,)
    m = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", out.stderr + out.stdout)
    return tuple(int(x) for x in m.groups()) if m else (0,)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float) -> None:
    """Return once 127.0.0.1:port accepts; raise if ``proc`` died or time ran out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with status {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"not listening on port {port} after {timeout:.0f} s")


def stop_process(proc: subprocess.Popen[bytes] | None, grace: float = 5.0) -> None:
    """SIGTERM the process (by PID), SIGKILL it if it lingers, and reap it."""
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=grace)
    except ProcessLookupError:
        pass


def make_certs(directory: Path) -> tuple[Path, Path, Path]:
    """trustme CA + server certificate for localhost/127.0.0.1: (ca.pem, cert.pem, key.pem)."""
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    paths = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    ca.cert_pem.write_to_path(str(paths[0]))
    cert.private_key_and_cert_chain_pem.write_to_path(str(paths[1]))
    cert.private_key_pem.write_to_path(str(paths[2]))
    return paths


def make_docroot(root: Path, big_size: int, mem_size: int) -> None:
    """1 KiB file with real bytes; the big files sparse (zeros, created instantly)."""
    root.mkdir(mode=0o755, parents=True, exist_ok=True)
    (root / SMALL_PATH.lstrip("/")).write_bytes(os.urandom(SMALL_SIZE))
    for path, size in ((BIG_PATH, big_size), (MEM_PATH, mem_size)):
        with open(root / path.lstrip("/"), "wb") as f:
            f.truncate(size)
        with open(root / path.lstrip("/"), "rb", buffering=0) as f:  # into the page cache
            buf = bytearray(1 << 20)
            for _ in range(size // len(buf) + 1):
                if not f.readinto(buf):
                    break
    for p in root.iterdir():
        p.chmod(0o644)


def nginx_conf(tmp: Path, http_port: int, https_port: int, version: tuple[int, ...],
               cert: Path, key: Path) -> str:
    """One process (master_process off), sendfile, unlimited keep-alive, h1 + TLS/h2."""
    h2_listen, h2_on = ("", "http2 on;") if version >= (1, 25, 1) else (" http2", "")
    temp = "\n".join(f"  {d}_temp_path {tmp / 'tmp' / d};"
                     for d in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return f"""
daemon off;
master_process off;
worker_processes 1;
pid {tmp / 'nginx.pid'};
error_log {tmp / 'logs' / 'error.log'} warn;
events {{ worker_connections 4096; multi_accept on; }}
http {{
  access_log off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_requests 1000000000;
  keepalive_timeout 600s;
  types {{ }}
  default_type application/octet-stream;
  etag off;
{temp}
  server {{
    listen 127.0.0.1:{http_port} backlog=4096;
    root {tmp / 'docroot'};
    location / {{ }}
  }}
  server {{
    listen 127.0.0.1:{https_port} ssl{h2_listen} backlog=4096;
    {h2_on}
    ssl_certificate {cert};
    ssl_certificate_key {key};
    ssl_protocols TLSv1.2 TLSv1.3;
    http2_max_concurrent_streams 128;
    root {tmp / 'docroot'};
    location / {{ }}
  }}
}}
"""


class Servers:
    """Temp dir + certificates + docroot + nginx + sink; stopped on exit."""

    def __init__(self, big_size: int, mem_size: int, nginx: str | None = None,
                 want_nginx: bool = True, want_sink: bool = True) -> None:
        self.big_size, self.mem_size = big_size, mem_size
        self.nginx_bin = find_nginx(nginx)
        self.want_nginx, self.want_sink = want_nginx, want_sink
        self.nginx_skip: str | None = None
        self.sink_skip: str | None = None
        self.tmp: Path | None = None
        self._nginx: subprocess.Popen[bytes] | None = None
        self._sink: subprocess.Popen[bytes] | None = None
        self.endpoints = Endpoints("127.0.0.1", 0, 0, 0, "")

    def __enter__(self) -> Servers:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _start(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="crt_http_bench_"))
        self.tmp.chmod(0o755)
        for d in ("logs", "tmp"):
            (self.tmp / d).mkdir(mode=0o755)
        ca, cert, key = make_certs(self.tmp)
        for p in (ca, cert, key):
            p.chmod(0o644)
        make_docroot(self.tmp / "docroot", self.big_size, self.mem_size)
        http_port = https_port = sink_port = 0
        if self.want_nginx:
            http_port, https_port = self._start_nginx(cert, key)
        if self.want_sink:
            try:
                sink_port = self._start_sink()
            except (OSError, RuntimeError) as exc:
                self.sink_skip = f"upload sink did not start: {exc}"

        self.endpoints = Endpoints("127.0.0.1", http_port, https_port, sink_port, str(ca))

    def _start_nginx(self, cert: Path, key: Path) -> tuple[int, int]:
        assert self.tmp is not None
        if self.nginx_bin is None:
            self.nginx_skip = "nginx not found (apt-get install nginx, or set BENCH_NGINX)"
            return 0, 0
        http_port, https_port = free_port(), free_port()
        conf = self.tmp / "nginx.conf"
        conf.write_text(nginx_conf(self.tmp, http_port, https_port,
                                   nginx_version(self.nginx_bin), cert, key))
        log = open(self.tmp / "logs" / "nginx.out", "wb")
        try:
            self._nginx = subprocess.Popen(
                [self.nginx_bin, "-p", str(self.tmp), "-c", str(conf),
                 "-e", str(self.tmp / "logs" / "error.log")],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
            wait_port(http_port, self._nginx, START_TIMEOUT_S)
            wait_port(https_port, self._nginx, START_TIMEOUT_S)
        except (OSError, RuntimeError) as exc:
            stop_process(self._nginx)
            self._nginx = None
            self.nginx_skip = f"nginx did not start: {exc}: {self._nginx_log()}"
            return 0, 0
        finally:
            log.close()
        return http_port, https_port

    def _nginx_log(self) -> str:
        assert self.tmp is not None
        text = ""
        for name in ("nginx.out", "error.log"):
            p = self.tmp / "logs" / name
            if p.exists():
                text += p.read_text(errors="replace")
        return " | ".join(text.strip().splitlines()[-3:])

    def _start_sink(self) -> int:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [str(REPO)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])))
        self._sink = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.sink", "--port", "0"], cwd=str(REPO), env=env,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, start_new_session=True)
        assert self._sink.stdout is not None
        line = b""
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            import selectors
            with selectors.DefaultSelector() as sel:
                sel.register(self._sink.stdout, selectors.EVENT_READ)
                while time.monotonic() < deadline and not line.endswith(b"\n"):
                    if not sel.select(timeout=0.2):
                        if self._sink.poll() is not None:
                            break
                        continue
                    byte = os.read(self._sink.stdout.fileno(), 1)
                    if not byte:
                        break
                    line += byte
            if not line.startswith(b"PORT "):
                raise RuntimeError(f"upload sink did not start (said {line!r})")
            port = int(line.split()[1])
            wait_port(port, self._sink, START_TIMEOUT_S)
        except BaseException:
            stop_process(self._sink)
            self._sink = None
            raise
        return port

    def stop(self) -> None:
        """Stop nginx and the sink by PID and remove the temp dir; safe to call twice."""
        stop_process(self._nginx)
        stop_process(self._sink)
        if self._sink is not None and self._sink.stdout is not None:
            self._sink.stdout.close()
        self._nginx = self._sink = None
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None
