"""What a client has done: requests, retries, rows, tokens and estimated cost."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, fields
from typing import Protocol

from .ratelimit import RateLimit

__all__ = ["COUNTERS", "PricedModel", "Usage", "UsageCounter", "plural"]


class PricedModel(Protocol):
    """What usage needs of a model table entry (embedding or rerank): its name and prices."""

    @property
    def name(self) -> str: ...

    @property
    def price_cny_per_1k_tokens(self) -> float | None: ...

    def cost_cny(self, tokens: int) -> float: ...

    def cost_usd(self, tokens: int) -> float | None: ...


@dataclass(frozen=True)
class Usage:
    """A snapshot of a client's work; subtract two snapshots for the work in between."""

    model: str
    requests: int = 0
    """Requests sent, retries and re-splits included."""
    failed_requests: int = 0
    retries: int = 0
    throttled: int = 0
    """Responses that were 429."""
    rows: int = 0
    """Rows embedded (or documents scored, for rerank) successfully."""
    truncated_rows: int = 0
    """Rows cut down to the model's token limit (``on_too_long="truncate"``)."""
    prompt_tokens: int = 0
    """Tokens the service billed (its ``usage.prompt_tokens``; rerank's ``total_tokens``)."""
    images: int = field(default=0, repr=False)
    """Images embedded (multimodal models)."""
    image_tokens: int = field(default=0, repr=False)
    """The part of ``prompt_tokens`` billed for images and video (multimodal models), where
    the service tells it."""
    cost_cny: float = 0.0
    """Estimated price of ``prompt_tokens`` at the model's Beijing list price, in CNY."""
    cost_usd: float = 0.0
    """The same at the international (Singapore) list price, in USD; 0 where not offered."""
    budget_wait_seconds: float = field(default=0.0, repr=False)
    """Time requests waited for the account's budget (rate limits) before they were sent."""
    service_seconds: float = field(default=0.0, repr=False)
    """Time requests spent at the service, from sending to the answer (summed over requests
    in flight at once). Mostly budget wait: the rate limits bound the work; mostly service:
    latency and ``max_concurrency`` do."""
    paced_limits: RateLimit | None = field(default=None, repr=False)
    """The account's limits the client paces at now, per minute: told, told by the host, or
    learned from 429s (a field None: not known yet); None: not paced by budget."""
    learning_since: float | None = field(default=None, repr=False)
    """When the client met its first 429 of a limit it had to learn (``time.time()``)."""
    priced_in: str | None = field(default="CNY", repr=False)
    """The currency of the list price the costs are estimated at: ``CNY`` (Beijing), ``USD``
    (international only: ``cost_cny`` is then 0) or None (no price published)."""

    @property
    def cost(self) -> str:
        """The estimated cost in the currency its price is published in, or why there is none."""
        if self.priced_in == "CNY":
            return f"~{self.cost_cny:.6f} CNY"
        if self.priced_in == "USD":
            return f"~{self.cost_usd:.6f} USD (international price; no Beijing price published)"
        return "price not published"

    def __sub__(self, other: Usage) -> Usage:
        values = {
            f.name: getattr(self, f.name) - getattr(other, f.name)
            for f in fields(self)
            if f.name not in _STATE
        }
        state = {name: getattr(self, name) for name in _STATE if name != "model"}
        return Usage(model=self.model, **values, **state)

    def __str__(self) -> str:
        images = f" ({plural(self.images, 'image')})" if self.images else ""
        failed = f", {self.failed_requests} failed" if self.failed_requests else ""
        truncated = f", {self.truncated_rows} truncated" if self.truncated_rows else ""
        text = (
            f"{plural(self.requests, 'request')} ({plural(self.retries, 'retry', 'retries')}, "
            f"{self.throttled} throttled{failed}), {plural(self.rows, 'row')}{images}{truncated}, "
            f"{plural(self.prompt_tokens, 'token')}, {self.cost}"
        )
        if self.budget_wait_seconds >= 0.05:  # the account's limits bound this work
            text += f", {self.budget_wait_seconds:.1f} s waiting for the rate limits"
        if self.learning_since is not None and self.paced_limits is not None:
            text += f", limits learned from 429s: {_per_minute(self.paced_limits)}"
        return text

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><th style='text-align:left'>{label}</th><td>{value}</td></tr>"
            for label, value in (
                ("model", self.model),
                ("requests", self.requests),
                ("retries", self.retries),
                ("throttled (429)", self.throttled),
                ("failed requests", self.failed_requests),
                ("rows embedded", self.rows),
                ("rows truncated", self.truncated_rows),
                ("prompt tokens", self.prompt_tokens),
                ("estimated cost", self.cost),
                ("waiting for the rate limits", f"{self.budget_wait_seconds:.2f} s"),
                ("at the service (summed)", f"{self.service_seconds:.2f} s"),
                ("paced at", _per_minute(self.paced_limits) if self.paced_limits else "-"),
            )
        )
        return f"<table>{rows}</table>"


_SECONDS = frozenset({"budget_wait_seconds", "service_seconds"})
_STATE = ("model", "paced_limits", "learning_since", "priced_in")
"""Fields that are a state at the snapshot, not a count (kept as they are by ``-``)."""
COUNTERS = tuple(f.name for f in fields(Usage) if f.name not in _STATE)
"""The fields of ``Usage`` that add up (counts, seconds and costs)."""


def _per_minute(limit: RateLimit) -> str:
    parts = [
        f"{value:,.0f} {unit}/min"
        for value, unit in (
            (limit.requests_per_minute, "requests"),
            (limit.tokens_per_minute, "tokens"),
        )
        if value is not None
    ]
    return " and ".join(parts) or "not learned yet"


class UsageCounter:
    """Thread-safe running totals behind ``EmbeddingClient.usage`` and ``RerankClient.usage``."""

    def __init__(self, spec: PricedModel) -> None:
        self._spec = spec
        usd = "USD" if spec.cost_usd(0) is not None else None
        self._priced_in = "CNY" if spec.price_cny_per_1k_tokens is not None else usd
        self._lock = threading.Lock()
        self._counts: dict[str, float] = {
            f.name: 0 for f in fields(Usage) if f.name not in {*_STATE, "cost_cny", "cost_usd"}
        }

    def reset_after_fork(self) -> None:
        """In a forked child: a thread of the parent's may have held the lock."""
        self._lock = threading.Lock()

    def add(self, **increments: float) -> None:
        with self._lock:
            for name, value in increments.items():
                self._counts[name] += value

    def snapshot(self) -> Usage:
        with self._lock:
            counts = dict(self._counts)
        return Usage(
            model=self._spec.name,
            priced_in=self._priced_in,
            cost_cny=self._spec.cost_cny(int(counts["prompt_tokens"])),
            cost_usd=self._spec.cost_usd(int(counts["prompt_tokens"])) or 0.0,
            **{k: v if k in _SECONDS else int(v) for k, v in counts.items()},  # type: ignore[arg-type]
        )


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``1 request``, ``2 requests`` (``nouns`` where adding an s is wrong)."""
    return f"{count} {noun if count == 1 else (nouns or noun + 's')}"
