"""ModelStudioEmbeddings in real LangChain objects against the emulator: vector stores, the
indexing API, the embedding cache, and errors through every entry point."""

from __future__ import annotations

import asyncio
import pickle
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from langchain_classic.embeddings import CacheBackedEmbeddings
from langchain_core.documents import Document
from langchain_core.indexing import InMemoryRecordManager, index
from langchain_core.load import dumpd, dumps
from langchain_core.stores import InMemoryByteStore
from langchain_core.vectorstores import InMemoryVectorStore

import modelstudio_embeddings as mse
from langchain_modelstudio import ModelStudioEmbeddings
from modelstudio_emulator import Emulator, Fault
from tests.conftest import FAST_RETRY

SECRET = "sk-langchain-canary-1"


@pytest.fixture
def make_embeddings(emulator: Emulator) -> Callable[..., ModelStudioEmbeddings]:
    def factory(**kwargs: object) -> ModelStudioEmbeddings:
        kwargs.setdefault("api_key", emulator.api_key)
        kwargs.setdefault("base_url", emulator.base_url)
        retries = kwargs.pop("max_retries", FAST_RETRY.max_retries)
        kwargs.setdefault("retry_policy", replace(FAST_RETRY, max_retries=retries))
        return ModelStudioEmbeddings(**kwargs)  # type: ignore[arg-type]

    return factory


def passages(n: int) -> list[str]:
    return [f"passage {i} about harbour{i} shipment{i % 17} and invoice{i * 3}" for i in range(n)]


# --- vector stores --------------------------------------------------------------------------


def test_in_memory_store_finds_a_document_by_its_own_text(
    make_embeddings: Callable[..., ModelStudioEmbeddings],
) -> None:
    texts = passages(300)
    store = InMemoryVectorStore.from_texts(texts, make_embeddings())
    for i in (0, 137, 299):
        assert store.similarity_search(texts[i], k=1)[0].page_content == texts[i]


def test_faiss_store_finds_a_document_by_its_own_text(
    make_embeddings: Callable[..., ModelStudioEmbeddings],
) -> None:
    from langchain_community.vectorstores import FAISS

    texts = passages(300)
    store = FAISS.from_texts(texts, make_embeddings(dimensions=512))
    for i in (3, 150, 298):
        assert store.similarity_search(texts[i], k=1)[0].page_content == texts[i]


def test_chroma_store_finds_a_document_by_its_own_text(
    make_embeddings: Callable[..., ModelStudioEmbeddings],
) -> None:
    import chromadb
    from langchain_chroma import Chroma

    texts = passages(300)
    store = Chroma.from_texts(
        texts,
        make_embeddings(dimensions=256),
        client=chromadb.EphemeralClient(),
        collection_name=f"t{uuid.uuid4().hex}",
    )
    for i in (7, 201):
        assert store.similarity_search(texts[i], k=1)[0].page_content == texts[i]


async def test_async_store_ingestion_and_search(
    make_embeddings: Callable[..., ModelStudioEmbeddings],
) -> None:
    texts = passages(120)
    store = await InMemoryVectorStore.afrom_texts(texts, make_embeddings())
    hits = await store.asimilarity_search(texts[42], k=1)
    assert hits[0].page_content == texts[42]


# --- the indexing API and the cache -----------------------------------------------------------


def test_indexing_a_second_time_embeds_nothing_and_a_change_embeds_only_it(
    emulator: Emulator, make_embeddings: Callable[..., ModelStudioEmbeddings]
) -> None:
    embeddings = make_embeddings()
    store = InMemoryVectorStore(embeddings)
    manager = InMemoryRecordManager(namespace="docs")
    manager.create_schema()
    docs = [
        Document(page_content=t, metadata={"source": f"s{i}"}) for i, t in enumerate(passages(150))
    ]
    first = index(docs, manager, store, cleanup="incremental", source_id_key="source")
    assert first["num_added"] == 150
    emulator.reset()
    second = index(docs, manager, store, cleanup="incremental", source_id_key="source")
    assert second["num_skipped"] == 150
    assert emulator.log == [], "no embedding request the second time"
    docs[5] = Document(page_content="a rewritten passage about customs", metadata={"source": "s5"})
    third = index(docs, manager, store, cleanup="incremental", source_id_key="source")
    assert third["num_added"] == 1
    assert [t for r in emulator.log for t in r.texts or []] == ["a rewritten passage about customs"]


def test_cache_backed_embeddings_make_no_request_the_second_time(
    emulator: Emulator, make_embeddings: Callable[..., ModelStudioEmbeddings]
) -> None:
    embeddings = make_embeddings(dimensions=512)
    assert embeddings.cache_namespace == "modelstudio.text-embedding-v4.512"
    cached = CacheBackedEmbeddings.from_bytes_store(
        embeddings, InMemoryByteStore(), namespace=embeddings.cache_namespace
    )
    texts = passages(40)
    first = cached.embed_documents(texts)
    emulator.reset()
    assert cached.embed_documents(texts) == first
    assert emulator.log == []


def test_cache_namespaces_keep_widths_apart(
    make_embeddings: Callable[..., ModelStudioEmbeddings],
) -> None:
    wide, narrow = make_embeddings(dimensions=1024), make_embeddings(dimensions=256)
    assert wide.cache_namespace != narrow.cache_namespace


# --- the adapter itself ----------------------------------------------------------------------


def test_vectors_are_python_floats_in_input_order(
    emulator: Emulator, make_embeddings: Callable[..., ModelStudioEmbeddings]
) -> None:
    embeddings = make_embeddings()
    texts = passages(25)
    emulator.script(Fault.shuffle(), Fault.shuffle(), Fault.shuffle())
    vectors = embeddings.embed_documents(texts)
    assert all(type(v) is float for v in vectors[0])
    assert vectors[11] == embeddings.embed_query(texts[11])


def test_the_key_comes_from_the_environment_and_never_shows(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DASHSCOPE_API_KEY", SECRET)
    embeddings = ModelStudioEmbeddings(base_url=emulator.base_url)
    assert embeddings.api_key.get_secret_value() == SECRET
    for text in (repr(embeddings), str(embeddings), dumps(embeddings), str(dumpd(embeddings))):
        assert SECRET not in text
    assert dumpd(embeddings)["kwargs"]["api_key"] == {
        "lc": 1,
        "type": "secret",
        "id": ["DASHSCOPE_API_KEY"],
    }
    assert SECRET.encode() not in pickle.dumps(embeddings.client)


def test_a_missing_key_names_the_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DASHSCOPE_API_KEY", raising=False)
    with pytest.raises(ValueError, match="DASHSCOPE_API_KEY"):
        ModelStudioEmbeddings()


def test_bad_dimensions_fail_at_construction(emulator: Emulator) -> None:
    # pydantic wraps the ConfigurationError; both are ValueErrors carrying its message.
    with pytest.raises(ValueError, match="it offers 1536"):
        ModelStudioEmbeddings(
            model="text-embedding-v2", dimensions=512, api_key="k", base_url=emulator.base_url
        )


def test_progress_bar_advances_per_row(
    make_embeddings: Callable[..., ModelStudioEmbeddings], capsys: pytest.CaptureFixture[str]
) -> None:
    make_embeddings(show_progress=True).embed_documents(passages(30))
    assert "30/30" in capsys.readouterr().err


async def test_concurrent_async_calls_share_one_bound(
    emulator: Emulator, make_embeddings: Callable[..., ModelStudioEmbeddings]
) -> None:
    emulator.configure(latency_ms=30)
    embeddings = make_embeddings(max_concurrency=3)
    results = await asyncio.gather(*(embeddings.aembed_documents(passages(60)) for _ in range(4)))
    assert all(len(r) == 60 for r in results)
    assert 1 < emulator.stats.peak_in_flight <= 3


# --- failures through every entry point -------------------------------------------------------

ENTRY_POINTS = ["embed_documents", "embed_query", "aembed_documents", "aembed_query"]


def _call(embeddings: ModelStudioEmbeddings, entry: str, texts: list[str]) -> object:
    method = getattr(embeddings, entry)
    arg: object = texts if "documents" in entry else texts[0]
    result = method(arg)
    return asyncio.run(result) if asyncio.iscoroutine(result) else result


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_persistent_500s_raise_service_unavailable(
    emulator: Emulator, make_embeddings: Callable[..., ModelStudioEmbeddings], entry: str
) -> None:
    emulator.script(*[Fault.server_error()] * 10)
    with pytest.raises(mse.ServiceUnavailableError):
        _call(make_embeddings(max_retries=2), entry, ["a", "b"])


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_a_wrong_key_raises_authentication_error(
    make_embeddings: Callable[..., ModelStudioEmbeddings], entry: str
) -> None:
    with pytest.raises(mse.AuthenticationError, match="region"):
        _call(make_embeddings(api_key="sk-wrong"), entry, ["a", "b"])


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_a_moderated_row_raises_content_inspection_error(
    make_embeddings: Callable[..., ModelStudioEmbeddings], entry: str
) -> None:
    texts = (
        ["[[BLOCKED]] first", "second"] if "query" in entry else ["fine", "[[BLOCKED]] bad", "ok"]
    )
    with pytest.raises(mse.ContentInspectionError) as info:
        _call(make_embeddings(), entry, texts)
    assert info.value.indices in ((0,), (1,))


def test_the_cache_namespace_is_a_local_file_store_key(
    tmp_path: Path, emulator: Emulator, make_embeddings: Callable[..., ModelStudioEmbeddings]
) -> None:
    from langchain_classic.storage import LocalFileStore

    embeddings = make_embeddings(dimensions=256)
    cached = CacheBackedEmbeddings.from_bytes_store(
        embeddings,
        LocalFileStore(tmp_path),
        namespace=embeddings.cache_namespace,
        batch_size=10,
        key_encoder="sha256",
    )
    first = cached.embed_documents(passages(25))
    emulator.reset()
    assert cached.embed_documents(passages(25)) == first and emulator.log == []
