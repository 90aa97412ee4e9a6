"""ModelStudioRerank in real LangChain objects against the emulator: a ContextualCompression-
Retriever over an InMemoryVectorStore embedded with ModelStudioEmbeddings, sync and async."""

from __future__ import annotations

import pytest
from langchain_classic.retrievers import ContextualCompressionRetriever
from langchain_core.documents import Document
from langchain_core.vectorstores import InMemoryVectorStore

from langchain_modelstudio import ModelStudioEmbeddings, ModelStudioRerank
from modelstudio_emulator import Emulator

QUERY = "how do reranking models order search results"
TEXTS = [
    "Reranking models order search results by relevance to the query.",
    "Search engines retrieve candidates, then reranking models order them.",
    "The weather in Hangzhou is mild in spring.",
    "A recipe for dumplings with pork and chives.",
    "Quantum computing is a frontier of computer science.",
] * 6


def pipeline(emulator: Emulator, top_n: int = 5) -> ContextualCompressionRetriever:
    embeddings = ModelStudioEmbeddings(api_key=emulator.api_key, base_url=emulator.base_url)
    store = InMemoryVectorStore.from_texts(
        TEXTS, embeddings, metadatas=[{"n": i} for i in range(len(TEXTS))]
    )
    reranker = ModelStudioRerank(
        api_key=emulator.api_key, base_url=emulator.rerank_base_url, top_n=top_n
    )
    return ContextualCompressionRetriever(
        base_compressor=reranker, base_retriever=store.as_retriever(search_kwargs={"k": 20})
    )


def test_a_compression_retriever_returns_the_reranked_top_n(emulator: Emulator) -> None:
    retriever = pipeline(emulator)
    found = retriever.invoke(QUERY)
    assert len(found) == 5
    scores = [d.metadata["relevance_score"] for d in found]
    assert scores == sorted(scores, reverse=True)
    assert all("n" in d.metadata for d in found), "the documents' own metadata is kept"
    candidates = retriever.base_retriever.invoke(QUERY)
    reference = retriever.base_compressor.client.rerank(
        QUERY, [d.page_content for d in candidates], top_n=5
    )
    assert [d.page_content for d in found] == [candidates[i].page_content for i, _ in reference]


async def test_the_async_path_gives_the_same_documents(emulator: Emulator) -> None:
    retriever = pipeline(emulator)
    found = await retriever.ainvoke(QUERY)
    assert [d.page_content for d in found] == [d.page_content for d in retriever.invoke(QUERY)]


def test_top_n_none_keeps_every_document_and_leaves_the_inputs_alone(
    emulator: Emulator,
) -> None:
    reranker = ModelStudioRerank(
        api_key=emulator.api_key, base_url=emulator.rerank_base_url, top_n=None
    )
    documents = [Document(page_content=t, metadata={"n": i}) for i, t in enumerate(TEXTS[:5])]
    ranked = reranker.compress_documents(documents, QUERY)
    assert len(ranked) == 5 and {d.metadata["n"] for d in ranked} == set(range(5))
    assert all("relevance_score" not in d.metadata for d in documents)
    assert reranker.compress_documents([], QUERY) == []


@pytest.mark.parametrize("model", ["qwen3-rerank", "gte-rerank-v2"])
def test_models_are_served_by_their_own_protocol(emulator: Emulator, model: str) -> None:
    reranker = ModelStudioRerank(
        model=model, api_key=emulator.api_key, base_url=emulator.host_url, top_n=2
    )
    ranked = reranker.compress_documents([Document(page_content=t) for t in TEXTS[:4]], QUERY)
    assert len(ranked) == 2
    assert emulator.log[-1].protocol == reranker.client.protocol
