"""RerankClient against the emulator: large candidate lists in the fewest requests the limits
allow, the same scores as one request, top_n, both protocols, checks before any request,
truncation, answers that do not add up, usage, deadline, pickling."""

from __future__ import annotations

import asyncio
import math
import pickle
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest

import modelstudio_embeddings as mse
from modelstudio_embeddings import RerankClient
from modelstudio_emulator import Emulator, Fault
from modelstudio_emulator.contract import RERANK_MODELS
from modelstudio_emulator.tokens import count_tokens
from tests.conftest import FAST_RETRY

QUERY = "how do reranking models order search results"
TOPICS = [
    "Reranking models order search results by relevance to the query.",
    "The weather in Hangzhou is mild in spring.",
    "Search engines retrieve candidates, then reranking models order them.",
    "Quantum computing is a frontier of computer science.",
    "A recipe for dumplings with pork and chives.",
]
MakeReranker = Callable[..., RerankClient]


@pytest.fixture
def make_reranker(emulator: Emulator) -> Iterator[MakeReranker]:
    made: list[RerankClient] = []

    def factory(model: str = "qwen3-rerank", **kwargs: Any) -> RerankClient:
        kwargs.setdefault("api_key", emulator.api_key)
        kwargs.setdefault("base_url", emulator.rerank_base_url)
        retries = kwargs.get("max_retries", FAST_RETRY.max_retries)
        kwargs.setdefault("retry_policy", replace(FAST_RETRY, max_retries=retries))
        client = RerankClient(model, **kwargs)
        made.append(client)
        return client

    yield factory
    for client in made:
        client.close()


def candidates(n: int) -> list[str]:
    return [f"{TOPICS[i % len(TOPICS)]} Passage {i}." for i in range(n)]


def fewest_requests(model: str, query: str, documents: list[str]) -> int:
    """The fewest contiguous requests the service's limits allow, by the service's own count."""
    contract = RERANK_MODELS[model]
    q = min(count_tokens(query), contract.tokens_per_item)
    requests, rows, tokens = 1, 0, 0
    for document in documents:
        pair = q + min(count_tokens(document), contract.tokens_per_item)
        if rows == contract.documents_per_request or tokens + pair > contract.tokens_per_request:
            requests, rows, tokens = requests + 1, 0, 0
        rows, tokens = rows + 1, tokens + pair
    return requests


def test_1200_candidates_rerank_in_three_requests(
    emulator: Emulator, make_reranker: MakeReranker
) -> None:
    documents = candidates(1200)
    ranked = make_reranker().rerank(QUERY, documents)
    assert len(emulator.log) == fewest_requests("qwen3-rerank", QUERY, documents) == 3
    assert sorted(i for i, _ in ranked) == list(range(1200))
    assert sorted(r.rows for r in emulator.log) == [200, 500, 500]
    scores = [s for _, s in ranked]
    assert scores == sorted(scores, reverse=True)
    assert TOPICS[ranked[0][0] % len(TOPICS)] in (TOPICS[0], TOPICS[2])


def test_when_the_token_limit_binds_it_sets_the_number_of_requests(
    emulator: Emulator, make_reranker: MakeReranker
) -> None:
    query = "0123456789"
    documents = ["0123456789" * 8] * 1200  # 90 tokens a pair: 333 pairs per 30,000
    ranked = make_reranker("gte-rerank-v2").rerank(query, documents)
    assert len(ranked) == 1200
    assert len(emulator.log) == fewest_requests("gte-rerank-v2", query, documents) == 4
    for record in emulator.log:
        assert record.rows * 90 <= 30_000


@pytest.mark.parametrize("protocol", ["compatible", "native"])
async def test_split_results_equal_one_request_where_the_list_fits(
    emulator: Emulator, make_reranker: MakeReranker, protocol: str
) -> None:
    documents = candidates(40)
    reference = make_reranker(protocol=protocol).rerank(QUERY, documents)
    assert len(emulator.log) == 1
    split = make_reranker(protocol=protocol)
    split.spec = replace(split.spec, documents_per_request=7)  # as if the model took 7
    assert await split.arerank(QUERY, documents) == reference
    assert len(emulator.log) == 1 + math.ceil(40 / 7)


def test_top_n_applies_after_the_merge(emulator: Emulator, make_reranker: MakeReranker) -> None:
    documents = candidates(1200)
    client = make_reranker()
    everything = client.rerank(QUERY, documents)
    assert client.rerank(QUERY, documents, top_n=5) == everything[:5]
    assert client.rerank(QUERY, documents[:3], top_n=10) == client.rerank(QUERY, documents[:3])
    assert all(r.top_n is None for r in emulator.log), "each request scores every document"


def test_instruct_is_sent_and_changes_nothing_else(
    emulator: Emulator, make_reranker: MakeReranker
) -> None:
    make_reranker().rerank(QUERY, candidates(3), instruct="Find passages that answer it.")
    assert emulator.log[-1].instruct == "Find passages that answer it."


def test_usage_counts_documents_tokens_and_cost(
    emulator: Emulator, make_reranker: MakeReranker
) -> None:
    client = make_reranker("gte-rerank-v2")
    client.rerank(QUERY, candidates(10))
    usage = client.usage
    assert usage.requests == 1 and usage.rows == 10
    assert usage.prompt_tokens == emulator.stats.rerank_tokens > 0
    assert usage.cost_cny == pytest.approx(usage.prompt_tokens / 1000 * 0.0008)


def test_bad_input_is_refused_before_any_request(
    emulator: Emulator, make_reranker: MakeReranker
) -> None:
    client = make_reranker()
    with pytest.raises(mse.InvalidInputError):
        client.rerank("", ["a"])
    with pytest.raises(mse.InvalidInputError) as info:
        client.rerank(QUERY, ["a", "", "b"])
    assert info.value.indices == (1,)
    with pytest.raises(mse.InvalidInputError):
        client.rerank(QUERY, ["a"], top_n=0)
    assert emulator.log == []


def test_documents_over_the_item_limit_are_named_before_any_request(
    emulator: Emulator, make_reranker: MakeReranker
) -> None:
    long = "word " * 4500
    with pytest.raises(mse.InputTooLongError) as info:
        make_reranker().rerank(QUERY, ["short", long, "short", long])
    assert info.value.indices == (1, 3)
    assert emulator.log == []


def test_truncate_cuts_long_documents_and_scores_them(
    emulator: Emulator, make_reranker: MakeReranker
) -> None:
    emulator.configure(rerank_long_items="reject")
    try:
        client = make_reranker(on_too_long="truncate")
        ranked = client.rerank(QUERY, ["short", "word " * 4500])
    finally:
        emulator.configure(rerank_long_items="truncate")
    assert sorted(i for i, _ in ranked) == [0, 1]
    assert client.usage.truncated_rows == 1


@pytest.mark.parametrize("fault", [Fault.missing_vector, Fault.duplicate_index])
def test_an_answer_without_each_score_exactly_once_is_refused(
    emulator: Emulator, make_reranker: MakeReranker, fault: Callable[[], Fault]
) -> None:
    emulator.script(fault())
    with pytest.raises(mse.ResponseValidationError):
        make_reranker().rerank(QUERY, candidates(5))


def test_a_transient_failure_is_retried_alone(
    emulator: Emulator, make_reranker: MakeReranker
) -> None:
    emulator.script(Fault.server_error(), Fault.rate_limited())
    client = make_reranker()
    assert len(client.rerank(QUERY, candidates(1200))) == 1200
    assert client.usage.retries == 2 and client.usage.requests == 5


def test_errors_name_positions_in_the_callers_list(
    emulator: Emulator, make_reranker: MakeReranker
) -> None:
    documents = candidates(1200)
    emulator.script(*[Fault.server_error(match="Passage 1100.")] * 3)
    with pytest.raises(mse.ServiceUnavailableError) as info:
        make_reranker(max_retries=2).rerank(QUERY, documents)
    assert info.value.indices == tuple(range(1000, 1200))


def test_pickles_without_the_key_and_says_where_it_goes(
    emulator: Emulator, make_reranker: MakeReranker, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = make_reranker(api_key=emulator.api_key)
    assert emulator.api_key not in repr(client)
    data = pickle.dumps(client)
    assert emulator.api_key.encode() not in data
    with pytest.raises(mse.ConfigurationError, match="DASHSCOPE_API_KEY"):
        pickle.loads(data)
    monkeypatch.setenv("DASHSCOPE_API_KEY", emulator.api_key)
    restored = pickle.loads(data)
    assert restored.rerank(QUERY, ["a", "b"], top_n=1)[0][0] in (0, 1)
    restored.close()


async def test_context_managers_close_both_worlds(emulator: Emulator) -> None:
    with RerankClient(api_key=emulator.api_key, base_url=emulator.host_url) as client:
        client.rerank(QUERY, ["a"])
    async with RerankClient(api_key=emulator.api_key, base_url=emulator.host_url) as client:
        await asyncio.gather(client.arerank(QUERY, ["a"]), client.arerank(QUERY, ["b"]))
    assert client._executor.async_.open_loops == 0


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_moderated_candidate_is_named_alone(
    emulator: Emulator, make_reranker: MakeReranker, mode: str
) -> None:
    documents = candidates(8)
    documents[5] = f"{documents[5]} [[BLOCKED]]"
    client = make_reranker()
    with pytest.raises(mse.ContentInspectionError) as info:
        if mode == "sync":
            client.rerank(QUERY, documents)
        else:
            asyncio.run(client.arerank(QUERY, documents))
    assert info.value.indices == (5,)
    assert ".partial" not in str(info.value) and "vectors" not in str(info.value)
    assert "1 of 8 documents" in str(info.value)


def test_a_moderated_query_names_no_candidate(
    emulator: Emulator, make_reranker: MakeReranker
) -> None:
    with pytest.raises(mse.ContentInspectionError) as info:
        make_reranker().rerank(f"{QUERY} [[BLOCKED]]", candidates(8))
    assert info.value.indices is None
    assert "query" in str(info.value) and ".partial" not in str(info.value)


def test_usage_shows_the_price_that_is_published(make_reranker: MakeReranker) -> None:
    client = make_reranker()  # qwen3-rerank: only an international (USD) price
    client.rerank(QUERY, candidates(5))
    usage = client.usage
    assert usage.priced_in == "USD" and "USD" in str(usage) and "0.000000 CNY" not in str(usage)
    assert usage.cost_usd > 0
