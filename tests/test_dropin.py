"""Drop-in proof (API.md: "Replace ``awscrt`` by ``crt_http`` in the import lines; nothing
else in the program changes, and it behaves the same").

``tests/dropin/awscrt_program.py`` is a small client written for awscrt (sync and aio APIs:
GET/PUT on HTTP/1.1, HTTP/2 manual writes, manual flow control, error paths). It runs twice
against the same test servers, in subprocesses started together: as written, on awscrt
0.38.0, and with ``awscrt`` replaced by ``crt_http`` in its import lines (a textual rewrite
into a temp file) on crt_http with ``awscrt`` made unimportable. Both must succeed and print
the same transcript, except on the lines of :data:`DOCUMENTED_DIFFERENCES`, where crt_http
must print the value API.md prescribes.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import pytest

pytest.importorskip("awscrt", reason="awscrt 0.38.0 is the reference (extra 'bench')")

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = Path(__file__).resolve().parent / "dropin" / "awscrt_program.py"
RUN_TIMEOUT = 50.0

# label -> (what crt_http prints, why it may differ from awscrt's line: API.md).
DOCUMENTED_DIFFERENCES: Dict[str, Tuple[str, str]] = {
    "h2.callback_raises": (
        "AWS_ERROR_HTTP_CALLBACK_FAILURE",
        "API.md 'Differ from awscrt': a callback that raises fails its stream with 2064 "
        "AWS_ERROR_HTTP_CALLBACK_FAILURE (awscrt 0.38.0 fails it with a ValueError, "
        "'Treating Python exception as error 34(AWS_ERROR_INVALID_ARGUMENT)')"),
    "h1.read_until_close.body": (
        "(3000, True)",
        "API.md 'Differ from awscrt': read-until-close and HTTP/1.0 bodies are delivered "
        "(awscrt drops them: 0 bytes)"),
    "h2.close_mid_body.shutdown": (
        "AWS_ERROR_HTTP_CONNECTION_CLOSED",
        "API.md 'Keep awscrt's behaviour': a peer that closes mid-exchange fails the stream "
        "and shutdown_future with 2058 on HTTP/2. awscrt 0.38.0 fails the stream with 2058 "
        "but completes shutdown_future with None when the server sent a TLS close_notify "
        "(API.md's 'as awscrt does' does not hold for shutdown_future here)"),
}

_IMPORT_LINE = re.compile(r"^\s*(from|import)\s+awscrt\b")


def rewrite_imports(source: str) -> Tuple[str, int]:
    """``awscrt`` -> ``crt_http`` in import lines only; returns the text and the lines changed."""
    lines, changed = [], 0
    for line in source.splitlines(keepends=True):
        if _IMPORT_LINE.match(line):
            line = re.sub(r"\bawscrt\b", "crt_http", line)
            changed += 1
        lines.append(line)
    return "".join(lines), changed


def _free_port() -> int:
    """A port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def parse(transcript: str) -> List[Tuple[str, str]]:
    return [tuple(line.split(": ", 1)) for line in transcript.splitlines() if line]  # type: ignore[misc]


def test_rewrite_touches_only_import_lines() -> None:
    source = PROGRAM.read_text()
    rewritten, changed = rewrite_imports(source)
    assert changed == 3  # from awscrt import ...; from awscrt.aio.http import ...; from awscrt.http import (
    before, after = source.splitlines(), rewritten.splitlines()
    assert len(before) == len(after)
    differing = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
    assert len(differing) == changed
    assert all(_IMPORT_LINE.match(a) and "crt_http" in b and "awscrt" not in b for a, b in differing)


def test_program_runs_unchanged_on_crt_http(tmp_path: Path, h1_server: Any, make_h1_server: Callable[..., Any],
                                            make_h2_server: Callable[..., Any], ca: Any) -> None:
    h2_server = make_h2_server(tls=True)
    h1_tls = make_h1_server(tls=True)
    untrusted = make_h1_server(tls=True, cert_kind="untrusted")
    args = ["--h1", str(h1_server.port), "--h2", str(h2_server.port), "--h1-tls", str(h1_tls.port),
            "--untrusted", str(untrusted.port), "--refused", str(_free_port()), "--ca", ca.ca_file]
    crt_program = tmp_path / "crt_http_program.py"
    crt_program.write_text(rewrite_imports(PROGRAM.read_text())[0])
    no_awscrt = ("import runpy, sys; sys.modules['awscrt'] = None; "
                 "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')")
    commands = {
        "awscrt": [sys.executable, str(PROGRAM), *args],
        "crt_http": [sys.executable, "-c", no_awscrt, str(crt_program), *args],
    }
    procs = {name: subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    cwd=str(ROOT))
             for name, cmd in commands.items()}
    outputs: Dict[str, Tuple[str, str, int]] = {}
    try:
        for name, proc in procs.items():
            out, err = proc.communicate(timeout=RUN_TIMEOUT)
            outputs[name] = (out, err, proc.returncode)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    for name, (out, err, code) in outputs.items():
        assert code == 0, f"{name} run failed ({code}):\n{err[-3000:]}"
        assert out.rstrip().endswith("end: ok"), f"{name} transcript incomplete:\n{out[-2000:]}\n{err[-2000:]}"
        assert ".unexpected:" not in out, f"{name}: a section raised:\n{out}"
    assert "Traceback" not in outputs["crt_http"][1], outputs["crt_http"][1]
    # The servers logged TLS failures (untrusted) and protocol faults on purpose.
    for server in (h1_server, h2_server, h1_tls, untrusted):
        server.errors.clear()

    theirs, ours = parse(outputs["awscrt"][0]), parse(outputs["crt_http"][0])
    assert [label for label, _ in ours] == [label for label, _ in theirs]
    undocumented = []
    for (label, their_value), (_, our_value) in zip(theirs, ours, strict=True):
        if label in DOCUMENTED_DIFFERENCES:
            assert our_value == DOCUMENTED_DIFFERENCES[label][0], (label, our_value)
        elif our_value != their_value:
            undocumented.append(f"{label}: awscrt {their_value!r}, crt_http {our_value!r}")
    assert not undocumented, "differences API.md does not list:\n" + "\n".join(undocumented)
    assert len(ours) > 80
