"""One bound on requests in flight per client, shared by threads and event loops alike.

A plain ``threading.Semaphore`` would block an event loop and an ``asyncio.Semaphore`` is
bound to one loop, so this keeps one queue of waiters of either kind and wakes each in its
own world. The bound adapts (AIMD): it grows while requests succeed and halves on a 429, so a
client converges to the account's rate limit instead of retrying in a storm.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from dataclasses import dataclass, field

__all__ = ["ConcurrencyLimiter"]


@dataclass(eq=False)
class _Waiter:
    event: threading.Event | None = None
    loop: asyncio.AbstractEventLoop | None = None
    future: asyncio.Future[None] | None = field(default=None)


class ConcurrencyLimiter:
    """At most ``limit`` holders at once; ``limit`` moves between 1 and ``maximum``."""

    def __init__(self, maximum: int, *, initial: int | None = None, adaptive: bool = True) -> None:
        if maximum < 1:
            raise ValueError("max_concurrency must be at least 1")
        self.maximum = maximum
        self.adaptive = adaptive
        start = maximum if initial is None or not adaptive else max(1, min(initial, maximum))
        self._limit = float(start)
        self._slow_start_until = float(maximum)
        self._in_flight = 0
        self.peak_in_flight = 0
        self._waiters: deque[_Waiter] = deque()
        self._lock = threading.Lock()

    @property
    def limit(self) -> int:
        """The current bound on requests in flight."""
        return max(1, int(self._limit))

    @property
    def in_flight(self) -> int:
        return self._in_flight

    # --- acquiring ----------------------------------------------------------------------

    def acquire(self) -> None:
        """Block the calling thread until a slot is free, then hold it."""
        with self._lock:
            if self._try_take():
                return
            waiter = _Waiter(event=threading.Event())
            self._waiters.append(waiter)
        assert waiter.event is not None
        waiter.event.wait()

    async def acquire_async(self) -> None:
        """Wait in the running loop until a slot is free, then hold it; cancellable."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._try_take():
                return
            future: asyncio.Future[None] = loop.create_future()
            waiter = _Waiter(loop=loop, future=future)
            self._waiters.append(waiter)
        try:
            await future
        except asyncio.CancelledError:
            with self._lock:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                    raise
            # The slot was granted as we were cancelled: give it back, unless the wake-up
            # callback finds the future cancelled and does so itself.
            if future.done() and not future.cancelled():
                self.release()
            raise

    def release(self) -> None:
        """Give a slot back and wake whoever waits next."""
        with self._lock:
            self._in_flight -= 1
            self._wake_ready()

    # --- adapting -----------------------------------------------------------------------

    def record_success(self) -> None:
        """A request went through: grow by one per success below the threshold (doubling per
        round trip), by one per round trip above it."""
        if not self.adaptive:
            return
        with self._lock:
            if self._limit < self._slow_start_until:
                self._limit = min(self.maximum, self._limit + 1)
            else:
                self._limit = min(self.maximum, self._limit + 1 / self._limit)
            self._wake_ready()

    def record_throttle(self) -> None:
        """A 429: halve the bound and remember where the trouble began."""
        if not self.adaptive:
            return
        with self._lock:
            self._slow_start_until = max(1.0, self._limit / 2)
            self._limit = max(1.0, self._limit / 2)

    # --- internals (called with the lock held) -----------------------------------------

    def _try_take(self) -> bool:
        if self._waiters or self._in_flight >= self.limit:
            return False
        self._take()
        return True

    def _take(self) -> None:
        self._in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self._in_flight)

    def _wake_ready(self) -> None:
        while self._waiters and self._in_flight < self.limit:
            waiter = self._waiters.popleft()
            self._take()
            if waiter.event is not None:
                waiter.event.set()
            else:
                assert waiter.loop is not None and waiter.future is not None
                try:
                    waiter.loop.call_soon_threadsafe(self._grant, waiter.future)
                except RuntimeError:  # that loop is closed: nobody will use the slot
                    self._in_flight -= 1

    def _grant(self, future: asyncio.Future[None]) -> None:
        if future.cancelled():
            self.release()
        else:
            future.set_result(None)
