"""Real-time versus Batch API for a corpus: cost from the model table, time from the limits.

Real-time work is bounded by the account's rate limits (Beijing: 1,800 requests and 1,200,000
tokens a minute per model, shared by every key of the account); the Batch API is not rate
limited, costs half, and finishes within its completion window (24 h by default; how much
sooner is not published).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..embeddings.models import DEFAULT_MODEL, resolve_model

__all__ = ["CorpusComparison", "compare_corpus"]

BEIJING_TOKENS_PER_MINUTE = 1_200_000
BEIJING_REQUESTS_PER_MINUTE = 1_800


@dataclass(frozen=True)
class CorpusComparison:
    """One corpus at both paths."""

    model: str
    rows: int
    tokens: int
    realtime_cost_cny: float
    batch_cost_cny: float | None
    """None where the model has no batch price."""
    realtime_hours: float
    """At the rate limits, whichever binds first (tokens or requests)."""
    batch_window_hours: float

    def __str__(self) -> str:
        batch = "n/a" if self.batch_cost_cny is None else f"{self.batch_cost_cny:,.2f} CNY"
        return (
            f"{self.rows:,} rows, {self.tokens:,} tokens with {self.model}: real-time "
            f"{self.realtime_cost_cny:,.2f} CNY in >= {self.realtime_hours:,.1f} h; "
            f"Batch API {batch} within {self.batch_window_hours:g} h"
        )


def compare_corpus(
    rows: int,
    tokens_per_row: int,
    model: str = DEFAULT_MODEL,
    *,
    tokens_per_minute: int = BEIJING_TOKENS_PER_MINUTE,
    requests_per_minute: int = BEIJING_REQUESTS_PER_MINUTE,
    completion_window_hours: float = 24,
) -> CorpusComparison:
    """Cost and time of ``rows`` texts of about ``tokens_per_row`` tokens each, both ways."""
    spec = resolve_model(model)
    tokens = rows * tokens_per_row
    requests = -(-rows // spec.rows_per_request)
    minutes = max(tokens / tokens_per_minute, requests / requests_per_minute)
    return CorpusComparison(
        model=spec.name,
        rows=rows,
        tokens=tokens,
        realtime_cost_cny=spec.cost_cny(tokens),
        batch_cost_cny=(
            spec.cost_cny(tokens, batch=True)
            if spec.batch_price_cny_per_1k_tokens is not None
            else None
        ),
        realtime_hours=minutes / 60,
        batch_window_hours=completion_window_hours,
    )
