"""One frozen value holding every setting of an ``EmbeddingClient`` but the key, validated once.

``EmbeddingClient`` and both adapters build it the same way (the adapters from their fields,
through ``modelstudio_embeddings.adapting``), so a setting and its check are written once. It
never holds the key, so pickling it (and a client) never writes the key.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from ..core.budgets import FileBudget, LocalBudget, RayBudget
from ..core.errors import ConfigurationError
from ..core.ratelimit import RateLimit
from ..core.retry import RetryPolicy
from ..core.settings import (
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_TIMEOUT,
    PROTOCOL_NAMES,
    SharedSettings,
    check_shared_settings,
    one_of,
)
from .models import DEFAULT_MODEL, ModelSpec, resolve_dimensions, resolve_model

__all__ = ["ClientSettings"]

_BUDGETS = (LocalBudget, FileBudget, RayBudget)


@dataclass(frozen=True)
class ClientSettings(SharedSettings):
    """Every setting of a client but the key; invalid or contradictory values are refused here.

    Args:
        model: ``text-embedding-v1`` to ``-v4`` (default v4).
        dimensions: Output width; the model's default when None. v3/v4 offer several.
        base_url: A host or any URL of the service (``https://dashscope.aliyuncs.com``,
            ``.../compatible-mode/v1``); else ``DASHSCOPE_BASE_URL``, else Beijing.
        region: ``cn-beijing``, ``ap-southeast-1``, ... instead of ``base_url``.
        workspace_id: With ``region``: the workspace's own host.
        max_concurrency: Requests in flight at most, across every call of the client.
        max_retries: Re-sends of a request after a 429, 5xx, timeout or connection error.
            None: the retry policy's (6). Given together with ``retry_policy``, they must agree.
        timeout: Seconds one request may take in all (connect, wait, body).
        show_progress: A per-row progress bar for every call (tqdm, notebook-aware).
        adaptive_concurrency: Halve the in-flight bound on a 429 and grow it back (CUBIC).
        allow_insecure_http: Allow plain ``http://`` to a host that is not loopback.
        retry_policy: Back-off and limits of retries (``RetryPolicy``).
        protocol: ``compatible`` (OpenAI-style) or ``native`` (DashScope: text_type,
            instruct, sparse vectors).
        on_too_long: ``error`` refuses a row over the model's token limit; ``truncate`` cuts it.
        tokenizer: ``auto`` (exact when the ``tokenizer`` extra is installed), ``qwen``
            (exact, required) or ``estimate``.
        rate_limit: The account's limits for this model (``RateLimit``). None: the limits the
            host tells (its quotas endpoint), else those the service publishes for the model
            and region where the host is the service's own, else learned from the first 429s
            on any host (a gateway, a proxy, the emulator). A field of ``RateLimit`` left None
            is learned from 429s. False: no pacing by budget at all, only the in-flight
            bound (``max_concurrency``).
        rate_budget: Where the budget lives: ``LocalBudget()`` (this process, the default),
            ``FileBudget(path)`` (every process of the machine naming that file shares it) or
            ``RayBudget(name)`` (every process of a Ray cluster naming that actor shares it).
    """

    model: str = DEFAULT_MODEL
    dimensions: int | None = None
    base_url: str | None = None
    region: str | None = None
    workspace_id: str | None = None
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    max_retries: int | None = None
    timeout: float = DEFAULT_TIMEOUT
    show_progress: bool = False
    adaptive_concurrency: bool = True
    allow_insecure_http: bool = False
    retry_policy: RetryPolicy | None = None
    protocol: str = "compatible"
    on_too_long: str = "error"
    tokenizer: str = "auto"
    rate_limit: RateLimit | Literal[False] | None = None
    rate_budget: LocalBudget | FileBudget | RayBudget | None = None

    def __post_init__(self) -> None:
        resolve_dimensions(resolve_model(self.model), self.dimensions)
        one_of("protocol", self.protocol, PROTOCOL_NAMES)
        check_shared_settings(self)
        limit = self.rate_limit
        if limit is not None and limit is not False and not isinstance(limit, RateLimit):
            raise ConfigurationError(
                "rate_limit must be a RateLimit(requests_per_minute=..., tokens_per_minute=...), "
                "None (told by the host, published, or learned) or False (no pacing)."
            )
        if self.rate_budget is not None and not isinstance(self.rate_budget, _BUDGETS):
            raise ConfigurationError(
                "rate_budget must be LocalBudget(), FileBudget(path) or RayBudget(name)."
            )

    @property
    def spec(self) -> ModelSpec:
        """The model's row of the model table."""
        return resolve_model(self.model)

    @property
    def width(self) -> int:
        """The output width: ``dimensions``, or the model's default."""
        return self.dimensions or self.spec.default_dimensions

    def with_(self, **changes: Any) -> ClientSettings:
        """A copy with some settings changed, validated again."""
        return replace(self, **changes)
