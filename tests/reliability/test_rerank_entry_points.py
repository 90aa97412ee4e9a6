"""Every rerank entry point (the core, LangChain and LlamaIndex; sync and async) raises the same
typed errors, and the key never shows in repr, str, pickles, tracebacks or errors."""

from __future__ import annotations

import asyncio
import pickle
import traceback
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from langchain_core.documents import Document
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

import modelstudio_embeddings as mse
from langchain_modelstudio import ModelStudioRerank as LangChainRerank
from llama_index_modelstudio import ModelStudioRerank as LlamaIndexRerank
from modelstudio_embeddings import RerankClient
from modelstudio_emulator import Emulator, Fault
from tests.conftest import FAST_RETRY

SECRET = "sk-rerank-canary-4242"
QUERY = "how do reranking models order search results"
DOCUMENTS = ["Reranking orders results.", "word " * 4500, "Rain in spring."]
Run = Callable[[list[str]], Any]


def entry_point(name: str, emulator: Emulator, api_key: str, retries: int = 2) -> Run:
    """A one-argument runner (the documents) for one entry point."""
    policy = replace(FAST_RETRY, max_retries=retries)
    common: dict[str, Any] = {"api_key": api_key, "base_url": emulator.rerank_base_url}
    if name.startswith("core"):
        client = RerankClient(retry_policy=policy, **common)
        if name == "core":
            return lambda docs: client.rerank(QUERY, docs)
        return lambda docs: asyncio.run(client.arerank(QUERY, docs))
    if name.startswith("langchain"):
        compressor = LangChainRerank(retry_policy=policy, top_n=2, **common)

        def as_docs(docs: list[str]) -> list[Document]:
            return [Document(page_content=d) for d in docs]

        if name == "langchain":
            return lambda docs: compressor.compress_documents(as_docs(docs), QUERY)
        return lambda docs: asyncio.run(compressor.acompress_documents(as_docs(docs), QUERY))
    postprocessor = LlamaIndexRerank(retry_policy=policy, top_n=2, **common)

    def nodes(docs: list[str]) -> list[NodeWithScore]:
        return [NodeWithScore(node=TextNode(text=d), score=0.0) for d in docs]

    if name == "llama_index":
        return lambda docs: postprocessor.postprocess_nodes(nodes(docs), QueryBundle(QUERY))
    return lambda docs: asyncio.run(
        postprocessor.apostprocess_nodes(nodes(docs), QueryBundle(QUERY))
    )


ENTRY_POINTS = [
    "core",
    "core-async",
    "langchain",
    "langchain-async",
    "llama_index",
    "llama_index-async",
]


def everything_said(error: BaseException) -> str:
    parts = ["".join(traceback.format_exception(error)), repr(error), str(error)]
    for link in (error.__cause__, error.__context__):
        if link is not None:
            parts.append(everything_said(link))
    return "\n".join(parts)


@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_a_wrong_key_is_an_authentication_error_that_never_shows_it(
    emulator: Emulator, name: str
) -> None:
    run = entry_point(name, emulator, SECRET)
    with pytest.raises(mse.AuthenticationError) as info:
        run(DOCUMENTS[:1])
    assert SECRET not in everything_said(info.value)


@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_5xx_after_retries_is_service_unavailable(emulator: Emulator, name: str) -> None:
    emulator.script(*[Fault.server_error()] * 3)
    with pytest.raises(mse.ServiceUnavailableError) as info:
        entry_point(name, emulator, emulator.api_key, retries=2)(DOCUMENTS[:1])
    assert "Gave up after 2 retries" in str(info.value)
    assert len(emulator.log) == 3


@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_429_after_retries_is_a_rate_limit_error(emulator: Emulator, name: str) -> None:
    emulator.script(*[Fault.rate_limited()] * 2)
    with pytest.raises(mse.RateLimitError):
        entry_point(name, emulator, emulator.api_key, retries=1)(DOCUMENTS[:1])


@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_a_too_long_document_is_named_before_any_request(emulator: Emulator, name: str) -> None:
    with pytest.raises(mse.InputTooLongError) as info:
        entry_point(name, emulator, emulator.api_key)(DOCUMENTS)
    assert info.value.indices == (1,)
    assert emulator.log == []


MISTAKES: list[dict[str, object]] = [
    {"model": "qwen4-rerank"},
    {"model": "gte-rerank-v2", "protocol": "compatible"},
    {"max_concurrency": 0},
    {"timeout": -1},
    {"on_too_long": "cut"},
    {"top_n": 0},
    {"base_url": "https//dashscope-intl.aliyuncs.com"},
]


@pytest.mark.parametrize("mistake", MISTAKES, ids=lambda m: "-".join(map(str, m)))
@pytest.mark.parametrize("adapter", [LangChainRerank, LlamaIndexRerank])
def test_adapter_mistakes_are_configuration_errors_that_never_show_the_key(
    adapter: type, mistake: dict[str, object]
) -> None:
    with pytest.raises(mse.ConfigurationError) as info:
        adapter(api_key=SECRET, **mistake)
    said = everything_said(info.value)
    assert SECRET not in said and "ValidationError" not in said


def test_no_key_is_a_configuration_error(emulator: Emulator) -> None:
    for build in (RerankClient, LangChainRerank, LlamaIndexRerank):
        with pytest.raises(mse.ConfigurationError, match="DASHSCOPE_API_KEY"):
            build(base_url=emulator.rerank_base_url)


def test_the_key_is_in_no_repr_str_dict_or_pickle(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    core = RerankClient(api_key=SECRET, base_url=emulator.rerank_base_url)
    langchain = LangChainRerank(api_key=SECRET, base_url=emulator.rerank_base_url)
    llama = LlamaIndexRerank(api_key=SECRET, base_url=emulator.rerank_base_url)
    for thing in (core, langchain, llama):
        assert SECRET not in repr(thing) and SECRET not in str(thing)
        assert SECRET.encode() not in pickle.dumps(thing)
    assert SECRET not in str(langchain.model_dump()) and SECRET not in langchain.model_dump_json()
    assert SECRET not in str(llama.to_dict()) and SECRET not in llama.to_json()
    monkeypatch.setenv("DASHSCOPE_API_KEY", emulator.api_key)
    for thing in (core, langchain, llama):
        restored = pickle.loads(pickle.dumps(thing))
        client = restored if isinstance(restored, RerankClient) else restored.client
        assert client._config.api_key == emulator.api_key, "the environment's key"


@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_a_moderated_candidate_is_named_alone_at_every_entry_point(
    emulator: Emulator, name: str
) -> None:
    documents = [f"Passage {i} on reranking." for i in range(8)]
    documents[3] += " [[BLOCKED]]"
    with pytest.raises(mse.ContentInspectionError) as info:
        entry_point(name, emulator, emulator.api_key)(documents)
    assert info.value.indices == (3,) and ".partial" not in str(info.value)
