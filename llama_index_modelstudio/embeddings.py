"""LlamaIndex ``BaseEmbedding`` over the core caller, with no batching, retry or error logic."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Literal

from llama_index.core.base.embeddings.base import BaseEmbedding, Embedding
from pydantic import ConfigDict, Field, PrivateAttr

from modelstudio_embeddings import (
    DEFAULT_MODEL,
    ConfigurationError,
    EmbeddingClient,
    FileBudget,
    LocalBudget,
    RateLimit,
    RayBudget,
    RetryPolicy,
    Usage,
)
from modelstudio_embeddings.adapting import (
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_TIMEOUT,
    build_client,
    configured,
    progress_bar,
    resolve_dimensions,
    resolve_model,
)

from ._keyless import KeylessRebuild
from ._whole_batches import WholeBatches

__all__ = ["ModelStudioEmbedding"]

_MAX_EMBED_BATCH_SIZE = 2048  # BaseEmbedding's own upper bound on embed_batch_size

# The row counter of the batch call in progress, seen by its chunks in threads and tasks alike.
_batch_progress: ContextVar[Callable[[int], None] | None] = ContextVar(
    "modelstudio_batch_progress", default=None
)


def default_embed_batch_size(rows_per_request: int) -> int:
    """The largest chunk LlamaIndex allows (2048 rows) in whole requests: its sync path waits
    for every chunk to finish before the next starts, so the fewer chunks the better."""
    return max(rows_per_request, _MAX_EMBED_BATCH_SIZE // rows_per_request * rows_per_request)


class ModelStudioEmbedding(KeylessRebuild, WholeBatches, BaseEmbedding):
    """Alibaba Cloud Model Studio text embeddings (text-embedding-v1 to v4) for LlamaIndex.

    LlamaIndex cuts input into ``embed_batch_size`` chunks: the sync path embeds them one after
    another, the async path gathers them all at once (``num_workers`` at most, if set). The
    default chunk is as large as LlamaIndex allows in whole requests (2040 rows for v4), so the
    sync path rarely waits at a chunk's end with request slots idle; within a chunk the core
    keeps ``max_concurrency`` requests in flight. The async gather holds at most
    ``max_concurrency`` requests in flight too, because every chunk waits on the core client's
    one bound, whatever ``num_workers`` is.

    The connection settings are fixed once the core client is built from them (assigning one
    raises). The key is never serialized: ``to_dict``, events and pickles leave it out, and a
    restored object reads ``DASHSCOPE_API_KEY``. Failures raise ``modelstudio_embeddings``'s
    typed errors unchanged.
    """

    model_config = ConfigDict(extra="forbid")

    model_name: str = Field(default=DEFAULT_MODEL, frozen=True, description="v1 to v4.")
    base_url: str | None = Field(default=None, frozen=True, description="Host or its URL.")
    region: str | None = Field(default=None, frozen=True, description="e.g. ap-southeast-1.")
    workspace_id: str | None = Field(default=None, frozen=True, description="Its own host.")
    dimensions: int | None = Field(default=None, frozen=True, description="Output width.")
    max_concurrency: int = Field(
        default=DEFAULT_MAX_CONCURRENCY, frozen=True, description="Requests in flight, all calls."
    )
    max_retries: int | None = Field(
        default=None, frozen=True, description="Re-sends of 429/5xx/timeouts (policy's: 6)."
    )
    timeout: float = Field(default=DEFAULT_TIMEOUT, frozen=True, description="Seconds a request.")
    protocol: str = Field(default="compatible", frozen=True, description="Wire protocol.")
    on_too_long: str = Field(default="error", frozen=True, description="'error' or 'truncate'.")
    adaptive_concurrency: bool = Field(
        default=True, frozen=True, description="Halve requests in flight on a 429."
    )
    tokenizer: str = Field(default="auto", frozen=True, description="'auto', 'qwen', 'estimate'.")
    allow_insecure_http: bool = Field(
        default=False, frozen=True, description="Plain http to a host of your own."
    )
    rate_limit: RateLimit | Literal[False] | None = Field(
        default=None,
        frozen=True,
        description="The account's RPM/TPM; None: told by the host, published, else learned "
        "from 429s; False: no pacing.",
    )
    rate_budget: LocalBudget | FileBudget | RayBudget | None = Field(
        default=None, frozen=True, description="This process, a shared file or a Ray actor."
    )
    show_progress: bool = Field(default=False, description="One per-row bar per batch call.")
    query_instruction: str | None = Field(
        default=None, description="v4 task instruction sent with queries (native protocol)."
    )

    _api_key: str | None = PrivateAttr(default=None)
    _retry_policy: RetryPolicy | None = PrivateAttr(default=None)
    _client: EmbeddingClient = PrivateAttr()

    def __init__(
        self,
        model_name: str | None = None,
        *,
        model: str | None = None,
        api_key: str | None = None,
        retry_policy: RetryPolicy | None = None,
        **kwargs: Any,
    ) -> None:
        if model_name and model and model_name != model:
            raise ConfigurationError(f"model_name={model_name!r} and model={model!r} differ.")
        if "text_type" in kwargs:
            raise ConfigurationError(
                "text_type= is DashScopeEmbedding's setting; ModelStudioEmbedding has none: drop "
                'it. With protocol="native" (v3, v4) texts are sent as "document" and queries as '
                '"query" by themselves; see the migration guide.'
            )
        spec = resolve_model(model_name or model or DEFAULT_MODEL)
        kwargs["dimensions"] = resolve_dimensions(spec, kwargs.get("dimensions"))
        kwargs.setdefault("embed_batch_size", default_embed_batch_size(spec.rows_per_request))
        configured(
            type(self).__name__,
            lambda: super(ModelStudioEmbedding, self).__init__(model_name=spec.name, **kwargs),
        )
        self._api_key = api_key
        self._retry_policy = retry_policy
        self._client = build_client(
            self.model_name, api_key, {**self.__dict__, "retry_policy": retry_policy}
        )

    @classmethod
    def class_name(cls) -> str:
        return "ModelStudioEmbedding"

    def to_payload(self) -> dict[str, Any]:
        """What instrumentation events carry: names and widths, never the key or host."""
        return {**super().to_payload(), "dimensions": self.dimensions}

    # --- LlamaIndex's interface: every path goes through the core -------------------------

    def _get_query_embedding(self, query: str) -> Embedding:
        return self._client.embed_lists([query], **self._options("query"))[0]

    async def _aget_query_embedding(self, query: str) -> Embedding:
        return (await self._client.aembed_lists([query], **self._options("query")))[0]

    def _get_text_embedding(self, text: str) -> Embedding:
        return self._get_text_embeddings([text])[0]

    async def _aget_text_embedding(self, text: str) -> Embedding:
        return (await self._aget_text_embeddings([text]))[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return self._client.embed_lists(texts, **self._options("document"))

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return await self._client.aembed_lists(texts, **self._options("document"))

    # --- ours -------------------------------------------------------------------------------

    @property
    def client(self) -> EmbeddingClient:
        """The core client doing the work."""
        return self._client

    @property
    def usage(self) -> Usage:
        """Requests, retries, tokens and estimated cost so far."""
        return self._client.usage

    def _options(self, text_type: str) -> dict[str, Any]:
        """Progress goes to the batch call's bar, if any; single texts never draw one."""
        options = self._client.options_for(text_type, self.query_instruction)
        return {"show_progress": False, "progress": _batch_progress.get(), **options}

    @contextmanager
    def _batch_bar(self, asked: bool, total: int) -> Iterator[None]:
        """One per-row bar over the batch call (asked, or ``show_progress``), which its chunks'
        core calls advance."""
        with progress_bar(asked or self.show_progress, total) as advance:
            token = _batch_progress.set(advance)
            try:
                yield
            finally:
                _batch_progress.reset(token)
