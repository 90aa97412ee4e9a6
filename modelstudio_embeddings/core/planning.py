"""Texts -> requests within the model's row and token limits (pure: no I/O, no clock).

A batch is a contiguous slice of the caller's input, so results are written straight into
their rows of the output and order can never be lost.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from .errors import InputTooLongError, InvalidInputError

__all__ = [
    "PIECES",
    "Batch",
    "check_lengths",
    "estimate_tokens",
    "least_tokens",
    "plan_batches",
    "rows_over_limit",
    "split_batch",
    "too_long_error",
    "validate_texts",
]

# Runs of ASCII letters, single digits, runs of other non-space characters (CJK and the like),
# and single ASCII punctuation marks.
PIECES = re.compile(r"[A-Za-z]+|[0-9]|[^\x00-\x7f\s]+|[!-/:-@\[-`{-~]")


def estimate_tokens(text: str) -> int:
    """A conservative count of the Qwen BPE tokens in ``text`` (never below the real count
    for ordinary prose, usually above it by a third to a half).

    ASCII letter runs count one token per three letters, digits one each (Qwen splits
    numbers into digits), every other non-space character one, punctuation one each.
    """
    tokens = 0
    for piece in PIECES.findall(text):
        first = piece[0]
        if first.isascii() and first.isalpha():
            tokens += -(-len(piece) // 3)
        else:
            tokens += len(piece)
    return max(tokens, 1)


# Each run of letters and each digit is a piece of its own for the Qwen pre-tokenizer
# (``\p{L}+`` and single ``\p{N}``), and BPE never merges across pieces.
_SURE_PIECES = re.compile(r"[^\W\d_]+|\d")


def least_tokens(text: str) -> int:
    """A count the Qwen tokenizer can only exceed: one token per run of letters and per
    digit. Rows are refused before sending only when this is over the limit; rows whose
    conservative estimate is over but this is not are sent, and the service decides."""
    return len(_SURE_PIECES.findall(text))


def validate_texts(texts: object) -> list[str]:
    """The input as a list of non-blank strings, or an error naming the first bad rows."""
    if isinstance(texts, str):
        raise InvalidInputError(
            "Expected a list of strings, got a single str: wrap it in a list, "
            "or use the single-text method (embed_query)."
        )
    if not isinstance(texts, Iterable):
        raise InvalidInputError(f"Expected a list of strings, got {type(texts).__name__}.")
    rows: list[object] = list(texts)
    not_str = [i for i, t in enumerate(rows) if not isinstance(t, str)]
    if not_str:
        first = rows[not_str[0]]
        raise InvalidInputError(
            f"Row {not_str[0]} is {type(first).__name__} ({first!r:.40}), not a string; "
            f"{len(not_str)} row(s) in all are not strings.",
            indices=not_str,
        )
    texts_ok: list[str] = rows  # type: ignore[assignment]  # every row was just checked
    blank = [i for i, t in enumerate(texts_ok) if not t.strip()]
    if blank:
        raise InputTooLongError(
            f"Row {blank[0]} is empty or whitespace only; the service needs at least one "
            f"token per row ({len(blank)} such row(s)). Drop them before embedding.",
            indices=blank,
        )
    unencodable = [i for i, t in enumerate(texts_ok) if not t.isascii() and not _utf8(t)]
    if unencodable:
        row = texts_ok[unencodable[0]]
        at = next(k for k, c in enumerate(row) if not _utf8(c))
        raise InvalidInputError(
            f"Row {unencodable[0]} holds {row[at]!r} at character {at}, a lone surrogate that "
            f"UTF-8 cannot encode ({len(unencodable)} such row(s)); it usually comes from "
            "decoding bytes with errors='surrogateescape'. Decode the source as UTF-8 with "
            "errors='replace', or drop the character.",
            indices=unencodable,
        )
    return texts_ok


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def rows_over_limit(
    texts: Sequence[str], tokens_per_row: int, count: Callable[[str], int] = estimate_tokens
) -> list[tuple[int, int]]:
    """``(row, tokens)`` for every row whose count exceeds ``tokens_per_row``."""
    return [
        (i, n)
        for i, text in enumerate(texts)
        # Byte-level BPE never makes more tokens than UTF-8 bytes (at most 4 a character),
        # so short rows fit for certain and skip the count.
        if len(text) * 4 + 1 > tokens_per_row and (n := count(text)) > tokens_per_row
    ]


def too_long_error(
    too_long: list[tuple[int, int]], tokens_per_row: int, model: str, *, exact: bool
) -> InputTooLongError:
    """The error naming every row over the limit, with its size and what to do. Without
    ``exact``, the counts are ``least_tokens``: the rows are over for certain."""
    i, n = too_long[0]
    size = f"is {n} tokens" if exact else f"has at least {n} tokens (one per word and digit)"
    advice = "" if exact else " (install the 'tokenizer' extra for exact counts)"
    return InputTooLongError(
        f"Row {i} {size}, over {model}'s limit of {tokens_per_row} tokens per row; "
        f"{len(too_long)} row(s) in all are too long{advice}. Split long documents into "
        "chunks, or pass on_too_long='truncate'.",
        indices=[row for row, _ in too_long],
        model=model,
    )


def check_lengths(texts: Sequence[str], tokens_per_row: int, model: str) -> None:
    """Raise InputTooLongError naming every row that is over the model's limit for certain."""
    too_long = rows_over_limit(texts, tokens_per_row, least_tokens)
    if too_long:
        raise too_long_error(too_long, tokens_per_row, model, exact=False)


@dataclass(frozen=True)
class Batch:
    """Rows ``start`` to ``stop`` (exclusive) of the caller's input, sent as one request."""

    start: int
    stop: int

    @property
    def rows(self) -> int:
        return self.stop - self.start

    @property
    def indices(self) -> range:
        return range(self.start, self.stop)


def plan_batches(total_rows: int, rows_per_request: int) -> list[Batch]:
    """Consecutive batches of at most ``rows_per_request`` rows covering ``total_rows``."""
    if rows_per_request < 1:
        raise ValueError("rows_per_request must be at least 1")
    return [
        Batch(start, min(start + rows_per_request, total_rows))
        for start in range(0, total_rows, rows_per_request)
    ]


def split_batch(batch: Batch, rows_per_request: int | None = None) -> list[Batch]:
    """Halves of ``batch`` (to isolate a bad row), or pieces of ``rows_per_request`` rows."""
    if rows_per_request is None:
        middle = batch.start + batch.rows // 2
        return [Batch(batch.start, middle), Batch(middle, batch.stop)]
    return [
        Batch(start, min(start + rows_per_request, batch.stop))
        for start in range(batch.start, batch.stop, rows_per_request)
    ]
