"""Token counting and truncation: exact with the Qwen tokenizer, conservative without it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelstudio_embeddings import ConfigurationError
from modelstudio_embeddings.core.tokens import EstimatingCounter, LazyCounter, token_counter

qwen = token_counter("auto")
needs_qwen = pytest.mark.skipif(not qwen.exact, reason="the 'tokenizer' extra is not installed")


@needs_qwen
def test_the_qwen_count_is_exact_and_the_estimate_is_above_it() -> None:
    english = "Employees may carry over up to five days of annual leave into the next year."
    assert qwen.count(english) < EstimatingCounter().count(english)
    assert qwen.count("通义千问") >= 2


@needs_qwen
@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=300), st.integers(1, 40))
def test_qwen_truncation_fits_the_limit(text: str, limit: int) -> None:
    cut = qwen.truncate(text, limit)
    assert text.startswith(cut)
    if cut:
        assert qwen.count(cut) <= limit


@given(st.text(min_size=1, max_size=300), st.integers(1, 40))
def test_estimate_truncation_keeps_a_prefix_within_the_limit(text: str, limit: int) -> None:
    counter = EstimatingCounter()
    cut = counter.truncate(text, limit)
    assert text.startswith(cut)
    if cut.strip():
        assert counter.count(cut) <= limit


def test_unknown_tokenizer_name_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="estimate"):
        LazyCounter("sentencepiece")
