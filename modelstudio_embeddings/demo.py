"""The demo: embed a small handbook, index it in LangChain and LlamaIndex, answer three questions.

With ``DASHSCOPE_API_KEY`` set it uses the real service; without it, it starts the emulator
in-process and says so. It ends with the requests, tokens and estimated cost it spent.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any

from .core.errors import ModelStudioError
from .core.usage import COUNTERS, Usage, plural
from .embeddings.client import EmbeddingClient

if TYPE_CHECKING:
    from langchain_core.vectorstores import InMemoryVectorStore

__all__ = ["QUESTIONS", "load_corpus", "run"]

QUESTIONS = (
    "How many days of annual leave do new employees get?",
    "How do I connect to the VPN when travelling abroad?",
    "出差期间每天的餐补是多少？",
)
DIMENSIONS = 512


@dataclass(frozen=True)
class Passage:
    id: str
    title: str
    text: str


def load_corpus() -> list[Passage]:
    """The handbook passages that ship with the package (a fictional logistics company)."""
    lines = (
        resources.files("modelstudio_embeddings")
        .joinpath("data/corpus.jsonl")
        .read_text(encoding="utf-8")
    )
    return [Passage(**json.loads(line)) for line in lines.splitlines() if line.strip()]


@contextlib.contextmanager
def _service() -> Iterator[dict[str, Any]]:
    """Client settings for the real service, or for an emulator started for the demo."""
    if os.environ.get("DASHSCOPE_API_KEY"):
        print("DASHSCOPE_API_KEY is set: using the Model Studio service, not the emulator.")
        yield {}
        return
    from modelstudio_emulator import Emulator

    with Emulator() as emulator:
        print(
            "No DASHSCOPE_API_KEY found: running against the local emulator, "
            "whose vectors are not the real model's (word overlap only)."
        )
        yield {"api_key": emulator.api_key, "base_url": emulator.base_url}


def run() -> int:
    """Run the demo; 0 on success, 1 with a one-line hint on a service error."""
    try:
        with _service() as settings:
            return _demo(settings)
    except ModelStudioError as exc:
        print(f"\n{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nInterrupted.", file=sys.stderr)
        return 130


def _demo(settings: dict[str, Any]) -> int:
    try:
        import langchain_core  # noqa: F401
        import llama_index.core  # noqa: F401
    except ImportError:
        print(
            "The demo indexes in LangChain and LlamaIndex, which are extras: "
            "pip install 'modelstudio-embeddings[all]' (or run `make demo` from a clone).",
            file=sys.stderr,
        )
        return 1
    from langchain_core.vectorstores import InMemoryVectorStore
    from llama_index.core import VectorStoreIndex
    from llama_index.core.schema import TextNode

    from langchain_modelstudio import ModelStudioEmbeddings
    from llama_index_modelstudio import ModelStudioEmbedding

    passages = load_corpus()
    core = EmbeddingClient("text-embedding-v4", dimensions=DIMENSIONS, **settings)
    print(
        f"Embedding {len(passages)} handbook passages with {core.model} ({DIMENSIONS}d) "
        f"at {core.host_url}"
    )
    vectors = core.embed([p.text for p in passages], show_progress=True).tolist()

    # The corpus is embedded once; both frameworks index those vectors and embed only queries.
    lc_embeddings = ModelStudioEmbeddings(dimensions=DIMENSIONS, **settings)
    lc_store = InMemoryVectorStore(lc_embeddings)
    _add_precomputed(lc_store, passages, vectors)
    li_embedding = ModelStudioEmbedding(dimensions=DIMENSIONS, **settings)
    nodes = [
        TextNode(text=p.text, id_=p.id, metadata={"title": p.title}, embedding=v)
        for p, v in zip(passages, vectors, strict=True)
    ]
    retriever = VectorStoreIndex(nodes, embed_model=li_embedding).as_retriever(similarity_top_k=3)

    for question in QUESTIONS:
        print(f"\nQ: {question}")
        lc_hits = lc_store.similarity_search_with_score(question, k=3)
        print("  LangChain InMemoryVectorStore:")
        for doc, score in lc_hits:
            print(f"    {score:.3f}  {doc.id}  {doc.metadata['title']}")
        print("  LlamaIndex VectorStoreIndex:")
        for hit in retriever.retrieve(question):
            print(f"    {hit.score or 0.0:.3f}  {hit.node.node_id}  {hit.node.metadata['title']}")

    corpus, lc_queries, li_queries = core.usage, lc_embeddings.usage, li_embedding.usage
    print(f"\nSpent: {_total(corpus, lc_queries, li_queries)} at list price")
    print(
        f"  (corpus once: {plural(corpus.requests, 'request')}; queries: LangChain "
        f"{plural(lc_queries.requests, 'request')}, "
        f"LlamaIndex {plural(li_queries.requests, 'request')})"
    )
    return 0


def _add_precomputed(
    store: InMemoryVectorStore, passages: list[Passage], vectors: list[list[float]]
) -> None:
    """Put precomputed vectors in the store's public ``store`` dict: ``add_documents`` would
    embed every passage a second time."""
    records = store.store
    for passage, vector in zip(passages, vectors, strict=True):
        records[passage.id] = {
            "id": passage.id,
            "vector": vector,
            "text": passage.text,
            "metadata": {"title": passage.title},
        }


def _total(*usages: Usage) -> Usage:
    """The sum of several clients' usage (every counter, and the estimated cost)."""
    sums = {name: sum(getattr(usage, name) for usage in usages) for name in COUNTERS}
    return Usage(model=usages[0].model, **sums)
