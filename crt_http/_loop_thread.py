"""A daemon thread running one asyncio (or uvloop) event loop, for the sync API."""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Callable

__all__ = ["LOOP_IMPLS", "LoopThread", "loop_factory", "running_loops"]

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


class LoopThread:
    """Starts a daemon thread that runs a new event loop (``.loop``) until :meth:`stop`.

    Work is handed to the loop with ``loop.call_soon_threadsafe`` or
    ``asyncio.run_coroutine_threadsafe`` (possible at once: calls made before the thread
    runs the loop are queued). When the loop stops, tasks still pending are cancelled, async
    generators and the default executor are shut down, the loop is closed, and ``on_exit``
    (if given) is called in the thread.
    """

    __slots__ = ("_on_exit", "_thread", "loop", "__weakref__")

    def __init__(self, loop_impl: str = "asyncio", name: str = "crt_http-loop",
                 on_exit: Callable[[], None] | None = None) -> None:
        self.loop = loop_factory(loop_impl)()
        self._on_exit = on_exit
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        _ALL.add(self)

    def _run(self) -> None:
        loop = self.loop
        asyncio.set_event_loop(loop)
        try:
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
