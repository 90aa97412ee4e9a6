"""LangChain ``Embeddings`` that serves a batch run's vectors by text, real-time for the rest.

Embed the corpus once through the Batch API at half price, then hand this to
``vectorstore.add_documents`` or the indexing API unchanged: every text the run embedded is
answered from its vectors without a request, and any other text (a query, a new document)
goes to the real-time ``fallback``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings

from modelstudio_embeddings.batch.lookup import VectorLookup, embed_corpus

__all__ = ["BatchPrecomputedEmbeddings"]


class BatchPrecomputedEmbeddings(Embeddings):
    """Vectors from a batch run by text; misses (and queries) through ``fallback``."""

    def __init__(self, lookup: VectorLookup, fallback: Embeddings | None = None) -> None:
        self.lookup = lookup
        self.fallback = fallback
        self.hits = 0
        """Texts answered from the batch run's vectors."""
        self.misses = 0
        """Texts sent to the fallback."""

    @classmethod
    def from_batch(
        cls,
        texts: Sequence[str],
        manifest_dir: str | Path,
        fallback: Embeddings | None = None,
        **job_options: Any,
    ) -> BatchPrecomputedEmbeddings:
        """Run (or resume) the batch job for ``texts`` (see ``BatchJob`` for the options)."""
        return cls(embed_corpus(texts, manifest_dir, **job_options), fallback)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        found, missing = self.lookup.split(texts)
        out: list[list[float]] = [[] for _ in texts]
        for i, vector in found.items():
            out[i] = vector.tolist()
        if missing:
            vectors = self._fallback().embed_documents([texts[i] for i in missing])
            for i, vector_list in zip(missing, vectors, strict=True):
                out[i] = vector_list
        self.hits += len(found)
        self.misses += len(missing)
        return out

    def embed_query(self, text: str) -> list[float]:
        """Queries go to the fallback (a query may be embedded differently from documents)."""
        self.misses += 1
        return self._fallback().embed_query(text)

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        found, missing = self.lookup.split(texts)
        out: list[list[float]] = [[] for _ in texts]
        for i, vector in found.items():
            out[i] = vector.tolist()
        if missing:
            vectors = await self._fallback().aembed_documents([texts[i] for i in missing])
            for i, vector_list in zip(missing, vectors, strict=True):
                out[i] = vector_list
        self.hits += len(found)
        self.misses += len(missing)
        return out

    async def aembed_query(self, text: str) -> list[float]:
        self.misses += 1
        return await self._fallback().aembed_query(text)

    def _fallback(self) -> Embeddings:
        if self.fallback is None:
            raise KeyError(
                "A text is not in the batch run and no fallback is set: pass "
                "fallback=ModelStudioEmbeddings(...) to embed it in real time."
            )
        return self.fallback
