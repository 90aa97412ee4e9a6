"""The account's rate limits as the service enforces them: per model, requests and tokens per
minute checked per second (token buckets holding one second's worth, refilled continuously),
and burst protection against traffic that grows too fast.

Pure bookkeeping with an injectable clock, so the arithmetic is testable without sleeping; the
server calls ``RateLimiter.admit`` under its own lock.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal, TypeAlias

from .contract import EMBEDDING_MODELS

__all__ = [
    "ALL_MODELS",
    "RateLimitSpec",
    "RateLimiter",
    "RateLimits",
    "ThrottleKind",
    "parse_rate_limits",
]

ALL_MODELS = "*"
"""The key of the spec that applies to every model without one of its own."""

ThrottleKind = Literal["requests", "tokens", "burst"]


@dataclass(frozen=True)
class RateLimitSpec:
    """One model's limits for the whole account (every key shares them); ``None`` turns a
    limit off. Requests and tokens are enforced per second, as RPM/60 and TPM/60."""

    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    """Tokens as ``usage.prompt_tokens`` counts them; a request above TPM/60 never passes."""
    burst: bool = False
    """Burst protection (needs ``requests_per_minute``): refuse a request when the last
    second's request rate exceeds both ``burst_factor`` times the mean rate of the
    ``burst_window`` seconds before it and ``burst_floor`` times RPM/60 (at least 1/s)."""
    burst_factor: float = 2.0
    burst_window: float = 5.0
    burst_floor: float = 0.2
    token_message: Literal["current", "allocated"] = "current"
    """Which of the service's two token-limit messages the 429 carries: "You exceeded your
    current quota..." or "Allocated quota exceeded..." (both are seen; which when is unknown)."""

    plain_429: bool = False
    """Answer every refusal with a plain ``429 Too Many Requests`` that names no limit, as an
    API gateway or proxy in front of the service does (which limit fired is not told)."""

    def __post_init__(self) -> None:
        for name in ("requests_per_minute", "tokens_per_minute"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive or None, not {value!r}")
        if self.burst and self.requests_per_minute is None:
            raise ValueError("burst protection needs requests_per_minute (its floor is a share)")
        if self.burst_factor <= 0 or self.burst_window <= 0 or self.burst_floor < 0:
            raise ValueError("burst_factor and burst_window must be positive, burst_floor >= 0")
        if self.token_message not in ("current", "allocated"):
            raise ValueError("token_message must be 'current' or 'allocated'")

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RateLimitSpec:
        """A spec from its JSON object (the control endpoint's form); unknown keys are errors."""
        unknown = set(data) - _SPEC_FIELDS
        if unknown:
            raise ValueError(f"unknown rate limit settings: {sorted(unknown)}")
        return cls(**data)


_SPEC_FIELDS = frozenset(f.name for f in fields(RateLimitSpec))

RateLimits: TypeAlias = "RateLimitSpec | Mapping[str, RateLimitSpec | Mapping[str, Any]] | None"
"""What ``Emulator(rate_limits=...)`` and ``configure`` accept (see ``parse_rate_limits``)."""


def parse_rate_limits(value: object) -> dict[str, RateLimitSpec]:
    """Normalise any accepted form to ``{model or "*": spec}``: None (no limits), one spec or
    its JSON object (every model, each with its own buckets), or a mapping of model names
    (``"*"`` for the rest) to specs or their JSON objects."""
    if value is None:
        return {}
    if isinstance(value, RateLimitSpec):
        return {ALL_MODELS: value}
    if not isinstance(value, Mapping):
        raise TypeError(f"rate_limits must be a RateLimitSpec or a mapping, not {value!r}")
    if set(value) & _SPEC_FIELDS:
        return {ALL_MODELS: RateLimitSpec.from_json(value)}
    limits: dict[str, RateLimitSpec] = {}
    for model, spec in value.items():
        if model != ALL_MODELS and model not in EMBEDDING_MODELS:
            raise ValueError(f"rate_limits names an unknown model: {model!r}")
        if isinstance(spec, Mapping):
            spec = RateLimitSpec.from_json(spec)
        if not isinstance(spec, RateLimitSpec):
            raise TypeError(f"rate_limits[{model!r}] must be a RateLimitSpec or an object")
        limits[model] = spec
    return limits


class _Bucket:
    """A token bucket holding at most ``capacity``, refilled at ``rate`` per second."""

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self.level = capacity
        self.time = now

    def refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.time) * self.rate)
        self.time = now


class _ModelState:
    """One model's buckets and its recent admissions (for burst protection)."""

    def __init__(self, spec: RateLimitSpec, now: float) -> None:
        self.spec = spec
        rpm, tpm = spec.requests_per_minute, spec.tokens_per_minute
        # A limit below 60 RPM still admits one request at a time.
        self.requests = None if rpm is None else _Bucket(rpm / 60, max(1.0, rpm / 60), now)
        self.tokens = None if tpm is None else _Bucket(tpm / 60, tpm / 60, now)
        self.last_second: deque[float] = deque()  # admissions in the last second
        self.before: deque[float] = deque()  # admissions in the burst window before that

    def refusal(self, tokens: int, now: float) -> ThrottleKind | None:
        """Which limit refuses a request of ``tokens`` now, checking without taking."""
        if self.requests is not None:
            self.requests.refill(now)
            if self.requests.level < 1.0:
                return "requests"
        if self.tokens is not None:
            self.tokens.refill(now)
            if self.tokens.level < tokens:
                return "tokens"
        if self.spec.burst and self._bursting(now):
            return "burst"
        return None

    def take(self, tokens: int, now: float) -> None:
        if self.requests is not None:
            self.requests.level -= 1.0
        if self.tokens is not None:
            self.tokens.level -= tokens
        self.last_second.append(now)

    def _bursting(self, now: float) -> bool:
        spec = self.spec
        while self.last_second and self.last_second[0] <= now - 1.0:
            self.before.append(self.last_second.popleft())
        while self.before and self.before[0] <= now - 1.0 - spec.burst_window:
            self.before.popleft()
        rate = len(self.last_second) + 1  # this request included
        floor = max(1.0, spec.burst_floor * (spec.requests_per_minute or 0) / 60)
        previous = len(self.before) / spec.burst_window
        return rate > floor and rate > spec.burst_factor * previous


class RateLimiter:
    """Every model's limits for one account; not thread-safe (the caller holds a lock)."""

    def __init__(
        self,
        limits: Mapping[str, RateLimitSpec],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = dict(limits)
        self._clock = clock
        self._states: dict[str, _ModelState] = {}

    def admit(self, model: str, tokens: int) -> ThrottleKind | None:
        """Take one request and ``tokens`` from ``model``'s budget, or say which limit refuses
        it; a refused request takes nothing and does not count towards a burst."""
        spec = self.spec_for(model)
        if spec is None:
            return None
        now = self._clock()
        state = self._states.get(model)
        if state is None:
            state = self._states[model] = _ModelState(spec, now)
        refused = state.refusal(tokens, now)
        if refused is None:
            state.take(tokens, now)
        return refused

    def spec_for(self, model: str) -> RateLimitSpec | None:
        """The limits ``model`` is held to: its own, else the default, else none."""
        return self.limits.get(model) or self.limits.get(ALL_MODELS)

    def reset(self) -> None:
        """Full buckets and no history, as after a long idle time."""
        self._states.clear()
