"""A daemon thread running one asyncio (or uvloop) event loop, for the sync API."""

from __future__ import annotations

import asyncio
import os
import threading
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

__all__ = ["LOOP_IMPLS", "LoopThread", "Poster", "loop_factory", "poster_for", "running_loops"]

LOOP_IMPLS = ("asyncio", "uvloop")

# Bound on the clean-up a stopping loop does for tasks and async generators left behind.
_CLEANUP_TIMEOUT = 1.0


def loop_factory(loop_impl: str) -> Callable[[], asyncio.AbstractEventLoop]:
    """The function that makes a new loop of ``loop_impl`` ("asyncio" or "uvloop").

    ``ValueError`` for another name; ``ImportError`` saying what to install if uvloop is
    missing.
    """
    if loop_impl == "asyncio":
        return asyncio.new_event_loop
    if loop_impl == "uvloop":
        try:
            import uvloop
        except ImportError as exc:
            raise ImportError(
                "loop_impl 'uvloop' needs the uvloop package: pip install 'crt_http[uvloop]'"
            ) from exc
        return uvloop.new_event_loop
    raise ValueError(f"loop_impl must be one of {LOOP_IMPLS}, got {loop_impl!r}")


class Poster:
    """Runs calls on one loop's thread, in the order they were posted.

    On the loop's thread a call runs at once. From another thread it is queued, and only
    the first call of a batch wakes the loop: one ``eventfd`` write the loop watches with
    ``add_reader`` (cheaper than ``call_soon_threadsafe``'s self-pipe on asyncio: no Handle,
    one read); where ``os.eventfd`` is missing, ``call_soon_threadsafe``. Calls posted before
    the loop got to the batch ride along, each run directly. A call that raises is reported
    to the loop's exception handler, as ``call_soon`` does; the calls after it still run.
    """

    __slots__ = ("_loop", "_thread_id", "_calls", "_scheduled", "_fd", "__weakref__")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._thread_id = 0  # set by bind()
        self._calls: deque[tuple[Callable[..., Any], tuple[Any, ...]]] = deque()
        self._scheduled = False
        self._fd = -1
        if hasattr(os, "eventfd"):
            self._fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
            # Closed when nothing can post any more (a post after that would hit a reused fd).
            # At interpreter exit the OS closes it (a loop thread may still watch it then).
            weakref.finalize(self, os.close, self._fd).atexit = False

    def bind(self) -> None:
        """Called on the loop's thread before it runs the loop: calls from it run at once,
        and the loop watches the eventfd. Calls posted earlier are queued until then."""
        self._thread_id = threading.get_ident()
        if self._fd >= 0:
            self._loop.add_reader(self._fd, self._woken)

    def post(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on the loop's thread: now if called there, else soon.

        ``RuntimeError`` if the loop is closed.
        """
        if threading.get_ident() == self._thread_id:
            fn(*args)
            return
        if self._loop.is_closed():
            raise RuntimeError("Event loop is closed")
        self._calls.append((fn, args))
        # Append first, then look: _run clears the flag before it empties the queue, so a
        # call is either seen by a batch still to run or schedules one (two threads racing
        # here may both schedule; the second batch then finds the queue empty).
        if not self._scheduled:
            self._scheduled = True
            if self._fd >= 0:
                os.eventfd_write(self._fd, 1)
            else:
                self._loop.call_soon_threadsafe(self._run)

    def _woken(self) -> None:
        # Read, then clear: a post whose write this read took was queued before it, so the
        # drain below runs it; a post after the clear writes again. (Clear, then read would
        # lose a write made in between: its flag stays set, no wake-up ever comes.)
        try:
            os.eventfd_read(self._fd)
        except BlockingIOError:
            pass
        self._scheduled = False
        self._drain()

    def _run(self) -> None:
        self._scheduled = False
        self._drain()

    def _drain(self) -> None:
        calls = self._calls
        while calls:
            fn, args = calls.popleft()
            try:
                fn(*args)
            except Exception as exc:  # noqa: BLE001 - reported as asyncio reports a Handle's
                self._loop.call_exception_handler({
                    "message": f"Exception in {fn!r} posted to the loop", "exception": exc})


def poster_for(loop: asyncio.AbstractEventLoop) -> Poster:
    """The :class:`Poster` of ``loop``, which must be the loop of a :class:`LoopThread`."""
    for thread in list(_ALL):
        if thread.loop is loop:
            return thread.poster
    raise ValueError(f"{loop!r} is not the loop of a crt_http loop thread")


class LoopThread:
    """Starts a daemon thread that runs a new event loop (``.loop``) until :meth:`stop`.

    Work is handed to the loop with ``.poster.post`` (the cheapest), ``loop.call_soon_threadsafe``
    or ``asyncio.run_coroutine_threadsafe`` (possible at once: calls made before the thread
    runs the loop are queued). When the loop stops, tasks still pending are cancelled, async
    generators and the default executor are shut down, the loop is closed, and ``on_exit``
    (if given) is called in the thread.
    """

    __slots__ = ("_on_exit", "_thread", "loop", "poster", "__weakref__")

    def __init__(self, loop_impl: str = "asyncio", name: str = "crt_http-loop",
                 on_exit: Callable[[], None] | None = None) -> None:
        self.loop = loop_factory(loop_impl)()
        self.poster = Poster(self.loop)
        self._on_exit = on_exit
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        _ALL.add(self)

    def _run(self) -> None:
        loop = self.loop
        asyncio.set_event_loop(loop)
        try:
            self.poster.bind()
            loop.run_forever()
        finally:
            try:
                _cleanup(loop)
            finally:
                loop.close()
                asyncio.set_event_loop(None)
                if self._on_exit is not None:
                    self._on_exit()

    def is_alive(self) -> bool:
        """True until the thread has finished."""
        return self._thread.is_alive()

    def stop(self, timeout: float | None = 5.0) -> bool:
        """Stop the loop and wait up to ``timeout`` seconds for the thread to end.

        Returns True if the thread has ended. Called from the loop's own thread, it only
        asks the loop to stop (the thread ends once the current callback returns) and
        returns False.
        """
        if not self._thread.is_alive():
            return True
        try:
            self.loop.call_soon_threadsafe(self.loop.stop)
        except RuntimeError:  # the loop closed between the check and the call
            pass
        if threading.current_thread() is self._thread:
            return False
        self._thread.join(timeout)
        return not self._thread.is_alive()


_ALL: "weakref.WeakSet[LoopThread]" = weakref.WeakSet()


def running_loops() -> list[asyncio.AbstractEventLoop]:
    """The loops of every LoopThread still running (for diagnostics and tests)."""
    return [t.loop for t in list(_ALL) if t.is_alive() and t.loop.is_running()]


def _cleanup(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what is left on ``loop`` and shut down its generators and executor, each step
    bounded by _CLEANUP_TIMEOUT so a stuck task cannot keep the thread alive."""
    tasks = asyncio.all_tasks(loop)
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.wait(tasks, timeout=_CLEANUP_TIMEOUT))
    try:
        loop.run_until_complete(asyncio.wait_for(loop.shutdown_asyncgens(), _CLEANUP_TIMEOUT))
        loop.run_until_complete(
            asyncio.wait_for(loop.shutdown_default_executor(), _CLEANUP_TIMEOUT))
    except (TimeoutError, RuntimeError):
        # A generator or a getaddrinfo() that does not finish in time, or (at interpreter
        # exit) no new thread allowed for the executor's shutdown: leave them to the runtime.
        pass
