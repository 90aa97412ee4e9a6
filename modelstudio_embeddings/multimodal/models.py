"""The multimodal model table: each model's widths, limits per item and request, formats,
regions and prices (frozen data, from ``docs/multimodal-contract.md``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["DEFAULT_MULTIMODAL_MODEL", "MULTIMODAL_MODELS", "MultimodalSpec"]

MB = 1024 * 1024


@dataclass(frozen=True)
class MultimodalSpec:
    """What the service allows for one multimodal embedding model, and what it costs."""

    name: str
    dimensions: tuple[int, ...]
    """Offered output widths, the client's default first."""
    items_per_request: int
    """Content items (texts, images, videos) one request may hold."""
    tokens_per_text: int
    image_bytes: int
    """The largest image the service takes, in bytes (local files are checked against it)."""
    image_formats: frozenset[str]
    """Image formats the model takes (``jpeg``, ``png``, ...), as told by the file's bytes."""
    regions: frozenset[str]
    fusion: bool
    """Fuses a group of items into one vector (``enable_fusion``)."""
    price_cny_per_1k_tokens: float | None
    """Text tokens, Beijing list price."""
    price_cny_per_1k_image_tokens: float | None
    """Image and video tokens, Beijing list price."""
    price_usd_per_1k_tokens: float | None = None
    """Text tokens, international (Singapore) list price."""
    price_usd_per_1k_image_tokens: float | None = None
    bytes_per_request: int | None = None
    """Image bytes one request may carry, where known (none is published)."""

    @property
    def default_dimensions(self) -> int:
        return self.dimensions[0]

    @property
    def sends_dimension(self) -> bool:
        """Whether the model offers several widths (then the width is always sent)."""
        return len(self.dimensions) > 1

    def cost_cny(self, tokens: int, image_tokens: int = 0) -> float:
        """Estimated price in CNY of ``tokens`` billed tokens, ``image_tokens`` of them for
        images or video (0 where no price is published)."""
        text = (tokens - image_tokens) / 1000.0 * (self.price_cny_per_1k_tokens or 0.0)
        image = image_tokens / 1000.0 * (self.price_cny_per_1k_image_tokens or 0.0)
        return text + image

    def cost_usd(self, tokens: int, image_tokens: int = 0) -> float | None:
        """The same at the international list price in USD, or None where there is none."""
        if self.price_usd_per_1k_tokens is None:
            return None
        image_price = self.price_usd_per_1k_image_tokens or self.price_usd_per_1k_tokens
        text = (tokens - image_tokens) / 1000.0 * self.price_usd_per_1k_tokens
        return text + image_tokens / 1000.0 * image_price


_CLASSIC = frozenset({"jpeg", "png", "bmp"})
_BEIJING = frozenset({"cn-beijing"})
_BOTH = frozenset({"cn-beijing", "ap-southeast-1"})

MULTIMODAL_MODELS: Mapping[str, MultimodalSpec] = MappingProxyType(
    {
        spec.name: spec
        for spec in (
            MultimodalSpec(
                name="qwen3-vl-embedding",
                dimensions=(2560, 2048, 1536, 1024, 768, 512, 256),
                items_per_request=20,
                tokens_per_text=32_000,
                image_bytes=5 * MB,
                image_formats=_CLASSIC | {"webp", "tiff", "ico"},
                regions=_BEIJING,
                fusion=True,
                price_cny_per_1k_tokens=0.0007,
                price_cny_per_1k_image_tokens=0.0018,
            ),
            MultimodalSpec(
                name="tongyi-embedding-vision-plus",
                dimensions=(1152, 1024, 512, 256, 128, 64),
                items_per_request=8,
                tokens_per_text=1024,
                image_bytes=3 * MB,
                image_formats=_CLASSIC,
                regions=_BOTH,
                fusion=False,
                price_cny_per_1k_tokens=0.0005,
                price_cny_per_1k_image_tokens=0.0005,
                price_usd_per_1k_tokens=0.00009,
                price_usd_per_1k_image_tokens=0.00009,
            ),
            MultimodalSpec(
                name="tongyi-embedding-vision-flash",
                dimensions=(768, 512, 256, 128, 64),
                items_per_request=8,
                tokens_per_text=1024,
                image_bytes=3 * MB,
                image_formats=_CLASSIC,
                regions=_BOTH,
                fusion=False,
                price_cny_per_1k_tokens=0.00015,
                price_cny_per_1k_image_tokens=0.00015,
                price_usd_per_1k_tokens=0.00009,
                price_usd_per_1k_image_tokens=0.00003,
            ),
            MultimodalSpec(
                name="multimodal-embedding-v1",
                dimensions=(1024,),
                items_per_request=1,
                tokens_per_text=512,
                image_bytes=3 * MB,
                image_formats=_CLASSIC,
                regions=_BEIJING,
                fusion=False,
                price_cny_per_1k_tokens=0.0007,
                price_cny_per_1k_image_tokens=0.0009,
            ),
        )
    }
)

DEFAULT_MULTIMODAL_MODEL = "qwen3-vl-embedding"
