"""Pacing by the account's budget: requests and tokens per second, not only requests in flight.

Two token buckets, one for requests and one for tokens, release each request when both hold
enough; the tokens a request will use are estimated before sending (characters times a ratio
learned from the answers' ``usage``) and the bucket is corrected when the answer says how many
it used. Each bucket is paced at a *level* of its limit, moved as TCP moves its window:

- requests start under a fifth of the limit and grow no faster than burst protection allows
  (slow start: the rate stays under twice its mean over the five seconds before the last), so
  the service's protection, which refuses traffic that grows too fast, does not fire;
- a 429 of a kind cuts that bucket's level (a burst 429 halves the request level), and the
  level then grows back additively, so independent clients sharing one account converge to
  fair shares instead of a 429 storm;
- a limit not told is learned, on any host (the service's own, a gateway, a proxy): no pacing
  until its first 429, then a little under the rate the service accepted in the second
  before (refined by the answers of the next two seconds, which a 429 may have overtaken);
  each later 429 re-learns it from the rate accepted (over a window of a few answers at the
  pace), or, with nothing accepted, cuts the pace further, down to a fraction of a request a
  second; after two quiet seconds it is probed upwards by the same step in requests for every
  client (additive, so clients that share an account without knowing it converge to fair
  shares).

The state is plain data advanced by pure functions, so it can live in this process
(``LocalBudget``), in a file shared by the processes of one machine (``FileBudget``), or in a
Ray actor shared by a cluster; ``Governor`` is the per-client side.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from .budget_state import BudgetBackend, ThrottleKind
from .budgets import FileBudget, LocalBudget, RayBudget
from .config import ResolvedConfig
from .execution import Receipt
from .quotas import fetch_quotas
from .ratelimit import RateLimit, published_limit

__all__ = ["Governor", "ThrottleKind", "governor_for"]


PROGRESS_SECONDS = 10.0
"""A 429 within this long of an accepted answer of the same client is contention (the account
serves the client, this request waits its turn): it is not counted against ``max_retries``."""

_log = logging.getLogger("modelstudio_embeddings")


@dataclass
class Governor:
    """One client's access to its budget group: estimates a request's tokens, waits for the
    budget, corrects it from the answer, and reports 429s; counts the time spent waiting.

    ``discover``, if given, is asked once, before the first request, for the account's limits
    (the quotas endpoint); what it returns is paced as told, ``limit``'s told fields first."""

    backend: BudgetBackend
    group: str
    limit: RateLimit
    discover: Callable[[], RateLimit | None] | None = None
    tokens_per_char: float = 1.0
    """Learned from the answers (starts high, so the first requests are not under-counted)."""
    learning_since: float | None = None
    """When this client met its first 429 of a limit it had to learn (``time.time()``)."""
    _learned: int = 0
    _last_accepted: float = -math.inf
    _answers: deque[tuple[float, float]] = field(default_factory=deque, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _discovery: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def wait(
        self,
        receipt: Receipt,
        rows: int,
        chars: int,
        stopped: threading.Event,
        time_left: float | None,
    ) -> float:
        """Block until the budget grants the request (or the call stops or runs out of time);
        the seconds waited. Raises TimeoutError past ``time_left``. The estimate is made
        afresh at each try: a request that waited long must not carry an early guess."""
        self._discover()
        waited = 0.0
        while (delay := self._try(receipt, rows, chars)) > 0:
            if time_left is not None and waited + delay > time_left:
                raise TimeoutError("the budget would not grant the request in time")
            if stopped.wait(delay):
                break
            waited += delay
        return waited

    async def await_budget(
        self, receipt: Receipt, rows: int, chars: int, time_left: float | None
    ) -> float:
        """``wait`` on the running event loop."""
        if self.discover is not None:
            await asyncio.to_thread(self._discover)
        waited = 0.0
        while (delay := self._try(receipt, rows, chars)) > 0:
            if time_left is not None and waited + delay > time_left:
                raise TimeoutError("the budget would not grant the request in time")
            await asyncio.sleep(delay)
            waited += delay
        return waited

    def _discover(self) -> None:
        """Ask ``discover`` once for the account's limits; a failure changes nothing. The
        other first requests wait for the answer (a flood before it would be unpaced)."""
        if self.discover is None:
            return
        with self._discovery:
            discover = self.discover
            if discover is None:
                return
            try:
                found = discover()
            except Exception as exc:  # a look-up that fails falls back, never fails a call
                _log.debug("The account's limits could not be looked up: %s", exc)
                found = None
            if found is not None:
                told = self.limit
                self.limit = RateLimit(
                    told.requests_per_minute or found.requests_per_minute,
                    told.tokens_per_minute or found.tokens_per_minute,
                )
                _log.info("Pacing %s at the account's limits %s", self.group, self.limit)
            self.discover = None

    def _try(self, receipt: Receipt, rows: int, chars: int) -> float:
        receipt.estimate = rows + chars * self.tokens_per_char
        wait = self.backend.take(self.group, self.limit, 1, receipt.estimate)
        receipt.granted = wait <= 0
        return wait

    def give_back(self, receipt: Receipt) -> None:
        """A request that was granted its budget but never sent (cancelled, interrupted, out
        of time) returns it, so the next request is not held back by one that never went."""
        if receipt.granted and not receipt.sent:
            receipt.granted = False
            self.backend.settle(self.group, self.limit, -receipt.estimate, 0.0)

    def settle(self, receipt: Receipt, chars: int, rows: int) -> None:
        """Correct the budget by what the answer used, and learn tokens per character."""
        if receipt.used is None:
            return
        if receipt.used > 0:
            now = time.monotonic()
            with self._lock:
                self._last_accepted = now
                self._answers.append((now, receipt.used))
                while self._answers and self._answers[0][0] < now - PROGRESS_SECONDS:
                    self._answers.popleft()
                if chars > 0:
                    observed = max(0.0, receipt.used - rows) / chars
                    weight = 1.0 if self._learned == 0 else 0.2  # the first replaces the guess
                    self.tokens_per_char += weight * (observed - self.tokens_per_char)
                    self._learned += 1
        # A 429's estimate is not given back: the service's budget is spent, and a refund would
        # let a client whose requests are refused send again at once, as fast as the 429s come
        # back (four processes each told the whole limit kept 25 requests a second in the air
        # against a limit of four, and requests failed after every retry).
        correction = 0.0 if receipt.refused else receipt.used - receipt.estimate
        self.backend.settle(self.group, self.limit, correction, receipt.used)

    def throttled(self, kind: ThrottleKind, receipt: Receipt) -> None:
        """Report a 429 to the budget; a change of pace is logged (INFO), once per change."""
        learns = (
            self.limit.tokens_per_minute if kind == "tokens" else self.limit.requests_per_minute
        ) is None
        if learns and self.learning_since is None:
            self.learning_since = time.time()
            _log.info(
                "429 (%s) from %s: learning the account's limits from the rate it accepts "
                "(tell them with rate_limit=RateLimit(...) to skip this)",
                kind,
                self.group,
            )
        amount = receipt.estimate if kind == "tokens" else 1.0
        change = self.backend.throttled(self.group, self.limit, kind, amount)
        if change:
            _log.info("Rate limits of %s: %s", self.group, change)

    def contended(self) -> bool:
        """Whether an answer of this client was accepted lately (``PROGRESS_SECONDS``): a 429
        now is the account being shared, not a limit that refuses everything."""
        return time.monotonic() - self._last_accepted <= PROGRESS_SECONDS

    def accepted_rate(self) -> str:
        """What the service accepted from this client lately, in words (for a final 429)."""
        now = time.monotonic()
        with self._lock:
            recent = [(t, used) for t, used in self._answers if t >= now - PROGRESS_SECONDS]
        if not recent:
            return f"the service accepted none of this client's requests in {PROGRESS_SECONDS:g} s"
        seconds = max(1.0, now - recent[0][0])
        tokens = sum(used for _, used in recent)
        return (
            f"the client had slowed to {len(recent) / seconds:.2g} requests/s and "
            f"{tokens / seconds:.4g} tokens/s accepted over the last {seconds:.0f} s"
        )

    def paced_limits(self) -> RateLimit | None:
        """The limits paced at now, per minute, learned ones included (None: unknown here)."""
        try:
            return self.backend.limits(self.group, self.limit)
        except Exception:  # a budget elsewhere that cannot answer now: say nothing
            return None


def governor_for(
    config: ResolvedConfig,
    model: str,
    rate_limit: RateLimit | Literal[False] | None,
    rate_budget: LocalBudget | FileBudget | RayBudget | None,
) -> Governor | None:
    """The account's budget for ``model``, on any host: the limits told, else those the host's
    quotas endpoint tells (asked once, before the first request), else those published for the
    service's own host; what is still unknown is learned from the first 429s.
    ``rate_limit=False``: no budget, the in-flight bound alone."""
    if rate_limit is False:
        return None
    host = config.host_url
    published = published_limit(host, model)
    limit = rate_limit or (published.limit if published else RateLimit())
    group = published.group if published else f"{host}:{model}"
    backend = (rate_budget or LocalBudget()).open()
    discover = None
    if limit.learns:
        discover = functools.partial(fetch_quotas, host, config.api_key, model)
    return Governor(backend, group, limit, discover=discover)
