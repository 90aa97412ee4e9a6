"""ModelStudioEmbedding in real LlamaIndex objects against the emulator: indexes, retrievers,
ingestion pipelines with their cache, FAISS and Chroma stores, events, serialization, errors."""

from __future__ import annotations

import asyncio
import pickle
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest
from llama_index.core import Document, Settings, StorageContext, VectorStoreIndex
from llama_index.core.ingestion import IngestionCache, IngestionPipeline
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events.embedding import EmbeddingEndEvent
from llama_index.core.node_parser import SentenceSplitter

import modelstudio_embeddings as mse
from llama_index_modelstudio import ModelStudioEmbedding
from modelstudio_emulator import Emulator, Fault
from tests.conftest import FAST_RETRY

SECRET = "sk-llama-canary-9"
Make = Callable[..., ModelStudioEmbedding]


@pytest.fixture
def make_embedding(emulator: Emulator) -> Make:
    def factory(**kwargs: object) -> ModelStudioEmbedding:
        kwargs.setdefault("api_key", emulator.api_key)
        kwargs.setdefault("base_url", emulator.base_url)
        retries = kwargs.pop("max_retries", FAST_RETRY.max_retries)
        kwargs.setdefault("retry_policy", replace(FAST_RETRY, max_retries=retries))
        return ModelStudioEmbedding(**kwargs)  # type: ignore[arg-type]

    return factory


@pytest.fixture
def settings_restored() -> Iterator[None]:
    previous = Settings._embed_model
    yield
    Settings._embed_model = previous


def documents(n: int) -> list[Document]:
    return [
        Document(
            text=f"Policy {i}: topic{i} covers visa{i % 9} rules and claim{i * 7} forms.",
            doc_id=f"d{i}",
        )
        for i in range(n)
    ]


def test_settings_index_and_retriever_find_the_right_document(
    make_embedding: Make, settings_restored: None
) -> None:
    Settings.embed_model = make_embedding()
    docs = documents(200)
    index = VectorStoreIndex.from_documents(docs)
    hits = index.as_retriever(similarity_top_k=1).retrieve(docs[77].text)
    assert hits[0].node.ref_doc_id == "d77"


def test_ingestion_pipeline_cache_makes_the_second_run_free(
    emulator: Emulator, make_embedding: Make
) -> None:
    cache = IngestionCache()
    docs = documents(60)

    def run() -> int:
        pipeline = IngestionPipeline(
            transformations=[SentenceSplitter(chunk_size=64, chunk_overlap=0), make_embedding()],
            cache=cache,
        )
        nodes = pipeline.run(documents=docs)
        assert all(node.embedding is not None and len(node.embedding) == 1024 for node in nodes)
        return len(nodes)

    first = run()
    emulator.reset()
    assert run() == first
    assert emulator.log == []


def test_faiss_store_backs_an_index(make_embedding: Make) -> None:
    import faiss
    from llama_index.vector_stores.faiss import FaissVectorStore

    store = FaissVectorStore(faiss_index=faiss.IndexFlatL2(256))
    context = StorageContext.from_defaults(vector_store=store)
    docs = documents(150)
    index = VectorStoreIndex.from_documents(
        docs, storage_context=context, embed_model=make_embedding(dimensions=256)
    )
    hits = index.as_retriever(similarity_top_k=1).retrieve(docs[42].text)
    assert "topic42 " in hits[0].node.get_content()


def test_chroma_store_backs_an_index(make_embedding: Make) -> None:
    import chromadb
    from llama_index.vector_stores.chroma import ChromaVectorStore

    collection = chromadb.EphemeralClient().create_collection(f"c{uuid.uuid4().hex}")
    context = StorageContext.from_defaults(
        vector_store=ChromaVectorStore(chroma_collection=collection)
    )
    docs = documents(150)
    index = VectorStoreIndex.from_documents(
        docs, storage_context=context, embed_model=make_embedding(dimensions=512)
    )
    hits = index.as_retriever(similarity_top_k=1).retrieve(docs[9].text)
    assert "topic9 " in hits[0].node.get_content()


def test_async_batch_of_500_stays_within_the_bound_whatever_num_workers(
    emulator: Emulator, make_embedding: Make
) -> None:
    emulator.configure(latency_ms=20)
    embedding = make_embedding(max_concurrency=6, num_workers=50, embed_batch_size=10)
    texts = [f"text {i} about item{i}" for i in range(500)]
    vectors = asyncio.run(embedding.aget_text_embedding_batch(texts))
    assert len(vectors) == 500
    assert vectors[123] == embedding.get_text_embedding(texts[123])
    assert 1 < emulator.stats.peak_in_flight <= 6


def test_the_sync_path_runs_requests_concurrently(emulator: Emulator, make_embedding: Make) -> None:
    emulator.configure(latency_ms=20)
    embedding = make_embedding(max_concurrency=8)
    assert embedding.embed_batch_size == 2040, "LlamaIndex's largest chunk, in whole requests"
    embedding.get_text_embedding_batch([f"row {i}" for i in range(160)])
    assert 1 < emulator.stats.peak_in_flight <= 8


def test_the_default_chunk_is_whole_requests_within_llamaindexs_bound(make_embedding: Make) -> None:
    assert make_embedding(model_name="text-embedding-v2").embed_batch_size == 2025  # 81 x 25
    assert make_embedding(embed_batch_size=30).embed_batch_size == 30  # a chosen size stays


def test_an_index_queried_at_another_width_fails_loudly(make_embedding: Make) -> None:
    docs = documents(20)
    index = VectorStoreIndex.from_documents(docs, embed_model=make_embedding(dimensions=1024))
    retriever = index.as_retriever(embed_model=make_embedding(dimensions=512))
    with pytest.raises(ValueError):
        retriever.retrieve("visa rules")


def test_embedding_events_carry_the_right_chunks_and_vectors(make_embedding: Make) -> None:
    seen: list[EmbeddingEndEvent] = []

    class Collect(BaseEventHandler):
        def handle(self, event: object, **kwargs: object) -> None:
            if isinstance(event, EmbeddingEndEvent):
                seen.append(event)

    handler = Collect()
    dispatcher = get_dispatcher()
    dispatcher.add_event_handler(handler)
    try:
        embedding = make_embedding(embed_batch_size=10)
        texts = [f"chunk {i} on port{i}" for i in range(25)]
        vectors = embedding.get_text_embedding_batch(texts)
    finally:
        dispatcher.event_handlers.remove(handler)
    assert [len(e.chunks) for e in seen] == [10, 10, 5]
    assert [c for e in seen for c in e.chunks] == texts
    assert [v for e in seen for v in e.embeddings] == vectors


def test_model_alias_class_name_and_key_kept_out_of_every_form(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    embedding = ModelStudioEmbedding(
        model="text-embedding-v3", api_key=SECRET, base_url=emulator.base_url
    )
    assert embedding.model_name == "text-embedding-v3"
    assert ModelStudioEmbedding.class_name() == "ModelStudioEmbedding"
    forms = [repr(embedding), str(embedding), str(embedding.to_dict()), embedding.to_json()]
    forms.append(str(embedding.to_payload()))
    assert all(SECRET not in form for form in forms)
    data = pickle.dumps(embedding)
    assert SECRET.encode() not in data
    monkeypatch.setenv("DASHSCOPE_API_KEY", emulator.api_key)
    assert len(pickle.loads(data).get_query_embedding("hello")) == 1024
    restored = ModelStudioEmbedding.from_dict(embedding.to_dict())
    assert restored.model_name == "text-embedding-v3"
    assert len(restored.get_text_embedding("hello")) == 1024


def test_progress_shows_on_both_paths(
    make_embedding: Make, capsys: pytest.CaptureFixture[str]
) -> None:
    embedding = make_embedding(show_progress=True)
    embedding.get_text_embedding_batch([f"r{i}" for i in range(30)])
    asyncio.run(embedding.aget_text_embedding_batch([f"s{i}" for i in range(30)]))
    assert capsys.readouterr().err.count("30/30") >= 2


ENTRY_POINTS = [
    "get_query_embedding",
    "get_text_embedding",
    "get_text_embedding_batch",
    "aget_query_embedding",
    "aget_text_embedding",
    "aget_text_embedding_batch",
]


def _call(embedding: ModelStudioEmbedding, entry: str, texts: list[str]) -> object:
    result = getattr(embedding, entry)(texts if entry.endswith("batch") else texts[0])
    return asyncio.run(result) if asyncio.iscoroutine(result) else result


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_persistent_500s_raise_service_unavailable(
    emulator: Emulator, make_embedding: Make, entry: str
) -> None:
    emulator.script(*[Fault.server_error()] * 10)
    with pytest.raises(mse.ServiceUnavailableError):
        _call(make_embedding(max_retries=2), entry, ["a", "b"])


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_a_wrong_key_raises_authentication_error(make_embedding: Make, entry: str) -> None:
    with pytest.raises(mse.AuthenticationError):
        _call(make_embedding(api_key="sk-wrong"), entry, ["a", "b"])


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_a_moderated_row_raises_content_inspection_error(make_embedding: Make, entry: str) -> None:
    with pytest.raises(mse.ContentInspectionError) as info:
        _call(make_embedding(), entry, ["[[BLOCKED]] row", "fine"])
    assert info.value.indices == (0,)
