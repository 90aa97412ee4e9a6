"""Rerank request bodies and response parsing for both protocols (pure).

``compatible`` posts to ``/compatible-api/v1/reranks`` (note ``compatible-api``, not the
embeddings' ``compatible-mode``); ``native`` to DashScope's text-rerank service. Every request
asks for all of its documents' scores (no ``top_n``, no document texts back): ``top_n`` is
applied once the requests of a call are merged, and each document's score must come back
exactly once, as a finite number, or it is a ResponseValidationError.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..core.errors import ResponseValidationError

__all__ = [
    "RERANK_PATHS",
    "RerankAnswer",
    "is_rerank_answer",
    "parse_rerank",
    "rerank_body",
]

RERANK_PATHS: Mapping[str, str] = {
    "compatible": "/compatible-api/v1/reranks",
    "native": "/api/v1/services/rerank/text-rerank/text-rerank",
}
"""The path below the host of each protocol's rerank endpoint."""


@dataclass(frozen=True)
class RerankAnswer:
    """One request's scores, by position in the request's documents, and its billed tokens."""

    scores: list[float]
    total_tokens: int | None


def rerank_body(
    protocol: str, model: str, query: str, documents: Sequence[str], instruct: str | None
) -> dict[str, Any]:
    """The JSON body asking for every document's score (``instruct`` only when given)."""
    if protocol == "compatible":
        body: dict[str, Any] = {"model": model, "query": query, "documents": list(documents)}
        if instruct:
            body["instruct"] = instruct
        return body
    parameters: dict[str, Any] = {"return_documents": False}
    if instruct:
        parameters["instruct"] = instruct
    return {
        "model": model,
        "input": {"query": query, "documents": list(documents)},
        "parameters": parameters,
    }


def is_rerank_answer(payload: object) -> bool:
    """Whether a 2xx body holds results (either protocol), rather than an error envelope."""
    if not isinstance(payload, Mapping):
        return False
    output = payload.get("output")
    return "results" in payload or (isinstance(output, Mapping) and "results" in output)


def parse_rerank(payload: object, documents: int) -> RerankAnswer:
    """The scores of a request's ``documents`` documents; a ResponseValidationError (whose
    indices are positions in the request) unless each came back exactly once, finite."""
    if not isinstance(payload, Mapping):
        raise ResponseValidationError("The rerank answer is not a JSON object.")
    output = payload.get("output")
    holder = output if isinstance(output, Mapping) else payload
    results = holder.get("results")
    if not isinstance(results, list):
        raise ResponseValidationError("The rerank answer has no list of results.")
    scores: list[float | None] = [None] * documents
    twice: list[int] = []
    for result in results:
        index = result.get("index") if isinstance(result, Mapping) else None
        score = result.get("relevance_score") if isinstance(result, Mapping) else None
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < documents:
            raise ResponseValidationError(
                f"A rerank result names document {index!r}, not one of the {documents} sent."
            )
        if not isinstance(score, int | float) or not _finite(score):
            raise ResponseValidationError(
                f"Document {index}'s relevance_score is {score!r}, not a finite number.",
                indices=[index],
            )
        if scores[index] is not None:
            twice.append(index)
        scores[index] = float(score)
    if twice:
        raise ResponseValidationError(
            f"The service scored {len(twice)} document(s) more than once.", indices=twice
        )
    missing = [i for i, score in enumerate(scores) if score is None]
    if missing:
        raise ResponseValidationError(
            f"The service left {len(missing)} of {documents} documents unscored.", indices=missing
        )
    usage = payload.get("usage")
    tokens = usage.get("total_tokens") if isinstance(usage, Mapping) else None
    total = tokens if isinstance(tokens, int) and not isinstance(tokens, bool) else None
    return RerankAnswer(scores=[s for s in scores if s is not None], total_tokens=total)


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
