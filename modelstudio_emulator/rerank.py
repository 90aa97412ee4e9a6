"""Rerank in the emulator (pure): read a request of either protocol, check the contract's limits,
score, rank and build the answer. The server only routes, authenticates and injects faults.

A score is the cosine of the emulator's query and document vectors (``vectors.embed_text``) plus
a bonus for query words the document repeats, through a logistic to 0..1. It depends only on
(query, document, instruct) -- the same for every model today, and never on the other documents
of the request, so a list split over several requests scores the same. NOT the real model's
scores. ``usage.total_tokens`` is the per-request formula the service documents: query tokens
x documents + every document's tokens, each item counted at most at the model's item limit.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from .contract import RERANK_COMPATIBLE_PATH, RERANK_MODELS, RERANK_NATIVE_PATH
from .faults import CONTRACT_ERRORS, RERANK_MESSAGES
from .tokens import count_tokens
from .vectors import embed_text, terms

__all__ = [
    "LONG_ITEM_POLICIES",
    "RERANK_PATHS",
    "RerankRefusal",
    "RerankRequest",
    "answer",
    "documents_of",
    "query_of",
    "read",
    "relevance_score",
    "rerank_tokens",
    "texts_of",
    "truncate",
]

RERANK_PATHS = frozenset({RERANK_COMPATIBLE_PATH, RERANK_NATIVE_PATH})
LONG_ITEM_POLICIES = ("truncate", "reject")
"""What an item over the model's token limit gets: truncated (as the docs say) or a 400."""

_WIDTH = 1024
_SLOPE = 6.0  # logit per unit of cosine
_MIDPOINT = 0.4  # the cosine that scores 0.5 before the repetition bonus
_REPEAT_WEIGHT = 1.5  # logit per mean log(1 + count) of the query's words in the document


class RerankRefusal(Exception):
    """A request the service refuses: status, code, message and type of its error body."""

    def __init__(self, status: int, code: str, message: str, type_: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.type = type_ or code


@dataclass(frozen=True)
class RerankRequest:
    """One valid rerank request, whichever protocol it came in."""

    model: str
    query: str
    documents: tuple[str, ...]
    top_n: int | None
    return_documents: bool
    instruct: str | None
    native: bool


# --- reading a body --------------------------------------------------------------------------


def _parts(body: dict[str, Any] | None, native: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """(where query and documents are, where the parameters are) for the protocol."""
    body = body or {}
    if not native:
        return body, body
    given, parameters = body.get("input"), body.get("parameters")
    return (
        given if isinstance(given, dict) else {},
        parameters if isinstance(parameters, dict) else {},
    )


def query_of(body: dict[str, Any] | None, native: bool) -> str | None:
    """The query, if it is a string."""
    query = _parts(body, native)[0].get("query")
    return query if isinstance(query, str) else None


def documents_of(body: dict[str, Any] | None, native: bool) -> list[str] | None:
    """The documents, if they are a list of strings."""
    documents = _parts(body, native)[0].get("documents")
    if isinstance(documents, list) and all(isinstance(d, str) for d in documents):
        return documents
    return None


def texts_of(body: dict[str, Any] | None, native: bool) -> list[str] | None:
    """Query and documents: what a scripted fault's ``match`` looks in."""
    query, documents = query_of(body, native), documents_of(body, native)
    if query is None and documents is None:
        return None
    return ([query] if query is not None else []) + (documents or [])


def _bad(name: str, **fields: object) -> RerankRefusal:
    return RerankRefusal(400, "InvalidParameter", RERANK_MESSAGES[name].format(**fields))


def _contract_error(name: str) -> RerankRefusal:
    status, code, type_, message = CONTRACT_ERRORS[name]
    return RerankRefusal(status, code, message, type_)


def read(body: dict[str, Any], native: bool) -> RerankRequest:
    """The request in ``body``, or the refusal its first problem earns."""
    model = body.get("model")
    protocol = "native" if native else "compatible"
    contract = RERANK_MODELS.get(model) if isinstance(model, str) else None
    if not isinstance(model, str) or contract is None or protocol not in contract.protocols:
        raise _contract_error("model_not_found")
    query = query_of(body, native)
    if not query:
        raise _bad("query")
    given = _parts(body, native)[0].get("documents")
    if isinstance(given, list) and not 0 < len(given) <= contract.documents_per_request:
        raise _bad("documents", limit=contract.documents_per_request)
    documents = documents_of(body, native)
    if documents is None:
        raise _bad("document_type")
    for index, document in enumerate(documents):
        if not document:
            raise _bad("empty_document", index=index)
    parameters = _parts(body, native)[1]
    top_n = parameters.get("top_n")
    if top_n is not None and (isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 1):
        raise _bad("top_n")
    instruct = parameters.get("instruct")
    return RerankRequest(
        model=model,
        query=query,
        documents=tuple(documents),
        top_n=top_n,
        # Compatible mode always returns the text (its documented example); native on request.
        return_documents=bool(parameters.get("return_documents", False)) if native else True,
        instruct=instruct if isinstance(instruct, str) and instruct else None,
        native=native,
    )


# --- tokens, scores and the answer ---------------------------------------------------------------


def truncate(text: str, tokens: int) -> str:
    """The longest prefix of ``text`` within ``tokens`` emulator tokens."""
    if count_tokens(text) <= tokens:
        return text
    low, high = 0, len(text)  # count_tokens(text[:low]) <= tokens < count_tokens(text[:high])
    while high - low > 1:
        middle = (low + high) // 2
        if count_tokens(text[:middle]) <= tokens:
            low = middle
        else:
            high = middle
    return text[:low]


def rerank_tokens(query: str, documents: list[str] | tuple[str, ...], tokens_per_item: int) -> int:
    """Query tokens x documents + documents' tokens, each item capped at ``tokens_per_item``."""
    query_tokens = min(count_tokens(query), tokens_per_item)
    return sum(query_tokens + min(count_tokens(d), tokens_per_item) for d in documents)


def relevance_score(model: str, query: str, document: str, instruct: str | None = None) -> float:
    """The emulator's relevance of ``document`` to ``query``, in (0, 1)."""
    del model  # part of a score's identity; every model scores alike today
    query_vector = embed_text(query, _WIDTH, text_type="query", instruct=instruct)
    document_vector = embed_text(document, _WIDTH)
    cosine = float(np.dot(query_vector.astype(np.float64), document_vector.astype(np.float64)))
    query_terms = set(terms(query))
    repeats = 0.0
    if query_terms:
        counts = Counter(terms(document))
        repeats = sum(math.log1p(counts[t]) for t in query_terms) / len(query_terms)
    logit = _SLOPE * (cosine - _MIDPOINT) + _REPEAT_WEIGHT * repeats
    return 1.0 / (1.0 + math.exp(-logit))


def answer(
    request: RerankRequest,
    request_id: str,
    *,
    long_items: str = "truncate",
    moderation_marker: str | None = None,
) -> tuple[dict[str, Any], int, int]:
    """(body, documents, tokens) of the 200 answer, or the refusal the limits earn."""
    contract = RERANK_MODELS[request.model]
    limit = contract.tokens_per_item
    if long_items == "reject":
        if count_tokens(request.query) > limit:
            raise _bad("long_query", limit=limit)
        for index, document in enumerate(request.documents):
            if count_tokens(document) > limit:
                raise _bad("long_document", index=index, limit=limit)
    tokens = rerank_tokens(request.query, request.documents, limit)
    if tokens > contract.tokens_per_request:
        raise _bad("request_tokens", tokens=tokens, limit=contract.tokens_per_request)
    if moderation_marker and any(
        moderation_marker in text for text in (request.query, *request.documents)
    ):
        raise _contract_error("moderated")
    query = truncate(request.query, limit)
    scores = [
        relevance_score(request.model, query, truncate(document, limit), request.instruct)
        for document in request.documents
    ]
    ranked = sorted(range(len(scores)), key=lambda i: (-scores[i], i))[: request.top_n]
    results: list[dict[str, Any]] = []
    for index in ranked:
        result: dict[str, Any] = {"index": index, "relevance_score": scores[index]}
        if request.return_documents:
            result["document"] = {"text": request.documents[index]}
        results.append(result)
    usage = {"total_tokens": tokens}
    if request.native:
        body = {"output": {"results": results}, "usage": usage, "request_id": request_id}
    else:
        body = {
            "id": request_id,
            "object": "list",
            "model": request.model,
            "results": results,
            "usage": usage,
        }
    return body, len(request.documents), tokens
