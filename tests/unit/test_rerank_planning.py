"""Rerank's pure rooms: the model table pinned to the emulator's contract, input checks,
request planning within documents and tokens per request, and reading answers."""

from __future__ import annotations

import math

import pytest

import modelstudio_embeddings as mse
from modelstudio_embeddings.core.planning import Batch
from modelstudio_embeddings.rerank.call import rank
from modelstudio_embeddings.rerank.models import RERANK_MODELS
from modelstudio_embeddings.rerank.planning import (
    plan_requests,
    validate_documents,
    validate_query,
    validate_top_n,
)
from modelstudio_embeddings.rerank.settings import RerankSettings
from modelstudio_embeddings.rerank.wire import parse_rerank, rerank_body
from modelstudio_emulator.contract import RERANK_MODELS as CONTRACT


def test_the_rerank_table_agrees_with_the_emulators_contract() -> None:
    assert set(RERANK_MODELS) == set(CONTRACT)
    for name, spec in RERANK_MODELS.items():
        contract = CONTRACT[name]
        assert spec.documents_per_request == contract.documents_per_request, name
        assert spec.tokens_per_item == contract.tokens_per_item, name
        assert spec.tokens_per_request == contract.tokens_per_request, name
        assert set(spec.protocols) == set(contract.protocols), name


def test_each_model_defaults_to_a_protocol_that_serves_it() -> None:
    assert RerankSettings("qwen3-rerank").protocol == "compatible"
    assert RerankSettings("gte-rerank-v2").protocol == "native"
    assert RerankSettings("qwen3-vl-rerank").protocol == "native"
    with pytest.raises(mse.ConfigurationError, match="native"):
        RerankSettings("gte-rerank-v2", protocol="compatible")
    with pytest.raises(mse.ConfigurationError, match="qwen3-rerank"):
        RerankSettings("qwen4-rerank")


def test_a_list_within_the_limits_is_one_request() -> None:
    assert plan_requests(5, [10] * 500, documents_per_request=500, tokens_per_request=10_000) == [
        Batch(0, 500)
    ]


def test_documents_per_request_bounds_each_request() -> None:
    batches = plan_requests(1, [1] * 1200, documents_per_request=500, tokens_per_request=10**6)
    assert batches == [Batch(0, 500), Batch(500, 1000), Batch(1000, 1200)]


def test_the_query_counts_once_per_document_against_tokens_per_request() -> None:
    # 30 + 70 = 100 tokens a pair: 300 pairs fill 30,000 exactly.
    batches = plan_requests(30, [70] * 1200, documents_per_request=500, tokens_per_request=30_000)
    assert [b.rows for b in batches] == [300, 300, 300, 300]


def test_requests_are_contiguous_and_cover_every_document_once() -> None:
    tokens = [(i * 37) % 900 + 1 for i in range(2000)]
    batches = plan_requests(50, tokens, documents_per_request=100, tokens_per_request=20_000)
    assert batches[0].start == 0 and batches[-1].stop == len(tokens)
    for before, after in zip(batches, batches[1:], strict=False):
        assert before.stop == after.start
    for batch in batches:
        assert batch.rows <= 100
        assert sum(50 + t for t in tokens[batch.start : batch.stop]) <= 20_000


def test_bad_input_is_named_before_any_request() -> None:
    with pytest.raises(mse.InvalidInputError):
        validate_query("  ")
    with pytest.raises(mse.InvalidInputError):
        validate_query(None)
    with pytest.raises(mse.InvalidInputError) as info:
        validate_documents(["a", "", "b", None])
    assert info.value.indices == (3,)
    with pytest.raises(mse.InvalidInputError) as info:
        validate_documents(["a", " ", "b"])
    assert info.value.indices == (1,)
    for bad in (0, -1, True, 1.5):
        with pytest.raises(mse.InvalidInputError):
            validate_top_n(bad)
    assert validate_top_n(None) is None and validate_top_n(3) == 3


def test_bodies_ask_for_every_score_in_each_protocol() -> None:
    assert rerank_body("compatible", "qwen3-rerank", "q", ["a"], None) == {
        "model": "qwen3-rerank",
        "query": "q",
        "documents": ["a"],
    }
    native = rerank_body("native", "gte-rerank-v2", "q", ["a"], "Find answers")
    assert native["input"] == {"query": "q", "documents": ["a"]}
    assert native["parameters"] == {"return_documents": False, "instruct": "Find answers"}


def test_scores_are_placed_by_index_whatever_the_order() -> None:
    payload = {
        "output": {
            "results": [{"index": 1, "relevance_score": 0.9}, {"index": 0, "relevance_score": 0.2}]
        },
        "usage": {"total_tokens": 12},
    }
    answer = parse_rerank(payload, 2)
    assert answer.scores == [0.2, 0.9] and answer.total_tokens == 12


@pytest.mark.parametrize(
    "results",
    [
        [{"index": 0, "relevance_score": 0.5}],
        [{"index": 0, "relevance_score": 0.5}, {"index": 0, "relevance_score": 0.4}],
        [{"index": 0, "relevance_score": 0.5}, {"index": 2, "relevance_score": 0.4}],
        [{"index": 0, "relevance_score": 0.5}, {"index": 1, "relevance_score": math.nan}],
        [{"index": 0, "relevance_score": 0.5}, {"index": True, "relevance_score": 0.1}],
    ],
    ids=["missing", "twice", "out-of-range", "nan", "bool-index"],
)
def test_each_document_must_be_scored_exactly_once(results: list[dict[str, object]]) -> None:
    with pytest.raises(mse.ResponseValidationError):
        parse_rerank({"results": results}, 2)


def test_ranking_is_by_score_then_index() -> None:
    assert rank([0.5, 0.9, 0.5, 0.1]) == [(1, 0.9), (0, 0.5), (2, 0.5), (3, 0.1)]
    assert rank([0.5, 0.9, 0.5, 0.1], 2) == [(1, 0.9), (0, 0.5)]
