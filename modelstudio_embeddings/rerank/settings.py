"""One frozen value holding every setting of a ``RerankClient`` but the key, validated once.

The rerank twin of ``settings.ClientSettings``: the connection, retry and limit settings are
checked by the same function; the model comes from the rerank table and the protocol defaults
to the one the model is served by. It never holds the key, so pickling it never writes one.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.errors import ConfigurationError
from ..core.retry import RetryPolicy
from ..core.settings import (
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_TIMEOUT,
    SharedSettings,
    check_shared_settings,
)
from .models import DEFAULT_RERANK_MODEL, RERANK_MODELS, RerankSpec

__all__ = ["RerankSettings", "resolve_rerank_model"]


def resolve_rerank_model(model: str) -> RerankSpec:
    """The model's rerank table entry, or a ConfigurationError naming the models offered."""
    try:
        return RERANK_MODELS[model]
    except (KeyError, TypeError):
        raise ConfigurationError(
            f"Unknown rerank model {model!r}; Model Studio's rerank models are: "
            + ", ".join(RERANK_MODELS)
            + f" (default {DEFAULT_RERANK_MODEL})."
        ) from None


@dataclass(frozen=True)
class RerankSettings(SharedSettings):
    """Every setting of a rerank client but the key; invalid or contradictory values are refused.

    Args:
        model: ``qwen3-rerank`` (default), ``gte-rerank-v2`` or ``qwen3-vl-rerank``.
        base_url: A host or any URL of the service; else ``DASHSCOPE_BASE_URL``, else Beijing.
        region: ``cn-beijing``, ``ap-southeast-1``, ... instead of ``base_url``.
        workspace_id: With ``region``: the workspace's own host.
        max_concurrency: Requests in flight at most, across every call of the client.
        max_retries: Re-sends of a request after a 429, 5xx, timeout or connection error.
        timeout: Seconds one request may take in all.
        adaptive_concurrency: Halve the in-flight bound on a 429 and grow it back.
        allow_insecure_http: Allow plain ``http://`` to a host that is not loopback.
        retry_policy: Back-off and limits of retries (agreeing with ``max_retries``).
        protocol: ``compatible`` or ``native``; None: the model's own (compatible for
            qwen3-rerank, native for the others, which only it serves).
        on_too_long: ``error`` refuses a query or document over the model's item limit;
            ``truncate`` cuts it.
        tokenizer: ``auto``, ``qwen`` or ``estimate`` token counts for the limits.
    """

    model: str = DEFAULT_RERANK_MODEL
    base_url: str | None = None
    region: str | None = None
    workspace_id: str | None = None
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    max_retries: int | None = None
    timeout: float = DEFAULT_TIMEOUT
    adaptive_concurrency: bool = True
    allow_insecure_http: bool = False
    retry_policy: RetryPolicy | None = None
    protocol: str | None = None
    on_too_long: str = "error"
    tokenizer: str = "auto"

    def __post_init__(self) -> None:
        spec = resolve_rerank_model(self.model)
        if self.protocol is None:
            object.__setattr__(self, "protocol", spec.default_protocol)
        elif self.protocol not in spec.protocols:
            served = " and ".join(repr(p) for p in spec.protocols)
            raise ConfigurationError(
                f"{spec.name} is served by the {served} protocol only, not {self.protocol!r}."
            )
        check_shared_settings(self)

    @property
    def spec(self) -> RerankSpec:
        """The model's row of the rerank table."""
        return resolve_rerank_model(self.model)

    @property
    def wire(self) -> str:
        """The protocol in force (``protocol`` after its default was applied)."""
        assert self.protocol is not None  # set in __post_init__
        return self.protocol
