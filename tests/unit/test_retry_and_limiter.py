"""The retry policy as data, and the one in-flight bound shared by threads and event loops."""

from __future__ import annotations

import asyncio
import random
import threading
import time

import pytest

import modelstudio_embeddings as mse
from modelstudio_embeddings.core.limiter import ConcurrencyLimiter, cubic_bound
from modelstudio_embeddings.core.retry import RetryPolicy

RNG = random.Random(0)


@pytest.mark.parametrize(
    "error",
    [
        mse.RateLimitError("429"),
        mse.ServiceUnavailableError("500"),
        mse.APIConnectionError("reset"),
        mse.APITimeoutError("slow"),
    ],
)
def test_transient_failures_are_retried_with_growing_backoff(error: mse.ModelStudioError) -> None:
    policy = RetryPolicy(max_retries=3, initial_delay=1.0, max_delay=100.0)
    delays = [policy.delay(n, error, RNG) for n in range(3)]
    assert all(d is not None for d in delays)
    assert [0.5 <= delays[0] <= 1.0, 1.0 <= delays[1] <= 2.0, 2.0 <= delays[2] <= 4.0] == [True] * 3  # type: ignore[operator]
    assert policy.delay(3, error, RNG) is None


@pytest.mark.parametrize(
    "error",
    [
        mse.InvalidRequestError("400"),
        mse.AuthenticationError("401"),
        mse.PermissionDeniedError("403"),
        mse.ModelNotFoundError("404"),
        mse.BillingError("arrears"),
        mse.ContentInspectionError("moderated"),
        mse.ResponseValidationError("bad body"),
    ],
)
def test_other_failures_are_never_retried(error: mse.ModelStudioError) -> None:
    assert RetryPolicy().delay(0, error, RNG) is None


def test_retry_after_is_honoured_and_an_absurd_one_gives_up() -> None:
    policy = RetryPolicy(initial_delay=0.01)
    assert policy.delay(0, mse.RateLimitError("429", retry_after=3.0), RNG) >= 3.0  # type: ignore[operator]
    assert policy.delay(0, mse.RateLimitError("429", retry_after=10_000.0), RNG) is None


def test_jitter_spreads_clients_apart() -> None:
    policy = RetryPolicy(initial_delay=1.0)
    delays = {policy.delay(2, mse.RateLimitError("429"), random.Random(seed)) for seed in range(20)}
    assert len(delays) == 20


def test_bound_holds_across_threads_and_event_loops_at_once() -> None:
    limiter = ConcurrencyLimiter(3, adaptive=False)
    holders = 0
    peak = 0
    lock = threading.Lock()

    def hold() -> None:
        nonlocal holders, peak
        with lock:
            holders += 1
            peak = max(peak, holders)
        time.sleep(0.01)
        with lock:
            holders -= 1

    def thread_work() -> None:
        for _ in range(5):
            limiter.acquire()
            try:
                hold()
            finally:
                limiter.release()

    async def async_work() -> None:
        for _ in range(5):
            await limiter.acquire_async()
            try:
                await asyncio.to_thread(hold)
            finally:
                limiter.release()

    def loop_work() -> None:
        async def main() -> None:
            await asyncio.gather(*(async_work() for _ in range(3)))

        asyncio.run(main())

    threads = [threading.Thread(target=thread_work) for _ in range(3)]
    threads += [threading.Thread(target=loop_work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert peak <= 3
    assert limiter.peak_in_flight <= 3
    assert limiter.in_flight == 0


async def test_a_cancelled_waiter_gives_its_slot_back() -> None:
    limiter = ConcurrencyLimiter(1, adaptive=False)
    await limiter.acquire_async()
    waiter = asyncio.ensure_future(limiter.acquire_async())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    limiter.release()
    assert limiter.in_flight == 0
    await asyncio.wait_for(limiter.acquire_async(), 1)
    limiter.release()


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_bound_doubles_each_round_trip_until_the_first_429() -> None:
    limiter = ConcurrencyLimiter(16, initial=8)
    assert limiter.limit == 8
    for _ in range(8):  # one round trip of eight successes
        limiter.record_success()
    assert limiter.limit == 16
    limiter.record_success()
    assert limiter.limit == 16, "never above max_concurrency"


def test_after_a_429_the_bound_halves_then_grows_back_with_time_slowly_near_the_old_bound() -> None:
    clock = FakeClock()
    limiter = ConcurrencyLimiter(16, initial=16, clock=clock)
    limiter.record_throttle()
    assert limiter.limit == 8
    for _ in range(100):  # successes alone, with no time passing, do not grow it back
        limiter.record_success()
    assert limiter.limit == 8
    seen = []
    for tenth in range(1, 60):
        clock.now = tenth / 10
        limiter.record_success()
        seen.append(limiter.limit)
    assert seen == sorted(seen), "it only grows while requests succeed"
    k = round((16 * 0.5 / 0.4) ** (1 / 3), 1)  # CUBIC's K: seconds to get back to 16
    assert seen[int(k * 10) - 1] == 15 or seen[int(k * 10) - 1] == 16
    assert seen[4] >= 11, "fast at first: over a third of the way back within half a second"
    plateau = [n for n in seen if n >= 15]
    assert len(plateau) >= 5, "then it lingers near the bound that was throttled"


def test_cubic_bound_is_half_at_the_cut_and_the_old_bound_after_k_seconds() -> None:
    assert cubic_bound(10, 0) == pytest.approx(5)
    k = (10 * 0.5 / 0.4) ** (1 / 3)
    assert cubic_bound(10, k) == pytest.approx(10)
    assert cubic_bound(10, k + 1) == pytest.approx(10.4)


def test_one_burst_of_429s_cuts_the_bound_once() -> None:
    limiter = ConcurrencyLimiter(16, initial=16, clock=FakeClock())
    epochs = [limiter.acquire() for _ in range(16)]  # sixteen requests in flight
    for epoch in epochs:  # all sixteen come back 429: one event
        limiter.release()
        limiter.record_throttle(epoch)
    assert limiter.limit == 8
    later = limiter.acquire()  # sent after the cut: its 429 is news and cuts again
    limiter.release()
    limiter.record_throttle(later)
    assert limiter.limit == 4
    limiter.record_throttle()  # a 429 with no epoch always counts
    assert limiter.limit == 2
    for _ in range(5):
        limiter.record_throttle()
    assert limiter.limit == 1, "never below one"


async def test_async_acquire_reports_the_epoch_too() -> None:
    limiter = ConcurrencyLimiter(2, initial=2)
    first = await limiter.acquire_async()
    limiter.record_throttle(first)
    limiter.release()
    assert await limiter.acquire_async() == first + 1
    limiter.release()
