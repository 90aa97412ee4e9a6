"""One frozen value holding every setting of a ``MultimodalEmbeddingClient`` but the key,
validated once (the multimodal twin of ``settings.ClientSettings``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..core.budgets import FileBudget, LocalBudget, RayBudget
from ..core.errors import ConfigurationError
from ..core.ratelimit import RateLimit
from ..core.retry import RetryPolicy
from ..core.settings import (
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_TIMEOUT,
    SharedSettings,
    check_shared_settings,
)
from .models import DEFAULT_MULTIMODAL_MODEL, MULTIMODAL_MODELS, MultimodalSpec

__all__ = ["MultimodalSettings", "resolve_multimodal_model"]


def resolve_multimodal_model(model: str) -> MultimodalSpec:
    """The model's table entry, or a ConfigurationError naming the multimodal models (a text
    model's name on the multimodal endpoint only gets ``url error`` from the service)."""
    try:
        return MULTIMODAL_MODELS[model]
    except (KeyError, TypeError):
        raise ConfigurationError(
            f"Unknown multimodal embedding model {model!r}; Model Studio's are: "
            + ", ".join(MULTIMODAL_MODELS)
            + f" (default {DEFAULT_MULTIMODAL_MODEL}). Text models are EmbeddingClient's."
        ) from None


@dataclass(frozen=True)
class MultimodalSettings(SharedSettings):
    """Every setting of a multimodal client but the key; invalid values are refused here.

    Args:
        model: ``qwen3-vl-embedding`` (default), ``tongyi-embedding-vision-plus``,
            ``tongyi-embedding-vision-flash`` or ``multimodal-embedding-v1``.
        dimensions: Output width; the model's default when None.
        base_url: A host or any URL of the service; else ``DASHSCOPE_BASE_URL``, else Beijing.
        region: ``cn-beijing``, ``ap-southeast-1``, ... instead of ``base_url``.
        workspace_id: With ``region``: the workspace's own host.
        max_concurrency: Requests in flight at most, across every call of the client.
        max_retries: Re-sends of a request after a 429, 5xx, timeout or connection error.
        timeout: Seconds one request may take in all.
        adaptive_concurrency: Halve the in-flight bound on a 429 and grow it back.
        allow_insecure_http: Allow plain ``http://`` to a host that is not loopback.
        retry_policy: Back-off and limits of retries (agreeing with ``max_retries``).
        rate_limit: The account's limits for the model (``RateLimit``); None: told by the
            host's quotas endpoint, else learned from the first 429s; False: no pacing.
        rate_budget: ``LocalBudget()`` (default), ``FileBudget(path)`` or ``RayBudget(name)``:
            who shares the budget.
    """

    model: str = DEFAULT_MULTIMODAL_MODEL
    dimensions: int | None = None
    base_url: str | None = None
    region: str | None = None
    workspace_id: str | None = None
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    max_retries: int | None = None
    timeout: float = DEFAULT_TIMEOUT
    adaptive_concurrency: bool = True
    allow_insecure_http: bool = False
    retry_policy: RetryPolicy | None = None
    on_too_long: str = "error"
    tokenizer: str = "estimate"
    rate_limit: RateLimit | Literal[False] | None = None
    rate_budget: LocalBudget | FileBudget | RayBudget | None = None

    def __post_init__(self) -> None:
        spec = resolve_multimodal_model(self.model)
        if self.dimensions is not None and self.dimensions not in spec.dimensions:
            raise ConfigurationError(
                f"{spec.name} offers dimensions {', '.join(map(str, spec.dimensions))} "
                f"(default {spec.default_dimensions}), not {self.dimensions!r}."
            )
        if self.on_too_long != "error":
            raise ConfigurationError("on_too_long must be 'error' for multimodal models.")
        check_shared_settings(self)
        limit = self.rate_limit
        if limit is not None and limit is not False and not isinstance(limit, RateLimit):
            raise ConfigurationError("rate_limit must be a RateLimit, None or False.")
        budgets = (LocalBudget, FileBudget, RayBudget)
        if self.rate_budget is not None and not isinstance(self.rate_budget, budgets):
            raise ConfigurationError(
                "rate_budget must be LocalBudget(), FileBudget(path) or RayBudget(name)."
            )

    @property
    def spec(self) -> MultimodalSpec:
        """The model's row of the multimodal table."""
        return resolve_multimodal_model(self.model)

    @property
    def width(self) -> int:
        """The output width: ``dimensions``, or the model's default."""
        return self.dimensions or self.spec.default_dimensions
