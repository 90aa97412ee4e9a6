"""The retry policy as data, and the one in-flight bound shared by threads and event loops."""

from __future__ import annotations

import asyncio
import random
import threading
import time

import pytest

import modelstudio_embeddings as mse
from modelstudio_embeddings.limiter import ConcurrencyLimiter
from modelstudio_embeddings.retry import RetryPolicy

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


def test_the_bound_halves_on_429_and_grows_back_on_success() -> None:
    limiter = ConcurrencyLimiter(16, initial=8)
    assert limiter.limit == 8
    for _ in range(8):
        limiter.record_success()
    assert limiter.limit == 16
    limiter.record_throttle()
    assert limiter.limit == 8
    limiter.record_throttle()
    assert limiter.limit == 4
    for _ in range(4):
        limiter.record_success()
    assert 4 <= limiter.limit < 6
    for _ in range(200):
        limiter.record_success()
    assert limiter.limit == 16
    for _ in range(10):
        limiter.record_throttle()
    assert limiter.limit == 1
