"""Sparse vectors for LangChain hybrid search (``langchain-qdrant``'s ``SparseEmbeddings``).

Needs the native protocol and text-embedding-v3 or v4, and the ``sparse`` extra
(``pip install "modelstudio-embeddings[sparse]"``, which brings ``langchain-qdrant``).
"""

from __future__ import annotations

from typing import Any

try:
    from langchain_qdrant import SparseEmbeddings, SparseVector
except ModuleNotFoundError as exc:  # the extra is named, not only the missing module
    if exc.name != "langchain_qdrant":
        raise
    raise ModuleNotFoundError(
        "langchain_modelstudio.sparse needs langchain-qdrant, which is not installed: "
        'pip install "modelstudio-embeddings[sparse]"',
        name=exc.name,
    ) from exc

from modelstudio_embeddings import DEFAULT_MODEL, EmbeddingClient, SparseEmbedding

__all__ = ["ModelStudioSparseEmbeddings"]


class ModelStudioSparseEmbeddings(SparseEmbeddings):
    """Model Studio's sparse vectors (``output_type="sparse"``) as a LangChain sparse model.

    Takes the core's settings (``api_key``, ``base_url``, ``region``, ``max_concurrency``...);
    the protocol is always native, the only one that documents sparse output.
    """

    def __init__(self, model: str = DEFAULT_MODEL, **settings: Any) -> None:
        settings["protocol"] = "native"
        self.client = EmbeddingClient(model, **settings)
        if not self.client.accepts_sparse:
            raise ValueError(f"{model} does not offer sparse vectors; v3 and v4 do.")

    def embed_documents(self, texts: list[str]) -> list[SparseVector]:
        """One sparse vector per document, in order."""
        rows = self.client.embed_sparse(texts, text_type="document")
        return [_vector(row) for row in rows]

    def embed_query(self, text: str) -> SparseVector:
        """The sparse vector of one query."""
        return _vector(self.client.embed_sparse([text], text_type="query")[0])

    async def aembed_documents(self, texts: list[str]) -> list[SparseVector]:
        rows = await self.client.aembed_sparse(texts, text_type="document")
        return [_vector(row) for row in rows]

    async def aembed_query(self, text: str) -> SparseVector:
        rows = await self.client.aembed_sparse([text], text_type="query")
        return _vector(rows[0])


def _vector(row: SparseEmbedding) -> SparseVector:
    """Qdrant needs unique indices: weights of a repeated index are summed."""
    merged: dict[int, float] = {}
    for index, value in zip(row.indices, row.values, strict=True):
        merged[index] = merged.get(index, 0.0) + value
    return SparseVector(indices=list(merged), values=list(merged.values()))
