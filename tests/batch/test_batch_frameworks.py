"""5,000 documents into a LangChain vector store (add_documents and the indexing API) and a
LlamaIndex VectorStoreIndex from a batch job: the real-time endpoint sees none of them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.documents import Document
from langchain_core.indexing import InMemoryRecordManager, index
from langchain_core.vectorstores import InMemoryVectorStore
from llama_index.core import VectorStoreIndex
from llama_index.core.ingestion import IngestionPipeline
from llama_index.core.schema import MetadataMode, TextNode

from langchain_modelstudio import BatchPrecomputedEmbeddings, ModelStudioEmbeddings
from llama_index_modelstudio import BatchEmbeddingTransform, ModelStudioEmbedding
from modelstudio_emulator import Emulator
from modelstudio_emulator.vectors import embed_texts

from .test_batch_job import corpus


def options(emu: Emulator) -> dict[str, Any]:
    return {
        "api_key": emu.api_key,
        "base_url": emu.base_url,
        "allow_insecure_http": True,
        "dimensions": 64,
        "poll_interval": (0.005, 0.05),
    }


def realtime_texts(emu: Emulator) -> list[str]:
    """Texts the real-time endpoint was asked to embed."""
    return [t for r in emu.log if r.protocol != "batch" for t in (r.texts or [])]


def test_langchain_vector_store_from_a_batch_job(batch_emu: Emulator, tmp_path: Path) -> None:
    texts = corpus(5000)
    fallback = ModelStudioEmbeddings(
        api_key=batch_emu.api_key, base_url=batch_emu.base_url, dimensions=64
    )
    embeddings = BatchPrecomputedEmbeddings.from_batch(
        texts, tmp_path / "runs", fallback=fallback, **options(batch_emu)
    )
    store = InMemoryVectorStore(embeddings)
    store.add_documents([Document(page_content=t, id=str(i)) for i, t in enumerate(texts)])
    assert realtime_texts(batch_emu) == []
    assert embeddings.hits == 5000
    stored = store.get_by_ids(["1234"])[0]
    assert stored.page_content == texts[1234]
    # the indexing API, unchanged, over a second store
    records = InMemoryRecordManager(namespace="batch")
    records.create_schema()
    docs = [Document(page_content=t, metadata={"source": str(i)}) for i, t in enumerate(texts)]
    outcome = index(
        docs, records, InMemoryVectorStore(embeddings), cleanup=None, key_encoder="sha256"
    )
    assert outcome["num_added"] == 5000
    assert realtime_texts(batch_emu) == []
    # a query (and any text not in the run) goes to the real-time fallback
    found = store.similarity_search(texts[42], k=1)
    assert found[0].page_content == texts[42]
    assert realtime_texts(batch_emu) == [texts[42]]
    assert batch_emu.batch.stats.jobs_created == 1


def test_llama_index_from_a_batch_job(batch_emu: Emulator, tmp_path: Path) -> None:
    nodes = [TextNode(text=t, id_=str(i)) for i, t in enumerate(corpus(5000))]
    pipeline = IngestionPipeline(
        transformations=[
            BatchEmbeddingTransform(
                manifest_dir=str(tmp_path / "runs"), job_options=options(batch_emu)
            )
        ]
    )
    embedded = pipeline.run(nodes=nodes)
    assert all(node.embedding is not None for node in embedded)
    texts = [node.get_content(metadata_mode=MetadataMode.EMBED) for node in embedded]
    np.testing.assert_array_equal(
        np.array([node.embedding for node in embedded], dtype=np.float32), embed_texts(texts, 64)
    )
    embed_model = ModelStudioEmbedding(
        api_key=batch_emu.api_key, base_url=batch_emu.base_url, dimensions=64
    )
    vector_index = VectorStoreIndex(embedded, embed_model=embed_model)
    assert realtime_texts(batch_emu) == []
    retrieved = vector_index.as_retriever(similarity_top_k=1).retrieve(texts[7])
    assert retrieved[0].node.node_id == "7"
    assert realtime_texts(batch_emu) == [texts[7]]
    assert batch_emu.batch.stats.jobs_created == 1
