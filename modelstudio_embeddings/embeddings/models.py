"""The model table: each Model Studio text embedding model's limits, dimensions and prices.

This is the one place these numbers live; the planner, the client, the emulator and the docs
all read them from here. Figures follow ``shared/design/service-contract.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from ..core.errors import ConfigurationError

__all__ = ["DEFAULT_MODEL", "MODELS", "ModelSpec", "resolve_dimensions", "resolve_model"]


@dataclass(frozen=True)
class ModelSpec:
    """What the service allows for one model, and what it costs."""

    name: str
    dimensions: tuple[int, ...]
    """Offered output widths, the default first."""
    rows_per_request: int
    tokens_per_row: int
    price_cny_per_1k_tokens: float
    batch_price_cny_per_1k_tokens: float | None
    price_usd_per_1k_tokens: float | None
    """The international (Singapore) list price, in USD; None where it is not offered."""
    regions: frozenset[str]
    """Regions whose documentation lists the model (workspace hosts may offer more)."""
    accepts_dimensions: bool
    """False where the service silently ignores ``dimensions`` (v1, v2)."""
    text_types: bool = False
    """Embeds queries and documents differently when told which (native protocol)."""
    instruct: bool = False
    """Accepts a task instruction (native protocol)."""
    sparse: bool = False
    """Can return sparse vectors for hybrid search (native protocol)."""
    region_dimensions: tuple[tuple[str, tuple[int, ...]], ...] = ()
    """``(region id, widths)`` where a region offers fewer widths (Singapore's v3)."""

    @property
    def default_dimensions(self) -> int:
        return self.dimensions[0]

    def check_region(self, region: str | None, width: int, *, shared_host: bool) -> None:
        """Refuse, before any request, a model or width the region's documentation does not
        list (``region`` None: a host of unknown region, a gateway: nothing is assumed). A
        workspace host may offer models its region's shared host does not: only the width is
        checked there."""
        if region is None:
            return
        if shared_host and region not in self.regions:
            raise ConfigurationError(
                f"{self.name} is not offered in {region}: the service's documentation lists it "
                f"in {', '.join(sorted(self.regions))} only. Use another model or region."
            )
        offered = dict(self.region_dimensions).get(region)
        if offered is not None and width not in offered:
            raise ConfigurationError(
                f"{self.name} in {region} offers dimensions {', '.join(map(str, offered))}, "
                f"not {width} (other regions offer more)."
            )

    def cost_cny(self, tokens: int, *, batch: bool = False) -> float:
        """Estimated price of ``tokens`` prompt tokens, in CNY."""
        price = self.price_cny_per_1k_tokens
        if batch and self.batch_price_cny_per_1k_tokens is not None:
            price = self.batch_price_cny_per_1k_tokens
        return tokens / 1000.0 * price

    def cost_usd(self, tokens: int) -> float | None:
        """Estimated price of ``tokens`` prompt tokens at the international list price, in USD."""
        if self.price_usd_per_1k_tokens is None:
            return None
        return tokens / 1000.0 * self.price_usd_per_1k_tokens


_V3_V4_DIMS_TAIL = (768, 512, 256, 128, 64)

MODELS: Mapping[str, ModelSpec] = MappingProxyType(
    {
        spec.name: spec
        for spec in (
            ModelSpec(
                name="text-embedding-v4",
                dimensions=(1024, 2048, 1536, *_V3_V4_DIMS_TAIL),
                rows_per_request=10,
                tokens_per_row=8192,
                price_cny_per_1k_tokens=0.0005,
                batch_price_cny_per_1k_tokens=0.00025,
                price_usd_per_1k_tokens=0.00007,
                regions=frozenset({"cn-beijing", "ap-southeast-1", "cn-hongkong"}),
                accepts_dimensions=True,
                text_types=True,
                instruct=True,
                sparse=True,
            ),
            ModelSpec(
                name="text-embedding-v3",
                dimensions=(1024, *_V3_V4_DIMS_TAIL),
                rows_per_request=10,
                tokens_per_row=8192,
                price_cny_per_1k_tokens=0.0005,
                batch_price_cny_per_1k_tokens=None,
                price_usd_per_1k_tokens=0.00007,
                regions=frozenset({"cn-beijing", "ap-southeast-1"}),
                accepts_dimensions=True,
                text_types=True,
                sparse=True,
                region_dimensions=(("ap-southeast-1", (1024, 768, 512)),),
            ),
            ModelSpec(
                name="text-embedding-v2",
                dimensions=(1536,),
                rows_per_request=25,
                tokens_per_row=2048,
                price_cny_per_1k_tokens=0.0007,
                batch_price_cny_per_1k_tokens=0.00035,
                price_usd_per_1k_tokens=None,
                regions=frozenset({"cn-beijing"}),
                accepts_dimensions=False,
            ),
            ModelSpec(
                name="text-embedding-v1",
                dimensions=(1536,),
                rows_per_request=25,
                tokens_per_row=2048,
                price_cny_per_1k_tokens=0.0007,
                batch_price_cny_per_1k_tokens=None,
                price_usd_per_1k_tokens=None,
                regions=frozenset({"cn-beijing"}),
                accepts_dimensions=False,
            ),
        )
    }
)

DEFAULT_MODEL = "text-embedding-v4"


def resolve_model(model: str) -> ModelSpec:
    """The model's table entry, or a ConfigurationError naming the models offered."""
    try:
        return MODELS[model]
    except KeyError:
        raise ConfigurationError(
            f"Unknown model {model!r}; Model Studio's text embedding models are: "
            + ", ".join(MODELS)
            + f" (default {DEFAULT_MODEL})."
        ) from None


def resolve_dimensions(spec: ModelSpec, dimensions: int | None) -> int:
    """The width to ask for: the model's default when None, else one the model offers."""
    if dimensions is None:
        return spec.default_dimensions
    if isinstance(dimensions, bool) or not isinstance(dimensions, int):
        raise ConfigurationError(f"dimensions must be an int, got {dimensions!r}.")
    if dimensions not in spec.dimensions:
        offered = ", ".join(map(str, sorted(spec.dimensions)))
        raise ConfigurationError(
            f"{spec.name} does not offer dimensions={dimensions}; it offers {offered}."
        )
    return dimensions
