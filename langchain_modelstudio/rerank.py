"""LangChain ``BaseDocumentCompressor`` over the core rerank client: no batching, retry or
error logic of its own."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import Callbacks
from langchain_core.documents import BaseDocumentCompressor, Document
from langchain_core.utils import secret_from_env
from pydantic import ConfigDict, Field, PrivateAttr, SecretStr, model_validator

from langchain_modelstudio._keyless import KeylessPickling
from modelstudio_embeddings import RerankClient, RetryPolicy, Usage
from modelstudio_embeddings.adapting import (
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_RERANK_MODEL,
    DEFAULT_TIMEOUT,
    build_reranker,
    configured,
)

__all__ = ["ModelStudioRerank"]


class ModelStudioRerank(KeylessPickling, BaseDocumentCompressor):
    """Alibaba Cloud Model Studio reranking (qwen3-rerank, gte-rerank-v2, qwen3-vl-rerank) as a
    LangChain document compressor, e.g. in a ``ContextualCompressionRetriever``.

    Returns the ``top_n`` most relevant documents (all when None), most relevant first, each a
    copy with its score in ``metadata["relevance_score"]``. Any number of documents: the core
    splits them into requests within the model's limits. Failures raise the typed errors of
    ``modelstudio_embeddings``; the key is never serialized or pickled.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True, protected_namespaces=())

    model: str = Field(
        default=DEFAULT_RERANK_MODEL, description="qwen3-rerank, gte-rerank-v2, qwen3-vl-rerank."
    )
    top_n: int | None = Field(default=3, description="Documents to keep; None keeps all.")
    instruct: str | None = Field(default=None, description="Task instruction for the query.")
    api_key: SecretStr | None = Field(
        default_factory=secret_from_env("DASHSCOPE_API_KEY", default=None),
        description="Defaults to DASHSCOPE_API_KEY; never serialized or pickled.",
    )
    base_url: str | None = Field(default=None, description="Host or any URL of the service.")
    region: str | None = Field(default=None, description="cn-beijing, ap-southeast-1, ...")
    workspace_id: str | None = None
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    max_retries: int | None = None
    timeout: float = DEFAULT_TIMEOUT
    protocol: str | None = Field(default=None, description="None: the model's own protocol.")
    on_too_long: str = Field(default="error", description="'error' or 'truncate'.")
    adaptive_concurrency: bool = Field(default=True, description="Halve in flight on a 429.")
    tokenizer: str = Field(default="auto", description="'auto', 'qwen' or 'estimate'.")
    allow_insecure_http: bool = Field(default=False, description="Plain http to your own host.")
    retry_policy: RetryPolicy | None = Field(default=None, exclude=True, repr=False)

    _client: RerankClient = PrivateAttr()

    def __init__(self, **data: Any) -> None:
        # Every mistake is a ConfigurationError that never shows the values (the key is one).
        configured(type(self).__name__, lambda: super(ModelStudioRerank, self).__init__(**data))

    @model_validator(mode="after")
    def _build_client(self) -> ModelStudioRerank:
        from modelstudio_embeddings.adapting import validate_top_n

        validate_top_n(self.top_n)
        key = self.api_key.get_secret_value() if self.api_key is not None else None
        self._client = build_reranker(self.model, key, self.__dict__)
        return self

    # --- LangChain's interface ------------------------------------------------------------

    def compress_documents(
        self, documents: Sequence[Document], query: str, callbacks: Callbacks | None = None
    ) -> Sequence[Document]:
        """The ``top_n`` documents most relevant to ``query``, best first, scored."""
        if not documents:
            return []
        ranked = self._client.rerank(query, _texts(documents), self.top_n, self.instruct)
        return _scored(documents, ranked)

    async def acompress_documents(
        self, documents: Sequence[Document], query: str, callbacks: Callbacks | None = None
    ) -> Sequence[Document]:
        """``compress_documents`` natively on asyncio."""
        if not documents:
            return []
        ranked = await self._client.arerank(query, _texts(documents), self.top_n, self.instruct)
        return _scored(documents, ranked)

    # --- ours ------------------------------------------------------------------------------

    @property
    def client(self) -> RerankClient:
        """The core client doing the work."""
        return self._client

    @property
    def usage(self) -> Usage:
        """Requests, retries, tokens and estimated cost so far."""
        return self._client.usage


def _texts(documents: Sequence[Document]) -> list[str]:
    return [document.page_content for document in documents]


def _scored(documents: Sequence[Document], ranked: list[tuple[int, float]]) -> list[Document]:
    """Copies of the ranked documents, in rank order, with their scores in the metadata (the
    caller's documents are left as they were)."""
    return [
        Document(
            page_content=documents[i].page_content,
            metadata={**documents[i].metadata, "relevance_score": score},
            id=documents[i].id,
        )
        for i, score in ranked
    ]
