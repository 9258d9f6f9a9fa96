"""Autouse check, after every test: no live connection driver, stream core or open asyncio
transport of crt_http is left, and no task is pending on the sync API's loop threads.

A ResourceWarning surfaces late and blames the wrong test; counting right after each test
blames the right one. Objects get up to two seconds to go (a sync connection finishes
closing on its loop thread). Loaded with ``-p tests.leakcheck`` (pyproject addopts).
"""

from __future__ import annotations

import asyncio
import gc
import time
from typing import Iterator, List

import pytest

GRACE_SECONDS = 2.0


def _live() -> List[str]:
    from crt_http.aio._driver import ConnectionDriver
    from crt_http.aio._stream import StreamCore

    found = []
    for obj in gc.get_objects():
        if isinstance(obj, ConnectionDriver):
            found.append(f"{type(obj).__name__} to {obj.where} (shutdown done: {obj.shutdown_future.done()})")
        elif isinstance(obj, StreamCore):
            found.append(f"StreamCore state={obj.state} to {obj.driver.where}")
    return found


def _loop_thread_tasks() -> List[str]:
    from crt_http import _loop_thread

    tasks = []
    for loop in _loop_thread.running_loops():
        pending = asyncio.run_coroutine_threadsafe(_pending_tasks(), loop)
        try:
            tasks.extend(pending.result(2))
        except Exception as exc:  # the loop is stopping
            tasks.append(f"could not inspect loop {loop!r}: {exc!r}")
    return tasks


async def _pending_tasks() -> List[str]:
    me = asyncio.current_task()
    return [repr(t) for t in asyncio.all_tasks() if t is not me and not t.done()]


@pytest.fixture(autouse=True)
def no_leaks(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if request.node.get_closest_marker("allow_leaks") is not None:
        return
    deadline = time.monotonic() + GRACE_SECONDS
    while True:
        gc.collect()
        live = _live() + _loop_thread_tasks()
        if not live or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert not live, f"left alive after the test: {live}"


def pytest_collection_finish(session: pytest.Session) -> None:
    """Everything alive once the tests are imported (modules, fixtures' module state) is
    moved out of the collector's sight, so the full collection after each test scans only
    what tests made since (about 20 ms per test less)."""
    gc.collect()
    gc.freeze()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "allow_leaks: skip the leak check (only for tests of GC itself)")
