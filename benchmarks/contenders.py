"""Who is measured: our five entry points, the peers configured to work at all, and a raw
HTTP client that shows the emulator's own ceiling."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass

import httpx2
import orjson
from pydantic import SecretStr

from modelstudio_embeddings.embeddings.client import DEFAULT_MAX_CONCURRENCY

from .harness import (
    DIMENSIONS,
    KEY,
    MODEL,
    ROWS_PER_REQUEST,
    EmulatorProcess,
    Runner,
    Scenario,
)

CEILING = f"ceiling: raw HTTP, {DEFAULT_MAX_CONCURRENCY} in flight, nothing parsed"


@dataclass(frozen=True)
class Contender:
    run: Runner
    retries: Callable[[], int] | None = None
    """Retries so far, where the contender reports them."""
    returns_vectors: bool = True


def contenders(base_url: str) -> dict[str, Contender]:
    """Fresh instances of every contender: no adaptive state or connection carries over."""
    from langchain_modelstudio import ModelStudioEmbeddings
    from llama_index_modelstudio import ModelStudioEmbedding
    from modelstudio_embeddings import EmbeddingClient

    core = EmbeddingClient(MODEL, dimensions=DIMENSIONS, api_key=KEY, base_url=base_url)
    lc = ModelStudioEmbeddings(
        model=MODEL, dimensions=DIMENSIONS, api_key=SecretStr(KEY), base_url=base_url
    )
    li = ModelStudioEmbedding(
        model_name=MODEL, dimensions=DIMENSIONS, api_key=KEY, base_url=base_url
    )
    found = {
        "ours: core to numpy": Contender(core.embed, lambda: core.usage.retries),
        "ours: LangChain sync": Contender(lc.embed_documents, lambda: lc.usage.retries),
        "ours: LangChain async": Contender(
            lambda t: asyncio.run(lc.aembed_documents(t)), lambda: lc.usage.retries
        ),
        "ours: LlamaIndex sync": Contender(li.get_text_embedding_batch, lambda: li.usage.retries),
        "ours: LlamaIndex async": Contender(
            lambda t: asyncio.run(li.aget_text_embedding_batch(t)), lambda: li.usage.retries
        ),
    }
    try:
        from langchain_openai import OpenAIEmbeddings

        peer = OpenAIEmbeddings(
            model=MODEL,
            base_url=base_url,
            api_key=SecretStr(KEY),
            chunk_size=10,
            check_embedding_ctx_length=False,
            dimensions=DIMENSIONS,
        )
        found["langchain-openai OpenAIEmbeddings"] = Contender(peer.embed_documents)
    except ImportError:
        print("(langchain-openai not installed: pip install -r benchmarks/requirements.txt)")
    try:
        from llama_index.embeddings.openai_like import OpenAILikeEmbedding

        like = OpenAILikeEmbedding(
            model_name=MODEL,
            api_base=base_url,
            api_key=KEY,
            embed_batch_size=10,
            dimensions=DIMENSIONS,
        )
        found["LlamaIndex OpenAILikeEmbedding sync"] = Contender(like.get_text_embedding_batch)
        found["LlamaIndex OpenAILikeEmbedding async"] = Contender(
            lambda t: asyncio.run(like.aget_text_embedding_batch(t))
        )
    except ImportError:
        print("(llama-index-embeddings-openai-like not installed)")
    return found


def ceiling(base_url: str) -> Contender:
    """16 threads posting prepared bodies over raw HTTP, full width from the first request, and
    reading the answers without parsing them: the most this emulator on this machine allows."""
    client = httpx2.Client(limits=httpx2.Limits(max_connections=32, max_keepalive_connections=16))
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}

    def run(texts: list[str]) -> None:
        bodies = iter(
            [
                orjson.dumps(
                    {
                        "model": MODEL,
                        "input": texts[i : i + ROWS_PER_REQUEST],
                        "dimensions": DIMENSIONS,
                        "encoding_format": "float",
                    }
                )
                for i in range(0, len(texts), ROWS_PER_REQUEST)
            ]
        )
        lock = threading.Lock()

        def worker() -> None:
            while True:
                with lock:
                    body = next(bodies, None)
                if body is None:
                    return
                client.post(base_url + "/embeddings", content=body, headers=headers).read()

        threads = [threading.Thread(target=worker) for _ in range(DEFAULT_MAX_CONCURRENCY)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    return Contender(run, returns_vectors=False)


def warm_up(emulator: EmulatorProcess, texts: list[str]) -> None:
    """Fill the emulator's row cache with the benchmark texts, so no contender pays for it."""
    from modelstudio_embeddings import EmbeddingClient

    emulator.setup(Scenario("warm-up", len(texts), 0.0))
    with EmbeddingClient(
        MODEL, dimensions=DIMENSIONS, api_key=KEY, base_url=emulator.base_url
    ) as client:
        client.embed(texts)
