"""The ``crt-http`` command and the examples, run as a user runs them (subprocesses)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.servers.common import pattern

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, timeout=timeout)


def test_cli_get_prints_body_and_head(h1_server) -> None:
    done = run("-m", "crt_http", "-i", "-H", "x-repeat-data: 5000", f"http://127.0.0.1:{h1_server.port}/echo")
    assert done.returncode == 0, done.stderr
    assert done.stdout == pattern(5000)
    assert done.stderr.startswith(b"HTTP/1.1 200")


def test_cli_http2_tls_upload(h2_tls_server, client_ca_file, tmp_path) -> None:
    out = tmp_path / "body"
    done = run("-m", "crt_http", "--http2", "--cacert", client_ca_file, "-H", "x-upload-test: true",
               "-d", "x" * 1234, "-o", str(out), f"https://localhost:{h2_tls_server.port}/upload")
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == b"1234"


def test_cli_reports_errors_by_name() -> None:
    done = run("-m", "crt_http", "http://127.0.0.1:1/")
    assert done.returncode == 1
    assert b"AWS_IO_SOCKET_CONNECTION_REFUSED" in done.stderr


def test_demo_example_passes() -> None:
    done = run("examples/demo.py", timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.rstrip().endswith(b"demo: all checks passed")
