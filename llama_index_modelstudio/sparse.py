"""Sparse vectors for LlamaIndex hybrid retrieval (``BaseSparseEmbedding``).

Needs the native protocol and text-embedding-v3 or v4. The key stays out of serialized forms.
"""

from __future__ import annotations

from typing import Any

from llama_index.core.base.embeddings.base_sparse import BaseSparseEmbedding, SparseEmbedding
from pydantic import Field, PrivateAttr

from modelstudio_embeddings import DEFAULT_MODEL, EmbeddingClient

__all__ = ["ModelStudioSparseEmbedding"]

_CORE_ONLY = ("max_concurrency", "max_retries", "timeout", "retry_policy")


class ModelStudioSparseEmbedding(BaseSparseEmbedding):
    """Model Studio's sparse vectors as ``{vocabulary id: weight}`` for LlamaIndex."""

    model_name: str = Field(default=DEFAULT_MODEL, description="text-embedding-v3 or -v4.")
    base_url: str | None = Field(default=None, description="Host of the service.")
    region: str | None = Field(default=None, description="cn-beijing, ap-southeast-1, ...")
    workspace_id: str | None = Field(default=None, description="Workspace id for its host.")

    _client: EmbeddingClient = PrivateAttr()

    def __init__(
        self, model_name: str = DEFAULT_MODEL, *, api_key: str | None = None, **kwargs: Any
    ):
        core = {
            k: kwargs.pop(k)
            for k in ("max_concurrency", "max_retries", "timeout", "retry_policy")
            if k in kwargs
        }
        super().__init__(model_name=model_name, **kwargs)
        self._client = EmbeddingClient(
            model_name,
            api_key=api_key,
            base_url=self.base_url,
            region=self.region,
            workspace_id=self.workspace_id,
            protocol="native",
            **core,
        )
        if not self._client.accepts_sparse:
            raise ValueError(f"{model_name} does not offer sparse vectors; v3 and v4 do.")

    @classmethod
    def class_name(cls) -> str:
        return "ModelStudioSparseEmbedding"

    def _get_query_embedding(self, query: str) -> SparseEmbedding:
        return self._client.embed_sparse([query], text_type="query")[0].as_dict()

    async def _aget_query_embedding(self, query: str) -> SparseEmbedding:
        return (await self._client.aembed_sparse([query], text_type="query"))[0].as_dict()

    def _get_text_embedding(self, text: str) -> SparseEmbedding:
        return self._get_text_embeddings([text])[0]

    async def _aget_text_embedding(self, text: str) -> SparseEmbedding:
        return (await self._aget_text_embeddings([text]))[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[SparseEmbedding]:
        return [row.as_dict() for row in self._client.embed_sparse(texts, text_type="document")]

    async def _aget_text_embeddings(self, texts: list[str]) -> list[SparseEmbedding]:
        rows = await self._client.aembed_sparse(texts, text_type="document")
        return [row.as_dict() for row in rows]
