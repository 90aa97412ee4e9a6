"""The rerank model table: each Model Studio rerank model's limits, protocols, regions and prices.

The one place these numbers live, beside the embedding table (``models.py``); the planner, the
client and the docs read them here. Figures follow the Rerank section of
``shared/design/service-contract.md``; a test pins them to the emulator's own contract table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["DEFAULT_RERANK_MODEL", "RERANK_MODELS", "RerankSpec"]


@dataclass(frozen=True)
class RerankSpec:
    """What the service allows for one rerank model (text documents), and what it costs."""

    name: str
    documents_per_request: int
    tokens_per_item: int
    """For the query and for each document; the service truncates a longer item."""
    tokens_per_request: int
    """Query tokens x documents + every document's tokens must stay within it."""
    protocols: tuple[str, ...]
    """The endpoints that serve the model, the default first."""
    regions: frozenset[str]
    """Regions whose documentation lists the model."""
    price_cny_per_1k_tokens: float | None
    """The Beijing list price in CNY; None where it is not published."""
    price_usd_per_1k_tokens: float | None
    """The international (Singapore) list price in USD; None where it is not published."""

    @property
    def default_protocol(self) -> str:
        return self.protocols[0]

    def cost_cny(self, tokens: int) -> float:
        """Estimated price of ``tokens`` in CNY (0 where no price is published)."""
        return tokens / 1000.0 * (self.price_cny_per_1k_tokens or 0.0)

    def cost_usd(self, tokens: int) -> float | None:
        """Estimated price of ``tokens`` in USD, or None where no price is published."""
        if self.price_usd_per_1k_tokens is None:
            return None
        return tokens / 1000.0 * self.price_usd_per_1k_tokens


RERANK_MODELS: Mapping[str, RerankSpec] = MappingProxyType(
    {
        spec.name: spec
        for spec in (
            RerankSpec(
                name="qwen3-rerank",
                documents_per_request=500,
                tokens_per_item=4000,
                tokens_per_request=120_000,
                protocols=("compatible", "native"),
                regions=frozenset({"cn-beijing", "ap-southeast-1"}),
                price_cny_per_1k_tokens=None,
                price_usd_per_1k_tokens=0.0001,  # 0.1 USD per million (Singapore)
            ),
            RerankSpec(
                name="gte-rerank-v2",
                documents_per_request=500,
                tokens_per_item=4000,
                tokens_per_request=30_000,
                protocols=("native",),
                regions=frozenset({"cn-beijing"}),
                price_cny_per_1k_tokens=0.0008,  # 0.8 CNY per million (Beijing)
                price_usd_per_1k_tokens=0.000115,
            ),
            RerankSpec(
                name="qwen3-vl-rerank",
                documents_per_request=100,
                tokens_per_item=8000,
                tokens_per_request=120_000,
                protocols=("native",),
                regions=frozenset({"cn-beijing"}),
                price_cny_per_1k_tokens=None,
                price_usd_per_1k_tokens=None,
            ),
        )
    }
)

DEFAULT_RERANK_MODEL = "qwen3-rerank"
