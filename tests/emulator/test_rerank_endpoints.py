"""The emulator's rerank endpoints over real HTTP: shapes of both protocols, ranking, top_n,
scores that do not depend on the rest of the request, limits, faults, auth and the log."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from modelstudio_emulator import Emulator, Fault
from modelstudio_emulator.contract import RERANK_MODELS
from modelstudio_emulator.tokens import count_tokens

COMPATIBLE = "/compatible-api/v1/reranks"
NATIVE = "/api/v1/services/rerank/text-rerank/text-rerank"
QUERY = "how do reranking models order search results"
DOCUMENTS = [
    "Quantum computing is a frontier of computer science.",
    "Reranking models order search results by relevance to the query.",
    "The weather in Hangzhou is mild in spring.",
    "Search engines retrieve candidates, then reranking models order them.",
]


@pytest.fixture
def emu(emulator: Emulator) -> Iterator[Emulator]:
    """The shared emulator, with the rerank setting the shared fixture does not reset."""
    emulator.configure(rerank_long_items="truncate")
    yield emulator
    emulator.configure(rerank_long_items="truncate")


def body_for(path: str, model: str, query: str, documents: list[str], **extra: Any) -> Any:
    """A request body in the path's protocol; ``extra`` are the parameters."""
    if path == COMPATIBLE:
        return {"model": model, "query": query, "documents": documents, **extra}
    return {"model": model, "input": {"query": query, "documents": documents}, "parameters": extra}


def post(emu: Emulator, path: str, body: Any, key: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key or emu.api_key}"}
    return httpx.post(emu.host_url + path, json=body, headers=headers, timeout=10)


def rerank(
    emu: Emulator, path: str, model: str, query: str, documents: list[str], **extra: Any
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A rerank that must succeed: (the answer, its results)."""
    response = post(emu, path, body_for(path, model, query, documents, **extra))
    assert response.status_code == 200, response.text
    payload: dict[str, Any] = response.json()
    results: list[dict[str, Any]] = (
        payload["results"] if path == COMPATIBLE else payload["output"]["results"]
    )
    return payload, results


def scores_by_text(results: list[dict[str, Any]], documents: list[str]) -> dict[str, float]:
    return {documents[r["index"]]: r["relevance_score"] for r in results}


def expected_tokens(query: str, documents: list[str]) -> int:
    return sum(count_tokens(query) + count_tokens(d) for d in documents)


# --- shapes --------------------------------------------------------------------------------------


def test_compatible_answer_has_the_documented_shape(emu: Emulator) -> None:
    payload, results = rerank(emu, COMPATIBLE, "qwen3-rerank", QUERY, DOCUMENTS)
    assert set(payload) == {"id", "object", "model", "results", "usage"}
    assert payload["object"] == "list" and payload["model"] == "qwen3-rerank"
    assert sorted(r["index"] for r in results) == [0, 1, 2, 3]
    for result in results:
        assert set(result) == {"index", "relevance_score", "document"}
        assert result["document"] == {"text": DOCUMENTS[result["index"]]}
        assert 0.0 < result["relevance_score"] < 1.0
    assert payload["usage"] == {"total_tokens": expected_tokens(QUERY, DOCUMENTS)}


@pytest.mark.parametrize("model", ["gte-rerank-v2", "qwen3-rerank", "qwen3-vl-rerank"])
def test_native_answer_returns_documents_only_when_asked(emu: Emulator, model: str) -> None:
    payload, results = rerank(emu, NATIVE, model, QUERY, DOCUMENTS)
    assert set(payload) == {"output", "usage", "request_id"}
    assert all(set(r) == {"index", "relevance_score"} for r in results)
    assert payload["usage"] == {"total_tokens": expected_tokens(QUERY, DOCUMENTS)}
    _, with_text = rerank(emu, NATIVE, model, QUERY, DOCUMENTS, return_documents=True)
    assert all(r["document"] == {"text": DOCUMENTS[r["index"]]} for r in with_text)


def test_the_openai_sdk_can_call_the_compatible_endpoint(emu: Emulator) -> None:
    client = openai.OpenAI(api_key=emu.api_key, base_url=emu.rerank_base_url, max_retries=0)
    response = client.post(
        "/reranks",
        cast_to=httpx.Response,
        body={"model": "qwen3-rerank", "query": QUERY, "documents": DOCUMENTS, "top_n": 1},
    )
    assert [r["index"] for r in response.json()["results"]] in ([1], [3])


# --- ranking -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [COMPATIBLE, NATIVE])
def test_results_are_sorted_and_top_n_keeps_the_best(emu: Emulator, path: str) -> None:
    _, everything = rerank(emu, path, "qwen3-rerank", QUERY, DOCUMENTS)
    scores = [r["relevance_score"] for r in everything]
    assert scores == sorted(scores, reverse=True)
    assert {everything[0]["index"], everything[1]["index"]} == {1, 3}  # the on-topic ones
    _, top_two = rerank(emu, path, "qwen3-rerank", QUERY, DOCUMENTS, top_n=2)
    assert top_two == everything[:2]
    _, more_than_all = rerank(emu, path, "qwen3-rerank", QUERY, DOCUMENTS, top_n=10)
    assert more_than_all == everything


def test_a_document_repeating_the_query_words_ranks_first(emu: Emulator) -> None:
    documents = [
        "Reranking models order search results.",
        "Reranking reranking models models order order search search results results.",
        "Search results.",
    ]
    _, results = rerank(emu, COMPATIBLE, "qwen3-rerank", QUERY, documents)
    assert [r["index"] for r in results] == [1, 0, 2]


@pytest.mark.parametrize("path", [COMPATIBLE, NATIVE])
def test_splitting_a_list_over_requests_gives_the_same_scores(emu: Emulator, path: str) -> None:
    _, whole = rerank(emu, path, "qwen3-rerank", QUERY, DOCUMENTS)
    _, first = rerank(emu, path, "qwen3-rerank", QUERY, DOCUMENTS[:1])
    _, rest = rerank(emu, path, "qwen3-rerank", QUERY, DOCUMENTS[1:])
    assert scores_by_text(whole, DOCUMENTS) == {
        **scores_by_text(first, DOCUMENTS[:1]),
        **scores_by_text(rest, DOCUMENTS[1:]),
    }


def test_scores_are_deterministic_and_the_instruct_is_part_of_them(emu: Emulator) -> None:
    _, once = rerank(emu, COMPATIBLE, "qwen3-rerank", QUERY, DOCUMENTS)
    _, again = rerank(emu, COMPATIBLE, "qwen3-rerank", QUERY, DOCUMENTS)
    assert once == again
    instruct = "Retrieve semantically similar text."
    _, instructed = rerank(emu, COMPATIBLE, "qwen3-rerank", QUERY, DOCUMENTS, instruct=instruct)
    assert scores_by_text(instructed, DOCUMENTS) != scores_by_text(once, DOCUMENTS)


# --- limits --------------------------------------------------------------------------------------

_LONG_QUERY = "word " * 100  # 100 emulator tokens


@pytest.mark.parametrize(
    ("path", "model", "query", "documents", "extra", "status", "fragment"),
    [
        (COMPATIBLE, "qwen3-rerank", "q", ["d"] * 501, {}, 400, "larger than 500."),
        (NATIVE, "qwen3-vl-rerank", "q", ["d"] * 101, {}, 400, "larger than 100."),
        (NATIVE, "gte-rerank-v2", "q", [], {}, 400, "should not be empty or larger"),
        (COMPATIBLE, "qwen3-rerank", "", ["d"], {}, 400, "query is invalid"),
        (NATIVE, "gte-rerank-v2", "q", ["d", ""], {}, 400, "document index:1 is invalid"),
        (COMPATIBLE, "qwen3-rerank", "q", ["d"], {"top_n": 0}, 400, "top_n is invalid"),
        (NATIVE, "gte-rerank-v2", _LONG_QUERY, ["a b"] * 300, {}, 400, "larger than 30000"),
        (COMPATIBLE, "qwen3-rerank", _LONG_QUERY * 3, ["d"] * 500, {}, 400, "than 120000"),
        (COMPATIBLE, "qwen3-rerank-v9", "q", ["d"], {}, 404, "Model not exist"),
        (COMPATIBLE, "gte-rerank-v2", "q", ["d"], {}, 404, "Model not exist"),
        (NATIVE, "text-embedding-v4", "q", ["d"], {}, 404, "Model not exist"),
    ],
)
def test_each_limit_is_refused_in_the_protocols_envelope(
    emu: Emulator,
    path: str,
    model: str,
    query: str,
    documents: list[str],
    extra: dict[str, Any],
    status: int,
    fragment: str,
) -> None:
    response = post(emu, path, body_for(path, model, query, documents, **extra))
    assert response.status_code == status
    payload = response.json()
    error = payload["error"] if path == COMPATIBLE else payload
    assert fragment in error["message"]
    assert error["code"] == ("InvalidParameter" if status == 400 else "model_not_found")
    assert payload["request_id"]


def test_an_item_over_its_limit_is_truncated_by_default_and_refused_when_asked(
    emu: Emulator,
) -> None:
    limit = RERANK_MODELS["gte-rerank-v2"].tokens_per_item
    long_document = "word " * (limit + 50)  # a word of four letters is one token
    _, results = rerank(emu, NATIVE, "gte-rerank-v2", "word", [long_document, "other"])
    assert len(results) == 2
    assert emu.stats.rerank_tokens == (1 + limit) + (1 + count_tokens("other"))
    emu.configure(rerank_long_items="reject")
    response = post(emu, NATIVE, body_for(NATIVE, "gte-rerank-v2", "q", ["d", long_document]))
    assert response.status_code == 400
    assert "document index:1 is invalid" in response.json()["message"]
    assert f"larger than {limit} tokens" in response.json()["message"]
    query_response = post(emu, COMPATIBLE, body_for(COMPATIBLE, "qwen3-rerank", "x" * 17000, ["d"]))
    assert query_response.status_code == 400
    assert "query is invalid" in query_response.json()["error"]["message"]


# --- faults, auth and the log --------------------------------------------------------------


def test_scripted_faults_apply_and_match_a_document_or_the_query(emu: Emulator) -> None:
    emu.script(Fault.rate_limited(retry_after=1, match="Hangzhou"), Fault.server_error())
    limited = post(emu, NATIVE, body_for(NATIVE, "gte-rerank-v2", QUERY, DOCUMENTS))
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"
    assert limited.json()["code"] == "limit_requests"  # native: the flat body
    failed = post(emu, COMPATIBLE, body_for(COMPATIBLE, "qwen3-rerank", QUERY, ["x"]))
    assert failed.status_code == 500 and failed.json()["error"]["code"] == "internal_error"
    emu.script(Fault.malformed_json(match="reranking models order"))
    broken = post(emu, COMPATIBLE, body_for(COMPATIBLE, "qwen3-rerank", QUERY, ["x"]))
    assert broken.status_code == 200
    with pytest.raises(ValueError):
        broken.json()
    emu.script(Fault.reset())
    with pytest.raises(httpx.TransportError):
        post(emu, COMPATIBLE, body_for(COMPATIBLE, "qwen3-rerank", QUERY, ["x"]))
    faults = [(r.fault or "").split(":")[0] for r in emu.log]
    assert faults == ["rate_limited", "server_error", "malformed_json", "reset"]
    assert [r.rows for r in emu.log] == [4, 1, 1, 1]


def test_the_nan_fault_spoils_a_rerank_score(emu: Emulator) -> None:
    emu.script(Fault.nan())
    _, results = rerank(emu, COMPATIBLE, "qwen3-rerank", QUERY, DOCUMENTS)
    assert results[0]["relevance_score"] != results[0]["relevance_score"]  # NaN


@pytest.mark.parametrize("path", [COMPATIBLE, NATIVE])
def test_a_wrong_key_is_refused(emu: Emulator, path: str) -> None:
    response = post(emu, path, body_for(path, "qwen3-rerank", QUERY, DOCUMENTS), key="sk-wrong")
    assert response.status_code == 401
    payload = response.json()
    error = payload["error"] if path == COMPATIBLE else payload
    assert error["code"] == "invalid_api_key" and "Incorrect API key" in error["message"]


def test_the_log_and_stats_record_rerank_requests(emu: Emulator) -> None:
    rerank(emu, NATIVE, "gte-rerank-v2", QUERY, DOCUMENTS, top_n=2, instruct="Rank it.")
    record = emu.log[-1]
    assert (record.path, record.protocol, record.model) == (NATIVE, "native", "gte-rerank-v2")
    assert (record.query, record.texts, record.rows) == (QUERY, DOCUMENTS, 4)
    assert (record.top_n, record.instruct, record.status) == (2, "Rank it.", 200)
    stats = emu.stats
    assert stats.documents_reranked == 4 and stats.rows_embedded == 0
    assert stats.rerank_tokens == expected_tokens(QUERY, DOCUMENTS) and stats.prompt_tokens == 0
