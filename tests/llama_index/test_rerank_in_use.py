"""ModelStudioRerank in real LlamaIndex objects against the emulator: a query engine and a
retriever over a VectorStoreIndex embedded with ModelStudioEmbedding, events, async."""

from __future__ import annotations

from llama_index.core import Document, VectorStoreIndex
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events.rerank import ReRankEndEvent, ReRankStartEvent
from llama_index.core.llms import MockLLM
from llama_index.core.schema import QueryBundle

from llama_index_modelstudio import ModelStudioEmbedding, ModelStudioRerank
from modelstudio_emulator import Emulator

QUERY = "how do reranking models order search results"
TEXTS = [
    "Reranking models order search results by relevance to the query.",
    "Search engines retrieve candidates, then reranking models order them.",
    "The weather in Hangzhou is mild in spring.",
    "A recipe for dumplings with pork and chives.",
    "Quantum computing is a frontier of computer science.",
] * 6


def index(emulator: Emulator) -> VectorStoreIndex:
    embedding = ModelStudioEmbedding(api_key=emulator.api_key, base_url=emulator.base_url)
    documents = [Document(text=t) for t in TEXTS]
    return VectorStoreIndex.from_documents(documents, embed_model=embedding)


def reranker(emulator: Emulator, top_n: int = 5) -> ModelStudioRerank:
    return ModelStudioRerank(
        api_key=emulator.api_key, base_url=emulator.rerank_base_url, top_n=top_n
    )


def test_a_query_engine_keeps_the_reranked_top_5(emulator: Emulator) -> None:
    engine = index(emulator).as_query_engine(
        llm=MockLLM(), similarity_top_k=20, node_postprocessors=[reranker(emulator)]
    )
    response = engine.query(QUERY)
    nodes = response.source_nodes
    assert len(nodes) == 5
    scores = [n.score for n in nodes]
    assert scores == sorted(scores, reverse=True)  # type: ignore[type-var]
    assert nodes[0].node.get_content() in TEXTS[:2]


async def test_the_async_path_reranks_natively_with_the_same_result(emulator: Emulator) -> None:
    idx = index(emulator)
    retriever = idx.as_retriever(similarity_top_k=20)
    candidates = retriever.retrieve(QUERY)
    rerank = reranker(emulator)
    sync = rerank.postprocess_nodes(candidates, QueryBundle(QUERY))
    calls_before = len(emulator.log)
    asynced = await rerank.apostprocess_nodes(candidates, QueryBundle(QUERY))
    assert [(n.node.node_id, n.score) for n in asynced] == [(n.node.node_id, n.score) for n in sync]
    assert len(emulator.log) == calls_before + 1


def test_rerank_events_are_emitted(emulator: Emulator) -> None:
    seen: list[object] = []

    class Collect(BaseEventHandler):
        def handle(self, event: object, **kwargs: object) -> None:
            if isinstance(event, ReRankStartEvent | ReRankEndEvent):
                seen.append(event)

    handler = Collect()
    dispatcher = get_dispatcher()
    dispatcher.add_event_handler(handler)
    try:
        candidates = index(emulator).as_retriever(similarity_top_k=10).retrieve(QUERY)
        kept = reranker(emulator, top_n=3).postprocess_nodes(candidates, query_str=QUERY)
    finally:
        dispatcher.event_handlers.remove(handler)
    start, end = seen
    assert isinstance(start, ReRankStartEvent) and isinstance(end, ReRankEndEvent)
    assert start.top_n == 3 and start.model_name == "qwen3-rerank" and len(start.nodes) == 10
    assert end.nodes == kept
