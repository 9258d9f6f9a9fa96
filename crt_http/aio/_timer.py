"""One timer per connection, re-armed from its earliest deadline."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from typing import Any, Callable, Dict, List, Optional, Tuple


class Deadlines:
    """Deadlines keyed by any hashable; ``on_expire(key)`` runs on the loop when one passes.

    Cleared deadlines stay in the heap until they surface (lazy deletion), so ``set`` and
    ``clear`` are O(log n) and O(1).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, on_expire: Callable[[Any], None]) -> None:
        self._loop = loop
        self._on_expire = on_expire
        self._when: Dict[Any, float] = {}
        self._heap: List[Tuple[float, int, Any]] = []
        self._seq = itertools.count()
        self._handle: Optional[asyncio.TimerHandle] = None
        self._armed_at = 0.0

    def set(self, key: Any, delay: float) -> None:
        """Expire ``key`` ``delay`` seconds from now (replacing an earlier deadline)."""
        when = self._loop.time() + delay
        self._when[key] = when
        heapq.heappush(self._heap, (when, next(self._seq), key))
        if self._handle is None or when < self._armed_at:
            self._arm(when)

    def clear(self, key: Any) -> None:
        """Forget ``key``'s deadline, if any."""
        self._when.pop(key, None)
        if not self._when and self._handle is not None:
            self._handle.cancel()
            self._handle = None
            self._heap.clear()

    def __contains__(self, key: Any) -> bool:
        return key in self._when

    def cancel_all(self) -> None:
        """Drop every deadline (the connection is gone)."""
        self._when.clear()
        self._heap.clear()
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _arm(self, when: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._armed_at = when
        self._handle = self._loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self._handle = None
        now = self._loop.time()
        heap = self._heap
        expired = []
        while heap and heap[0][0] <= now:
            when, _seq, key = heapq.heappop(heap)
            if self._when.get(key) == when:
                del self._when[key]
                expired.append(key)
        while heap and self._when.get(heap[0][2]) != heap[0][0]:
            heapq.heappop(heap)
        if heap:
            self._arm(heap[0][0])
        for key in expired:
            self._on_expire(key)
