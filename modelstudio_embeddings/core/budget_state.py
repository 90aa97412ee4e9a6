"""The budget's state as plain data, advanced by pure functions, and the backends that keep it
(this process, or a Ray actor through ``ray_budget``): what ``Governor`` paces against.
See ``governor``'s docstring for the pacing rules these functions carry out."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from .forking import forget_in_children
from .ratelimit import RateLimit

__all__ = [
    "LOCAL_BACKEND",
    "Bucket",
    "BudgetBackend",
    "BudgetState",
    "LocalBackend",
    "StateBackend",
    "ThrottleKind",
    "new_state",
    "paced_limits",
    "settle",
    "take",
    "throttled",
]

ThrottleKind = Literal["requests", "tokens", "burst"]

UTILIZATION = 0.97
"""The share of a told limit paced at: the rest absorbs estimation error and latency jitter."""
BUCKET_SECONDS = 0.5
"""Each bucket holds this many seconds of budget. The service's holds one second, so in steady
state it keeps half a second of slack for requests that arrive closer together than sent."""
RAMP_START = 0.16
"""The request level a new budget starts at: under burst protection's floor (a fifth of the
limit), which traffic from idle may reach at once."""
RAMP_WINDOW = 5.0
"""Burst protection compares the last second's rate with the mean of the five seconds before
it (from idle those are empty, so the start level holds until they fill)."""
RAMP_TRIGGER = 1.9
"""Slow start's level is at most this many times its mean over the ``RAMP_WINDOW`` seconds
that ended a second ago: 95% of the protection's trigger (twice that mean)."""
RAMP_STEP = 0.05
"""Seconds between the steps of the slow-start schedule."""
RECOVERY = 0.02
"""Level regained per second after a cut (additive increase)."""
CUT = 0.7
"""A level after a request or token 429 (multiplicative decrease); a learned limit re-learned
at a 429 keeps at least this share of its pace."""
BURST_CUT = 0.5
"""The request level after a burst 429."""
SAME_EVENT = 1.0
"""Seconds after a cut in which more 429s of that kind are the same event (sent before it)."""
LEARNED_MARGIN = 0.85
"""A learned limit is this share of the rate the service accepted when it said no."""
PROBE_AFTER = 2.0
"""Quiet seconds at full level before a learned limit is probed upwards."""
PROBE_RATE = 0.01
"""Share of a learned limit added per second while probing, at least."""
PROBE_REQUESTS = 0.1
"""Requests a second added to a learned limit per second while probing, at least (to a token
limit: as many tokens as a recent request held). The same for every client of an account,
small share or large, so the shares of clients that do not know of each other converge as
TCP flows' do (additive increase), and a client whose neighbours finished takes their share
within seconds, not minutes."""
OBSERVED_SECONDS = 1.0
"""The shortest window the accepted rate is measured over (the service checks per second)."""
OBSERVED_ANSWERS = 3.0
"""A learned limit's window holds this many answers at its pace (up to ``OBSERVED_LONGEST``):
a client paced at one answer a second would read 0, 1 or 2 in one second by chance alone."""
OBSERVED_LONGEST = 5.0
"""The longest window the accepted rate is measured over."""
SERVICE_BUCKET_SECONDS = 1.0
"""The service's buckets hold a second's worth: after a second idle it accepts that much more
than its limit at once, which a first lesson must not take for the limit."""
REFINE_SECONDS = 2.0
"""After a first lesson, the answers of this long may raise it: a flood's first 429s can come
back before the accepted answers sent with them."""
MIN_LEVEL = 0.02
"""The lowest level a cut reaches: a fiftieth of the limit (of a learned one: of the rate the
service once accepted), so a client refused for long still probes with a request now and then."""


def _ramp_schedule() -> tuple[float, ...]:
    """Slow start's levels, one per ``RAMP_STEP`` from the start until the full level: each
    the most burst protection allows, ``RAMP_TRIGGER`` times the mean level over the window
    that ended a second before (never below ``RAMP_START``)."""
    per_second, window = round(1 / RAMP_STEP), round(RAMP_WINDOW / RAMP_STEP)
    levels: list[float] = []
    while not levels or levels[-1] < 1.0:
        end = max(0, len(levels) - per_second + 1)
        before = sum(levels[max(0, end - window) : end]) * RAMP_STEP
        levels.append(min(1.0, max(RAMP_START, RAMP_TRIGGER * before / RAMP_WINDOW)))
    return tuple(levels)


_RAMP = _ramp_schedule()
RAMP_SECONDS = len(_RAMP) * RAMP_STEP
"""How long slow start takes from the start level to the full one (about 12 s)."""


def ramp_level(seconds: float) -> float:
    """Slow start's request level ``seconds`` after it began."""
    step = int(max(0.0, seconds) / RAMP_STEP)
    return _RAMP[step] if step < len(_RAMP) else 1.0


# --- the state, as plain data -------------------------------------------------------------


@dataclass
class Bucket:
    """One budget (requests or tokens): its limit per second, the level it is paced at, the
    bucket's content, and what was taken in the last two whole seconds (the observed rate)."""

    limit: float | None
    """Per second at level 1; None: not paced (a limit to learn at the first 429)."""
    told: bool
    level: float
    slow_start: bool
    content: float
    cut_at: float = -math.inf
    ramp_from: float = -math.inf
    """When slow start began (its level is ``ramp_level`` of the seconds since)."""
    floor: float = 0.0
    """The least the bucket holds when full: one request (a limit under two requests a second
    would otherwise never hold a whole one)."""
    learned_at: float = -math.inf
    """When a limit not told was first learned (the answers of ``REFINE_SECONDS`` after may
    raise it)."""
    unit: float = 0.0
    """What an accepted request held of this bucket lately (a running mean; 1 for requests)."""
    busy_from: float = 0.0
    """When the traffic that drew the first 429 began (a second idle before a limit is learned
    starts it afresh: the service's bucket is full again)."""
    busy_total: float = 0.0
    """Accepted since ``busy_from``."""
    accepted: list[list[float]] = field(default_factory=list)
    """``[time, amount]`` of the answers accepted in the last ``window()`` seconds."""

    def rate(self) -> float:
        assert self.limit is not None
        return self.limit * self.level * (UTILIZATION if self.told else 1.0)

    def capacity(self) -> float:
        return max(self.floor, self.rate() * BUCKET_SECONDS)

    def observed(self, now: float) -> float:
        """Accepted per second lately: the answers of the last ``window()`` seconds."""
        self._forget(now)
        return sum(amount for _, amount in self.accepted) / self.window()

    def window(self) -> float:
        """The window to read the accepted rate over: a second, or long enough to hold
        ``OBSERVED_ANSWERS`` answers at a learned pace (up to ``OBSERVED_LONGEST``)."""
        if self.limit is None or self.told:
            return OBSERVED_SECONDS
        seconds = OBSERVED_ANSWERS * self.unit / self.rate()
        return min(OBSERVED_LONGEST, max(OBSERVED_SECONDS, seconds))

    def _forget(self, now: float) -> None:
        horizon = now - self.window()
        while self.accepted and self.accepted[0][0] <= horizon:
            self.accepted.pop(0)


@dataclass
class BudgetState:
    """The whole pacing state of one budget group (one row of the account's limits)."""

    requests: Bucket
    tokens: Bucket
    updated: float


def new_state(limit: RateLimit, now: float) -> BudgetState:
    """A budget at the start: the request level held at the ramp's start (one request in the
    bucket), the token bucket full."""
    rpm, tpm = limit.requests_per_minute, limit.tokens_per_minute
    requests = Bucket(
        None if rpm is None else rpm / 60, rpm is not None, RAMP_START, True, 1.0, floor=1.0
    )
    requests.ramp_from = requests.busy_from = now
    tokens = Bucket(None if tpm is None else tpm / 60, tpm is not None, 1.0, False, 0.0)
    tokens.busy_from = now
    if tokens.limit is not None:
        tokens.content = tokens.capacity()
    return BudgetState(requests, tokens, now)


def _advance(state: BudgetState, now: float) -> None:
    before = state.updated
    elapsed = max(0.0, now - before)
    state.updated = max(before, now)
    for bucket in (state.requests, state.tokens):
        if bucket.limit is None:
            if elapsed > SERVICE_BUCKET_SECONDS:  # idle: the service's bucket is full again
                bucket.busy_from, bucket.busy_total = now, 0.0
            continue
        if bucket.slow_start:
            # Never under one request a second: burst protection lets that through from idle.
            bucket.level = max(
                ramp_level(now - bucket.ramp_from), min(1.0, bucket.floor / bucket.limit)
            )
            bucket.slow_start = bucket.level < 1.0
        elif bucket.level < 1.0:
            bucket.level = min(1.0, bucket.level + RECOVERY * elapsed)
        elif not bucket.told and now - bucket.cut_at > PROBE_AFTER:
            bucket.limit += max(PROBE_RATE * bucket.limit, PROBE_REQUESTS * bucket.unit) * elapsed
        bucket.content = min(bucket.capacity(), bucket.content + bucket.rate() * elapsed)


def _count(bucket: Bucket, now: float, amount: float) -> None:
    """Count an accepted answer in the observed rate; while a first lesson is fresh, let the
    rate the service accepted since the traffic began raise it, less the second's worth its
    bucket held at the start (a flood from idle is accepted at twice the limit at first)."""
    bucket._forget(now)
    bucket.accepted.append([now, amount])
    bucket.busy_total += amount
    bucket.unit = amount if bucket.unit <= 0 else bucket.unit + 0.2 * (amount - bucket.unit)
    if bucket.limit is not None and not bucket.told and now - bucket.learned_at < REFINE_SECONDS:
        busy = now - bucket.busy_from + SERVICE_BUCKET_SECONDS
        bucket.limit = max(bucket.limit, bucket.busy_total / busy * LEARNED_MARGIN)


def take(state: BudgetState, now: float, requests: float, tokens: float) -> float:
    """Take one request's budget and return 0.0, or take nothing and return the seconds until
    it could be taken. A request bigger than a bucket waits for a full bucket and then runs it
    into debt, which later requests wait out."""
    _advance(state, now)
    wait = 0.0
    for bucket, amount in ((state.requests, requests), (state.tokens, tokens)):
        if bucket.limit is None or amount <= 0:
            continue
        needed = min(amount, max(bucket.capacity(), 1.0 if bucket is state.requests else 1e-9))
        if bucket.content < needed * (1 - 1e-9):
            # At least a millisecond: a clock cannot advance by less than float precision.
            wait = max(wait, (needed - bucket.content) / bucket.rate(), 1e-3)
    if wait > 0:
        return wait
    for bucket, amount in ((state.requests, requests), (state.tokens, tokens)):
        if bucket.limit is not None:
            bucket.content -= amount
    return 0.0


def settle(state: BudgetState, now: float, correction: float, used: float) -> None:
    """After an answer: correct the token bucket by ``correction`` (used minus estimated;
    negative gives back), and count an accepted request of ``used`` tokens (0: refused) in
    the observed rates, from which limits not told are learned."""
    _advance(state, now)
    bucket = state.tokens
    if bucket.limit is not None:
        bucket.content = min(bucket.capacity(), bucket.content - correction)
    if used > 0:
        _count(state.requests, now, 1)
        _count(bucket, now, used)


def throttled(
    state: BudgetState, now: float, kind: ThrottleKind, amount: float = 1.0
) -> str | None:
    """A 429 of ``kind`` for a request of ``amount`` (1 request, or its tokens): cut that
    budget's pace (once per event), learning its limit from the observed rate if it was not
    told. Returns what changed, in words (for the log), or None."""
    _advance(state, now)
    bucket = state.tokens if kind == "tokens" else state.requests
    if now - bucket.cut_at < SAME_EVENT:
        return None
    unit = "tokens" if bucket is state.tokens else "requests"
    if not bucket.told and kind != "burst":
        # Learning: the service accepted about its limit lately; pace a little under that,
        # and probe upwards only after a quiet spell.
        accepted = bucket.observed(now)
        if bucket.limit is None:
            # With nothing accepted lately (a lone 429, a scripted one, or the first answers
            # of a flood) there is nothing to learn from: learn at the next 429.
            if accepted <= 0:
                return None
            bucket.limit = accepted * LEARNED_MARGIN
            bucket.learned_at = now
            bucket.level = 1.0
            what = f"learned {bucket.limit:.4g} {unit}/s from the first 429s"
        elif accepted > 0:
            # At most a little under the rate accepted, and no deeper a cut than a told
            # limit's: one answer more or less in a window must not halve a small share.
            pace = bucket.rate()
            bucket.limit = max(min(pace, accepted) * LEARNED_MARGIN, pace * CUT)
            bucket.level = 1.0
            what = f"re-learned {bucket.limit:.4g} {unit}/s"
        else:
            # Refused with nothing accepted for a second: slow down further, by pacing.
            bucket.level = max(MIN_LEVEL, bucket.level * CUT)
            what = f"nothing accepted: slowed to {bucket.rate():.3g} {unit}/s"
        bucket.cut_at = now
        bucket.slow_start = False
    elif bucket.limit is None:
        return None  # a burst 429 before any request limit is known or learned
    else:
        bucket.cut_at = now
        bucket.slow_start = False
        bucket.level = max(MIN_LEVEL, bucket.level * (BURST_CUT if kind == "burst" else CUT))
        what = f"{kind} 429: paced at {bucket.level:.0%} of {bucket.limit:.4g} {unit}/s"
    bucket.content = min(bucket.content, 0.0)
    return what


def paced_limits(state: BudgetState) -> RateLimit:
    """The limits as the budget knows them now, per minute: told, or learned (None: not yet)."""
    return RateLimit(
        *(None if b.limit is None else b.limit * 60 for b in (state.requests, state.tokens))
    )


# --- where the state lives ----------------------------------------------------------------


_Change = Callable[[BudgetState, float], Any]


class BudgetBackend(Protocol):
    """A budget group's state behind a lock: this process, a file, or a Ray actor."""

    def take(self, group: str, limit: RateLimit, requests: float, tokens: float) -> float: ...

    def settle(self, group: str, limit: RateLimit, correction: float, used: float) -> None: ...

    def throttled(
        self, group: str, limit: RateLimit, kind: ThrottleKind, amount: float
    ) -> str | None: ...

    def limits(self, group: str, limit: RateLimit) -> RateLimit: ...


class StateBackend:
    """The protocol's calls, each one change of a budget state under ``_apply`` (which finds
    the state, holds it locked, and keeps it: in this process or in a file)."""

    def _apply(
        self, group: str, limit: RateLimit, change: Callable[[BudgetState, float], Any]
    ) -> Any:
        raise NotImplementedError

    def take(self, group: str, limit: RateLimit, requests: float, tokens: float) -> float:
        result: float = self._apply(group, limit, lambda s, now: take(s, now, requests, tokens))
        return result

    def settle(self, group: str, limit: RateLimit, correction: float, used: float) -> None:
        self._apply(group, limit, lambda s, now: settle(s, now, correction, used))

    def throttled(
        self, group: str, limit: RateLimit, kind: ThrottleKind, amount: float
    ) -> str | None:
        result: str | None = self._apply(
            group, limit, lambda s, now: throttled(s, now, kind, amount)
        )
        return result

    def limits(self, group: str, limit: RateLimit) -> RateLimit:
        """The limits the budget paces at now, per minute (learned ones included)."""
        result: RateLimit = self._apply(group, limit, lambda s, now: paced_limits(s))
        return result


class LocalBackend(StateBackend):
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._states: dict[tuple[str, RateLimit], BudgetState] = {}
        self._clock = clock

    def _apply(
        self, group: str, limit: RateLimit, change: Callable[[BudgetState, float], Any]
    ) -> Any:
        with self._lock:
            now = self._clock()
            state = self._states.get((group, limit))
            if state is None:
                state = self._states[(group, limit)] = new_state(limit, now)
            return change(state, now)

    def forget_after_fork(self) -> None:
        self._lock = threading.Lock()

    def forget_all(self) -> None:
        """Start every budget group afresh (tests; a long-lived process after a change)."""
        with self._lock:
            self._states.clear()


LOCAL_BACKEND = LocalBackend()
forget_in_children(LOCAL_BACKEND)
