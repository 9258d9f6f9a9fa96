"""The loop threads of the synchronous API (API.md "io", DESIGN.md "sync shim"):

- ``EventLoopGroup(num_threads)`` owns daemon loop threads and spreads connections over them
  round-robin;
- they are stopped at interpreter exit without hanging it, even with connections and
  streams left open;
- ``ClientBootstrap`` / ``DefaultHostResolver`` are accepted and their static defaults shared
  (``new()`` without a bootstrap runs on the static default group);
- the loop implementation is selectable: ``EventLoopGroup(loop_impl=...)`` and the
  ``CRT_HTTP_LOOP`` environment variable (proved by the loop class a callback runs on);
  the aio tests' ``both_loops`` marker really runs them on uvloop.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, List, Optional

import pytest

from crt_http.http import HttpClientConnection
from crt_http.io import ClientBootstrap, DefaultHostResolver, EventLoopGroup
from tests.sync_support import TIMEOUT, request

uvloop = pytest.importorskip("uvloop", reason="uvloop is not importable")

ROOT = Path(__file__).resolve().parent.parent
EXIT_PROGRAM = Path(__file__).resolve().parent / "sync_exit_program.py"
EXIT_BOUND = 3.0


def _callback_facts(conn: Any) -> tuple:
    """(thread, loop) that ran ``on_response`` of one exchange on ``conn``."""
    seen: List[tuple] = []

    def on_response(**kwargs: Any) -> None:
        seen.append((threading.current_thread(), asyncio.get_running_loop()))

    stream = conn.request(request(), on_response)
    stream.activate()
    assert stream.completion_future.result(TIMEOUT) == 200
    return seen[0]


def _connect_all(bootstrap: Optional[ClientBootstrap], port: int, n: int) -> List[Any]:
    futures = [HttpClientConnection.new("127.0.0.1", port, bootstrap=bootstrap) for _ in range(n)]
    return [f.result(TIMEOUT) for f in futures]


def _close_all(conns: List[Any]) -> None:
    for conn in conns:
        conn.close()
    for conn in conns:
        conn.shutdown_future.result(TIMEOUT)


def test_group_threads_are_daemons_and_round_robin(h1_server: Any) -> None:
    group = EventLoopGroup(3)
    bootstrap = ClientBootstrap(group, DefaultHostResolver(group))
    conns = _connect_all(bootstrap, h1_server.port, 6)
    try:
        threads = [_callback_facts(c)[0] for c in conns]
    finally:
        _close_all(conns)
        group._close()
    assert len(set(threads)) == 3
    assert threads[:3] == threads[3:], "connection i and i+3 share a thread (round-robin)"
    assert all(t.daemon for t in threads)
    prefix = f"crt_http-elg-{id(group):x}-"
    assert sorted(t.name for t in threads[:3]) == [f"{prefix}{i}" for i in range(3)]
    assert group.shutdown_event.wait(TIMEOUT)
    assert not any(t.is_alive() for t in threads)


def test_default_bootstrap_is_shared_static_default(h1_server: Any) -> None:
    bootstrap = ClientBootstrap.get_or_create_static_default()
    assert ClientBootstrap.get_or_create_static_default() is bootstrap
    assert bootstrap.event_loop_group is EventLoopGroup.get_or_create_static_default()
    assert bootstrap.host_resolver is DefaultHostResolver.get_or_create_static_default()
    assert DefaultHostResolver.get_or_create_static_default() is bootstrap.host_resolver
    conns = _connect_all(None, h1_server.port, 2)
    try:
        threads = {_callback_facts(c)[0] for c in conns}
    finally:
        _close_all(conns)
    group = EventLoopGroup.get_or_create_static_default()
    assert [t.name.startswith(f"crt_http-elg-{id(group):x}-") for t in threads] == [True]


@pytest.mark.parametrize("how", ["parameter", "environment"])
@pytest.mark.parametrize("impl", ["asyncio", "uvloop"])
def test_loop_implementation_is_selectable(impl: str, how: str, h1_server: Any,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    if how == "parameter":
        monkeypatch.setenv("CRT_HTTP_LOOP", "asyncio" if impl == "uvloop" else "uvloop")
        group = EventLoopGroup(1, loop_impl=impl)
    else:
        monkeypatch.setenv("CRT_HTTP_LOOP", impl)
        group = EventLoopGroup(1)
    assert group.loop_impl == impl
    conns = _connect_all(ClientBootstrap(group, DefaultHostResolver(group)), h1_server.port, 1)
    try:
        _thread, loop = _callback_facts(conns[0])
    finally:
        _close_all(conns)
        group._close()
    assert isinstance(loop, uvloop.Loop) == (impl == "uvloop")
    assert isinstance(loop, asyncio.AbstractEventLoop)


@pytest.mark.both_loops
async def test_aio_tests_run_on_the_named_loop(loop_impl: str) -> None:
    """The ``both_loops`` marker runs aio tests on asyncio and on uvloop."""
    loop = asyncio.get_running_loop()
    assert isinstance(loop, uvloop.Loop) == (loop_impl == "uvloop")


def _run_exit_program(h1_server: Any, h2_server: Any, ca: Any, env_loop: Optional[str],
                      extra: List[str]) -> tuple:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("CRT_HTTP_LOOP", None)
    if env_loop is not None:
        env["CRT_HTTP_LOOP"] = env_loop
    cmd = [sys.executable, str(EXIT_PROGRAM), "--h1", str(h1_server.port), "--h2", str(h2_server.port),
           "--ca", ca.ca_file, *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        lines = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            if not line:
                break
            lines.append(line.strip())
            if line.strip() == "READY":
                break
        assert lines and lines[-1] == "READY", (lines, proc.stderr.read() if proc.poll() is not None else "")  # type: ignore[union-attr]
        ready_at = time.monotonic()
        try:
            proc.wait(EXIT_BOUND + 2)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the interpreter did not exit within {EXIT_BOUND + 2} s of READY")
        elapsed = time.monotonic() - ready_at
        stderr = proc.stderr.read()  # type: ignore[union-attr]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()  # type: ignore[union-attr]
        proc.stderr.close()  # type: ignore[union-attr]
    return lines, elapsed, proc.returncode, stderr


@pytest.mark.parametrize("group,env_loop,extra,expect_loop", [
    ("default", None, [], "asyncio"),
    ("default", "uvloop", [], "uvloop"),
    ("explicit", None, ["--loop-impl", "uvloop"], "uvloop"),
    ("explicit", "uvloop", ["--loop-impl", "asyncio"], "asyncio"),
], ids=["default-asyncio", "default-env-uvloop", "explicit-uvloop", "explicit-param-beats-env"])
def test_interpreter_exits_promptly_with_open_connections(group: str, env_loop: Optional[str], extra: List[str],
                                                          expect_loop: str, h1_server: Any,
                                                          make_h2_server: Callable[..., Any], ca: Any) -> None:
    """Open connections with streams stalled mid-body, then exit: the loop threads (daemons)
    stop at exit and the process ends within ~3 s, cleanly."""
    h2_server = make_h2_server(tls=True)
    lines, elapsed, returncode, stderr = _run_exit_program(
        h1_server, h2_server, ca, env_loop, ["--group", group, *extra])
    assert returncode == 0, stderr
    assert elapsed < EXIT_BOUND, f"exit took {elapsed:.2f} s"
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr
    loops = next(line for line in lines if line.startswith("loops ")).split()[1:]
    assert len(loops) == 1
    assert loops[0].startswith("uvloop") == (expect_loop == "uvloop"), loops
    threads = next(line for line in lines if line.startswith("loop_threads ")).split()
    assert threads[1:] == ["1" if group == "default" else "2", "daemon"], threads
