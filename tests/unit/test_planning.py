"""Planning: input validation, the conservative token estimate and batches within the limits."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelstudio_embeddings import InputTooLongError, InvalidInputError
from modelstudio_embeddings.core.planning import (
    Batch,
    check_lengths,
    estimate_tokens,
    plan_batches,
    split_batch,
    validate_texts,
)
from modelstudio_emulator.tokens import count_tokens


def test_none_and_non_strings_are_named_by_index() -> None:
    with pytest.raises(InvalidInputError, match="Row 2 is NoneType") as info:
        validate_texts(["a", "b", None, 3])
    assert info.value.indices == (2, 3)


def test_token_id_lists_are_refused_before_any_request() -> None:
    with pytest.raises(InvalidInputError, match="Row 0 is list"):
        validate_texts([[1, 2, 3]])


def test_a_single_string_is_refused_with_a_hint() -> None:
    with pytest.raises(InvalidInputError, match="single str"):
        validate_texts("hello")


def test_empty_and_whitespace_rows_are_named_by_index() -> None:
    with pytest.raises(InputTooLongError, match="Row 1 is empty") as info:
        validate_texts(["fine", "", "  \n\t", "ok"])
    assert info.value.indices == (1, 2)


def test_too_long_rows_are_named_with_their_least_count_before_any_request() -> None:
    long_row = "word " * 9000
    with pytest.raises(InputTooLongError, match=r"Row 1 has at least 9000 tokens") as info:
        check_lengths(["short", long_row, "short"], 8192, "text-embedding-v4")
    assert info.value.indices == (1,)
    assert "8192" in str(info.value)


def test_rows_near_the_limit_that_surely_fit_pass() -> None:
    check_lengths(["x" * 2048], 8192, "text-embedding-v4")
    check_lengths(["一" * 512], 2048, "text-embedding-v2")


@given(st.text(min_size=1, max_size=400))
def test_estimate_is_never_below_the_emulators_count(text: str) -> None:
    assert estimate_tokens(text) >= count_tokens(text)


def test_estimate_is_roughly_right_for_prose_and_chinese() -> None:
    english = "The quick brown fox jumps over the lazy dog near the river bank."
    assert 13 <= estimate_tokens(english) <= 40
    assert estimate_tokens("通义千问向量模型") == 8


@given(st.integers(0, 500), st.integers(1, 30))
def test_batches_cover_every_row_once_in_order_within_the_limit(rows: int, limit: int) -> None:
    batches = plan_batches(rows, limit)
    covered = [i for b in batches for i in b.indices]
    assert covered == list(range(rows))
    assert all(1 <= b.rows <= limit for b in batches)


def test_split_halves_or_pieces() -> None:
    assert split_batch(Batch(10, 20)) == [Batch(10, 15), Batch(15, 20)]
    assert split_batch(Batch(0, 10), 4) == [Batch(0, 4), Batch(4, 8), Batch(8, 10)]
