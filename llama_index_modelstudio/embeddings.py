"""LlamaIndex ``BaseEmbedding`` over the core caller, with no batching, retry or error logic."""

from __future__ import annotations

from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding, Embedding
from pydantic import Field, PrivateAttr

from modelstudio_embeddings import DEFAULT_MODEL, EmbeddingClient, RetryPolicy, Usage
from modelstudio_embeddings.client import DEFAULT_MAX_CONCURRENCY, DEFAULT_TIMEOUT
from modelstudio_embeddings.config import resolve_model

__all__ = ["ModelStudioEmbedding"]


class ModelStudioEmbedding(BaseEmbedding):
    """Alibaba Cloud Model Studio text embeddings (text-embedding-v1 to v4) for LlamaIndex.

    LlamaIndex cuts input into ``embed_batch_size`` chunks: the sync path embeds them one after
    another, the async path gathers them all at once. The default chunk is the model's rows per
    request times ``max_concurrency`` (160 for v4), so each sync chunk fills every request slot;
    the async gather is held to ``max_concurrency`` requests by the core's one bound per client,
    whatever ``num_workers`` is. The key is never serialized: ``to_dict``, events and pickles
    leave it out, and a restored object reads ``DASHSCOPE_API_KEY``.
    """

    model_name: str = Field(default=DEFAULT_MODEL, description="text-embedding-v1 to -v4.")
    base_url: str | None = Field(default=None, description="Host or compatible-mode URL.")
    region: str | None = Field(default=None, description="cn-beijing, ap-southeast-1, ...")
    workspace_id: str | None = Field(default=None, description="Workspace id for its host.")
    dimensions: int | None = Field(default=None, description="Output width; model default.")
    max_concurrency: int = Field(default=DEFAULT_MAX_CONCURRENCY, description="Requests at once.")
    max_retries: int = Field(default=RetryPolicy.max_retries, description="Re-sends of 429/5xx.")
    timeout: float = Field(default=DEFAULT_TIMEOUT, description="Seconds per request.")
    show_progress: bool = Field(default=False, description="A per-row progress bar.")
    protocol: str = Field(default="compatible", description="'compatible' or 'native'.")
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
        name = model_name or model or DEFAULT_MODEL
        if "embed_batch_size" not in kwargs:
            concurrency = kwargs.get("max_concurrency", DEFAULT_MAX_CONCURRENCY)
            kwargs["embed_batch_size"] = resolve_model(name).rows_per_request * concurrency
        super().__init__(model_name=name, **kwargs)
        self._api_key = api_key
        self._retry_policy = retry_policy
        self._client = self._build_client()

    def _build_client(self) -> EmbeddingClient:
        return EmbeddingClient(
            self.model_name,
            dimensions=self.dimensions,
            api_key=self._api_key,
            base_url=self.base_url,
            region=self.region,
            workspace_id=self.workspace_id,
            max_concurrency=self.max_concurrency,
            max_retries=self.max_retries,
            timeout=self.timeout,
            show_progress=self.show_progress,
            protocol=self.protocol,
            retry_policy=self._retry_policy,
        )

    @classmethod
    def class_name(cls) -> str:
        return "ModelStudioEmbedding"

    # --- LlamaIndex's interface: every path goes through the core -------------------------

    def _get_query_embedding(self, query: str) -> Embedding:
        return self._client.embed([query], **self._kind("query"))[0].tolist()  # type: ignore[no-any-return]

    async def _aget_query_embedding(self, query: str) -> Embedding:
        vectors = await self._client.aembed([query], **self._kind("query"))
        return vectors[0].tolist()  # type: ignore[no-any-return]

    def _get_text_embedding(self, text: str) -> Embedding:
        return self._get_text_embeddings([text])[0]

    async def _aget_text_embedding(self, text: str) -> Embedding:
        return (await self._aget_text_embeddings([text]))[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return self._client.embed(texts, **self._kind("document")).tolist()  # type: ignore[no-any-return]

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        vectors = await self._client.aembed(texts, **self._kind("document"))
        return vectors.tolist()  # type: ignore[no-any-return]

    # --- ours -------------------------------------------------------------------------------

    @property
    def client(self) -> EmbeddingClient:
        """The core client doing the work."""
        return self._client

    @property
    def usage(self) -> Usage:
        """Requests, retries, tokens and estimated cost so far."""
        return self._client.usage

    def _kind(self, text_type: str) -> dict[str, Any]:
        return self._client.options_for(text_type, self.query_instruction)

    # --- pickling without the key ----------------------------------------------------------

    def __getstate__(self) -> dict[Any, Any]:
        state = super().__getstate__()
        private = dict(state.get("__pydantic_private__") or {})
        for name in ("_api_key", "_client"):
            private.pop(name, None)
        state["__pydantic_private__"] = private
        return state

    def __setstate__(self, state: dict[Any, Any]) -> None:
        super().__setstate__(state)
        self._api_key = None
        self._client = self._build_client()
