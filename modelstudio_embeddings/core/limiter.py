"""One bound on requests in flight per client, shared by threads and event loops alike.

A plain ``threading.Semaphore`` would block an event loop and an ``asyncio.Semaphore`` is
bound to one loop, so this keeps one queue of waiters of either kind and wakes each in its
own world. The bound adapts: it doubles every round trip while requests succeed (slow start),
halves on a 429, and then grows back with time as TCP's CUBIC does, fast at first, slowly
near the bound that was throttled, probing beyond it only after a pause. A client therefore
settles just under the account's rate limit and meets a 429 every few seconds, not several a
second. One burst of 429s is one event: the 429s of requests sent before the cut tell nothing
new and do not cut again.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["ConcurrencyLimiter", "cubic_bound"]

DECREASE = 0.5
"""The bound after a 429, as a share of the bound before it."""
GROWTH = 0.4
"""CUBIC's C: how fast the bound grows back, in requests in flight per second cubed."""


def cubic_bound(throttled_at: float, seconds: float) -> float:
    """The bound ``seconds`` after a 429 cut it from ``throttled_at``: ``DECREASE`` times it at
    once, back to it after ``K`` seconds (concave), beyond it only later (convex)."""
    k = math.cbrt(throttled_at * (1 - DECREASE) / GROWTH)
    return GROWTH * (seconds - k) ** 3 + throttled_at


@dataclass(eq=False)
class _Waiter:
    event: threading.Event | None = None
    loop: asyncio.AbstractEventLoop | None = None
    future: asyncio.Future[None] | None = field(default=None)


class ConcurrencyLimiter:
    """At most ``limit`` holders at once; ``limit`` moves between 1 and ``maximum``."""

    def __init__(
        self,
        maximum: int,
        *,
        initial: int | None = None,
        adaptive: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if maximum < 1:
            raise ValueError("max_concurrency must be at least 1")
        self.maximum = maximum
        self.adaptive = adaptive
        start = maximum if initial is None or not adaptive else max(1, min(initial, maximum))
        self._limit = float(start)
        self._clock = clock
        self._throttled_at: float | None = None  # the bound a 429 last cut; None: slow start
        self._cut_time = 0.0
        self._cuts = 0
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

    def acquire(self, timeout: float | None = None) -> int:
        """Block the calling thread until a slot is free, then hold it. Returns the epoch the
        request goes out in, for ``record_throttle``. Raises ``TimeoutError`` after
        ``timeout`` seconds; an interrupt (Ctrl-C) while waiting leaves no slot behind."""
        with self._lock:
            if self._try_take():
                return self._cuts
            waiter = _Waiter(event=threading.Event())
            self._waiters.append(waiter)
        assert waiter.event is not None
        granted = False
        try:
            granted = waiter.event.wait(timeout)
        finally:
            if not granted:
                self._withdraw(waiter)
        if not granted:
            raise TimeoutError("no request slot was free in time")
        return self._cuts

    def _withdraw(self, waiter: _Waiter) -> None:
        """Take a thread waiter out of the queue, or give back the slot it was granted
        just as it stopped waiting."""
        with self._lock:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
                return
        self.release()

    async def acquire_async(self) -> int:
        """Wait in the running loop until a slot is free, then hold it; cancellable. Returns
        the epoch, as ``acquire``."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._try_take():
                return self._cuts
            future: asyncio.Future[None] = loop.create_future()
            waiter = _Waiter(loop=loop, future=future)
            self._waiters.append(waiter)
        try:
            await future
            return self._cuts
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

    def reset_after_fork(self) -> None:
        """In a forked child: no request of the parent's is in flight here, and no thread of
        the parent's waits; the lock may have been held by a thread that does not exist."""
        self._lock = threading.Lock()
        self._waiters.clear()
        self._in_flight = 0

    # --- adapting -----------------------------------------------------------------------

    def record_success(self) -> None:
        """A request went through: one more slot per success before any 429 (doubling each
        round trip), else the CUBIC bound for the time since the last cut."""
        if not self.adaptive:
            return
        with self._lock:
            if self._throttled_at is None:
                grown = self._limit + 1
            else:
                grown = cubic_bound(self._throttled_at, self._clock() - self._cut_time)
            self._limit = max(1.0, min(float(self.maximum), grown))
            self._wake_ready()

    def record_throttle(self, sent_in: int | None = None) -> None:
        """A 429: cut the bound by ``DECREASE`` and remember where, unless the request went
        out (``sent_in``, from ``acquire``) before the last cut, which already answered it."""
        if not self.adaptive:
            return
        with self._lock:
            if sent_in is not None and sent_in < self._cuts:
                return
            self._cuts += 1
            self._throttled_at = self._limit
            self._cut_time = self._clock()
            self._limit = max(1.0, self._limit * DECREASE)

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
