"""A rerank call's input checked, and its documents split into requests within the model's
limits (pure: no I/O, no clock).

A request holds at most ``documents_per_request`` documents and at most
``tokens_per_request`` tokens, counted as the service does: the query once per document plus
every document, each item at most ``tokens_per_item`` (the service truncates longer ones).
Requests are contiguous slices of the caller's list, packed greedily: for a fixed order that
is the fewest requests the limits allow. Scores are per (query, document) pair, so splitting
changes none of them.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..core.errors import InputTooLongError, InvalidInputError
from ..core.planning import Batch, validate_texts
from ..core.tokens import ROW_OVERHEAD

__all__ = [
    "byte_bound",
    "plan_requests",
    "too_long_error",
    "validate_documents",
    "validate_instruct",
    "validate_query",
    "validate_top_n",
]


def validate_query(query: object) -> str:
    """The query, if it is a non-blank string; else an InvalidInputError saying what it is."""
    if not isinstance(query, str):
        raise InvalidInputError(f"The query is {type(query).__name__}, not a string.")
    if not query.strip():
        raise InvalidInputError("The query is empty or whitespace only.")
    return query


def validate_documents(documents: object) -> list[str]:
    """The documents as a list of non-blank strings; else an InvalidInputError naming the
    first bad ones (``indices``: positions in the caller's list)."""
    try:
        return validate_texts(documents)
    except (InvalidInputError, InputTooLongError) as exc:
        # The same checks as for embeddings, in rerank's words and all as InvalidInputError.
        message = exc.message.replace("Row ", "Document ").replace("row(s)", "document(s)")
        message = message.replace(" before embedding", "").replace("(embed_query)", "")
        raise InvalidInputError(message, indices=exc.indices) from None


def validate_instruct(instruct: object) -> str | None:
    """The task instruction to send: None when not given or empty, else it must be a str."""
    if instruct is None or instruct == "":
        return None
    if not isinstance(instruct, str):
        raise InvalidInputError(f"instruct must be a string, got {type(instruct).__name__}.")
    return instruct


def validate_top_n(top_n: object) -> int | None:
    """``top_n`` if it is None or an int of at least 1."""
    if top_n is None:
        return None
    if isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 1:
        raise InvalidInputError(f"top_n must be None or an int of at least 1, got {top_n!r}.")
    return top_n


def byte_bound(text: str) -> int:
    """A count no tokenizer of the service can exceed: byte-level BPE never makes more tokens
    than UTF-8 bytes (plus the counter's per-item overhead). Cheap, for a first plan."""
    return len(text.encode("utf-8", "surrogatepass")) + ROW_OVERHEAD


def plan_requests(
    query_tokens: int,
    document_tokens: Sequence[int],
    *,
    documents_per_request: int,
    tokens_per_request: int,
) -> list[Batch]:
    """Contiguous requests covering every document, each within both limits, as few as the
    greedy packing allows (each count already capped at the per-item limit)."""
    batches: list[Batch] = []
    start = 0
    tokens = 0
    for i, count in enumerate(document_tokens):
        pair = query_tokens + count
        full = i - start >= documents_per_request or tokens + pair > tokens_per_request
        if full and i > start:
            batches.append(Batch(start, i))
            start, tokens = i, 0
        tokens += pair
    if start < len(document_tokens):
        batches.append(Batch(start, len(document_tokens)))
    return batches


def too_long_error(
    too_long: list[tuple[int, int]],
    query_tokens: int | None,
    tokens_per_item: int,
    model: str,
    *,
    exact: bool,
) -> InputTooLongError:
    """The error naming the query (if over) and every document over the item limit, before any
    request is sent. Without ``exact``, the counts are the least the text can have."""
    advice = "" if exact else " (install the 'tokenizer' extra for exact counts)"
    size = "tokens" if exact else "tokens at least (one per word and digit)"
    parts = []
    if query_tokens is not None:
        parts.append(f"the query is {query_tokens} {size}")
    if too_long:
        i, n = too_long[0]
        parts.append(f"document {i} is {n} {size} ({len(too_long)} document(s) in all)")
    what = "; ".join(parts)
    return InputTooLongError(
        f"{what[0].upper()}{what[1:]}: over {model}'s limit of {tokens_per_item} tokens per item"
        f"{advice}. Split long documents into chunks, or pass on_too_long='truncate'.",
        indices=[row for row, _ in too_long] if too_long else None,
        model=model,
    )
