"""Carrying out a call's steps, on threads (sync) or on the running event loop (async).

A step is sent through a transport under the in-flight bound; what comes back (a 2xx
``Reply`` or a library error) goes back into the call, which decides everything else. The
bound, the 429 count and the request count are settled in one place for both worlds.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Generator, Iterable
from concurrent.futures import FIRST_EXCEPTION, Future, wait
from typing import Protocol

from .errors import (
    APITimeoutError,
    BurstRateLimitError,
    ModelStudioError,
    RateLimitError,
    TokenRateLimitError,
)
from .execution import Outcome, Reply, Send, Sleep, Step
from .forking import forget_in_children
from .governor import Governor, ThrottleKind
from .limiter import ConcurrencyLimiter
from .transport import AsyncTransport, SyncTransport
from .usage import UsageCounter

__all__ = ["Executor", "Job"]


class Job(Protocol):
    """What an executor can carry out: a sans-I/O state machine of Send and Sleep steps (an
    embedding ``Call``, a rerank call, ...), stoppable, with an optional deadline."""

    @property
    def stopped(self) -> threading.Event: ...

    @property
    def deadline(self) -> float | None: ...

    def drive(self) -> Generator[Step, Outcome, None]: ...

    def stop(self) -> None: ...

    def expire(self) -> None: ...

    def time_left(self) -> float | None: ...

    def request_timeout(self) -> float | None: ...


_DEADLINE_GRACE = 0.05
"""How long past a deadline a sync call waits for its requests to time out by themselves."""


class Executor:
    """Runs calls with ``workers`` each, sharing one in-flight bound across threads and loops.

    A sync call made on a thread whose event loop is running waits on a bound of its own: the
    shared bound's async holders could only release their slots on that blocked loop.
    """

    def __init__(
        self,
        sync: SyncTransport,
        async_: AsyncTransport,
        usage: UsageCounter,
        limiters: tuple[ConcurrencyLimiter, ConcurrencyLimiter],
        governor: Governor | None = None,
    ) -> None:
        self.sync = sync
        self.async_ = async_
        self._usage = usage
        self.limiter, self._loop_thread_limiter = limiters
        self.governor = governor
        forget_in_children(self)

    # --- sync ---------------------------------------------------------------------------------

    def run(self, call: Job, workers: int) -> None:
        """Carry out ``call`` on ``workers`` threads (the caller's own if one suffices).

        An interrupt, a worker's failure or the deadline stops the call's other workers
        before their next request or retry; a call with a deadline returns at it."""
        limiter = self._limiter_for_this_thread()
        if workers == 1 and call.deadline is None:
            self._work(call, limiter)
            return
        if workers < 1:
            return
        pool = self.sync.pool()
        futures = [pool.submit(self._work, call, limiter) for _ in range(workers)]
        try:
            _wait_for_workers(call, futures)
        except BaseException:
            call.stop()
            raise

    def _work(self, call: Job, limiter: ConcurrencyLimiter) -> None:
        steps = call.drive()
        try:
            step = next(steps)
            while True:
                if isinstance(step, Sleep):
                    call.stopped.wait(step.seconds)  # a stopped call wakes at once
                    step = steps.send(None)  # type: ignore[arg-type]  # nothing after a Sleep
                    continue
                outcome = self._send(call, step, limiter)
                try:
                    step_after = steps.send(outcome)
                finally:
                    self._settle(step)  # the call has read the answer's usage by now
                step = step_after
        except StopIteration:
            return

    def _send(self, call: Job, step: Send, limiter: ConcurrencyLimiter) -> Outcome:
        try:
            sent_in = limiter.acquire(timeout=call.time_left())
        except TimeoutError:
            return _no_slot(step.batch.indices)
        try:
            if self.governor is not None:
                waited = self.governor.wait(
                    step.receipt, step.batch.rows, step.chars, call.stopped, call.time_left()
                )
                self._usage.add(budget_wait_seconds=waited)
                if call.stopped.is_set():  # stopped while waiting: send nothing
                    self.governor.give_back(step.receipt)
                    return _no_slot(step.batch.indices)
            started = time.monotonic()
            self._usage.add(requests=1)
            step.receipt.sent = True
            try:
                reply = self.sync.send(step.request, call.request_timeout(), step.batch.indices)
            finally:
                self._usage.add(service_seconds=time.monotonic() - started)
        except TimeoutError:
            return _no_slot(step.batch.indices)
        except ModelStudioError as error:
            return self._failed(error, limiter, sent_in, step)
        except BaseException:  # interrupted: a grant of a request never sent goes back
            if self.governor is not None:
                self.governor.give_back(step.receipt)
            raise
        finally:
            limiter.release()
        return self._answered(reply, limiter)

    def _limiter_for_this_thread(self) -> ConcurrencyLimiter:
        in_loop = asyncio._get_running_loop() is not None
        return self._loop_thread_limiter if in_loop else self.limiter

    # --- async --------------------------------------------------------------------------------

    async def arun(self, call: Job, workers: int) -> None:
        """Carry out ``call`` with ``workers`` tasks; cancelling it cancels its requests, and
        at the deadline the requests still in flight are cancelled."""
        tasks = [asyncio.ensure_future(self._awork(call)) for _ in range(workers)]
        if not tasks:
            return
        try:
            done, pending = await asyncio.wait(
                tasks, timeout=call.time_left(), return_when=asyncio.FIRST_EXCEPTION
            )
            if pending:
                if not any(task.exception() for task in done):
                    call.expire()
                await _cancel(call, pending)
            for task in done:
                task.result()  # a worker's unexpected failure is the call's
        except BaseException:
            await _cancel(call, tasks)
            raise

    async def _awork(self, call: Job) -> None:
        steps = call.drive()
        try:
            step = next(steps)
            while True:
                if isinstance(step, Sleep):
                    await asyncio.sleep(step.seconds)
                    step = steps.send(None)  # type: ignore[arg-type]  # nothing after a Sleep
                    continue
                outcome = await self._asend(call, step)
                try:
                    step_after = steps.send(outcome)
                finally:
                    self._settle(step)
                step = step_after
        except StopIteration:
            return

    async def _asend(self, call: Job, step: Send) -> Outcome:
        limiter = self.limiter
        sent_in = await limiter.acquire_async()
        try:
            if self.governor is not None:
                waited = await self.governor.await_budget(
                    step.receipt, step.batch.rows, step.chars, call.time_left()
                )
                self._usage.add(budget_wait_seconds=waited)
            started = time.monotonic()
            self._usage.add(requests=1)
            step.receipt.sent = True
            try:
                reply = await self.async_.send(
                    step.request, call.request_timeout(), step.batch.indices
                )
            finally:
                self._usage.add(service_seconds=time.monotonic() - started)
        except TimeoutError:
            return _no_slot(step.batch.indices)
        except ModelStudioError as error:
            return self._failed(error, limiter, sent_in, step)
        except BaseException:  # cancelled: a grant of a request never sent goes back
            if self.governor is not None:
                self.governor.give_back(step.receipt)
            raise
        finally:
            limiter.release()
        return self._answered(reply, limiter)

    # --- both ---------------------------------------------------------------------------------

    def _failed(
        self, error: ModelStudioError, limiter: ConcurrencyLimiter, sent_in: int, step: Send
    ) -> ModelStudioError:
        """Count a failed request; a 429 also cuts the bound (once per burst) and tells the
        budget which limit fired (a refused request used none of it)."""
        self._usage.add(failed_requests=1)
        if isinstance(error, RateLimitError):
            self._usage.add(throttled=1)
            limiter.record_throttle(sent_in)
            if self.governor is not None:
                step.receipt.used = 0
                step.receipt.refused = True
                error.contended = self.governor.contended()
                self.governor.throttled(_kind(error), step.receipt)
                error.hint = _slowed_hint(error, self.governor)
        return error

    def _settle(self, step: Send) -> None:
        if self.governor is not None and step.receipt.estimate:
            self.governor.settle(step.receipt, step.chars, step.batch.rows)

    def _answered(self, reply: Reply, limiter: ConcurrencyLimiter) -> Reply:
        limiter.record_success()
        return reply

    def forget_after_fork(self) -> None:
        """In a forked child: no request or waiter of the parent's exists here."""
        self.limiter.reset_after_fork()
        self._loop_thread_limiter.reset_after_fork()
        self._usage.reset_after_fork()


def _wait_for_workers(call: Job, futures: list[Future[None]]) -> None:
    """Wait for a sync call's workers; at the deadline (and a short grace for requests that
    time out by themselves) the call ends, its requests still in flight abandoned."""
    time_left = call.time_left()
    timeout = None if time_left is None else time_left + _DEADLINE_GRACE
    done, pending = wait(futures, timeout=timeout, return_when=FIRST_EXCEPTION)
    for future in done:
        if future.exception() is not None:
            call.stop()
            future.result()
    if pending:
        call.expire()


async def _cancel(call: Job, tasks: Iterable[asyncio.Future[None]]) -> None:
    call.stop()
    tasks = list(tasks)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _no_slot(indices: Iterable[int]) -> ModelStudioError:
    return APITimeoutError(
        "The call's deadline passed while waiting for a request slot or the account's budget.",
        indices=indices,
    )


def _slowed_hint(error: RateLimitError, governor: Governor) -> str:
    """A 429's hint with what the client reached, for when it is finally given up on."""
    return (
        f"{type(error).hint} When it was refused, {governor.accepted_rate()}. If you know the "
        "account's limits, pass rate_limit=RateLimit(requests_per_minute=..., "
        "tokens_per_minute=...); if other processes share the account, give them one "
        "rate_budget (FileBudget or RayBudget)."
    )


def _kind(error: RateLimitError) -> ThrottleKind:
    if isinstance(error, TokenRateLimitError):
        return "tokens"
    if isinstance(error, BurstRateLimitError):
        return "burst"
    return "requests"
