"""What a new user tripped over (issue "What a new user trips over"): adapter options,
deadlines that bound the call, no false refusals, clear configuration errors, a cheap plugin."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import modelstudio_embeddings as mse
from langchain_modelstudio import ModelStudioEmbeddings
from llama_index_modelstudio import ModelStudioEmbedding
from modelstudio_embeddings import EmbeddingClient
from modelstudio_embeddings.adapting import CLIENT_SETTINGS
from modelstudio_embeddings.core.planning import least_tokens
from modelstudio_emulator import Emulator, Fault
from modelstudio_emulator.tokens import count_tokens

MakeClient = Callable[..., EmbeddingClient]

PROSE = (
    "The harbour authority publishes its berth schedule every Monday, and shipping agents "
    "who miss the window must file a late notice with the duty officer. "
)


def corpus(n: int) -> list[str]:
    return [f"doc {i} mentions topic{i % 7} and item{i}" for i in range(n)]


# --- every core setting from both adapters --------------------------------------------------


@pytest.mark.parametrize("adapter", [ModelStudioEmbeddings, ModelStudioEmbedding])
def test_every_core_setting_is_a_setting_of_each_adapter(adapter: type) -> None:
    fields = set(adapter.model_fields)
    # LlamaIndex takes retry_policy as a constructor argument kept out of its fields.
    missing = [
        name
        for name in CLIENT_SETTINGS
        if name not in fields and not (adapter is ModelStudioEmbedding and name == "retry_policy")
    ]
    assert missing == [], f"{adapter.__name__} lacks {missing}"


NON_DEFAULTS: dict[str, object] = {
    "on_too_long": "truncate",
    "adaptive_concurrency": False,
    "tokenizer": "estimate",
    "allow_insecure_http": True,
    "max_concurrency": 3,
    "timeout": 7.0,
}


@pytest.mark.parametrize("adapter", [ModelStudioEmbeddings, ModelStudioEmbedding])
def test_the_documented_options_reach_the_core_client(emulator: Emulator, adapter: type) -> None:
    made = adapter(api_key=emulator.api_key, base_url=emulator.base_url, **NON_DEFAULTS)
    core = made.client
    for name, value in NON_DEFAULTS.items():
        assert core._settings[name] == value, name
    assert core.on_too_long == "truncate" and not core._limiter.adaptive
    long_row = "harbour " * 20_000
    vectors = made.embed_documents([long_row]) if adapter is ModelStudioEmbeddings else None
    if vectors is None:
        vectors = made.get_text_embedding_batch([long_row])
    assert len(vectors) == 1 and core.usage.truncated_rows == 1


# --- a deadline bounds the whole call ---------------------------------------------------------


@pytest.mark.parametrize("use_async", [False, True])
def test_a_deadline_abandons_requests_in_flight_and_keeps_the_rows_done(
    emulator: Emulator, make_client: MakeClient, use_async: bool
) -> None:
    emulator.script(Fault.slow(8.0, match="doc 25 "))
    client = make_client(max_concurrency=4)
    started = time.monotonic()
    with pytest.raises(mse.APITimeoutError, match="deadline") as info:
        if use_async:
            asyncio.run(client.aembed(corpus(30), deadline=2.0))
        else:
            client.embed(corpus(30), deadline=2.0)
    took = time.monotonic() - started
    # Not a speed check: the slow answer comes at 8 s, and the call must not wait for it.
    assert took < 6.0, f"the call ended {took:.1f} s after it started, not near its deadline"
    partial = info.value.partial
    assert partial is not None and partial.indices == tuple(range(20))
    assert set(info.value.indices or ()) >= set(range(20, 30))


# --- no false refusals without the tokenizer extra -----------------------------------------


def test_valid_long_rows_are_sent_not_refused_on_an_estimate(
    emulator: Emulator, make_client: MakeClient
) -> None:
    prose = (PROSE * 200)[:20_000]
    client = make_client(tokenizer="estimate")
    assert client.embed([prose, "word " * 5000]).shape == (2, 1024)


def test_a_row_the_service_finds_too_long_is_named_and_the_others_kept(
    emulator: Emulator, make_client: MakeClient
) -> None:
    # 3,000 words of eleven letters: under the limit by the sure count (3,000), over it by
    # the service's (the emulator counts 9,000), so it is sent and refused there.
    over = "abcdefghijk " * 3000
    texts = [*corpus(12), over, *corpus(7)]
    with pytest.raises(mse.InputTooLongError) as info:
        make_client(tokenizer="estimate").embed(texts)
    assert info.value.indices == (12,)
    assert info.value.partial is not None
    assert info.value.partial.indices == tuple(i for i in range(20) if i != 12)


def test_rows_surely_over_are_refused_before_sending_and_say_how_to_count_exactly(
    emulator: Emulator, make_client: MakeClient
) -> None:
    with pytest.raises(mse.InputTooLongError, match="tokenizer' extra") as info:
        make_client(tokenizer="estimate").embed(["a", "word " * 9000])
    assert info.value.indices == (1,)
    assert emulator.log == []


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_the_sure_count_is_never_above_the_emulators(text: str) -> None:
    assert least_tokens(text) <= max(count_tokens(text), 1)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_the_sure_count_is_never_above_the_qwen_tokenizers(text: str) -> None:
    from modelstudio_embeddings.core.tokens import token_counter

    counter = token_counter("qwen")  # the [dev] extra installs it; CI runs this
    assert least_tokens(text) <= counter.count(text)


# --- configuration mistakes -----------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["https//dashscope-intl.aliyuncs.com", "https:/dashscope.aliyuncs.com", "http//localhost"],
)
def test_a_malformed_base_url_is_refused_at_construction(url: str) -> None:
    with pytest.raises(mse.ConfigurationError, match="base_url"):
        EmbeddingClient(api_key="sk-x", base_url=url)


def test_a_missing_key_is_a_configuration_error_in_every_adapter() -> None:
    for build in (ModelStudioEmbeddings, ModelStudioEmbedding, EmbeddingClient):
        with pytest.raises(mse.ConfigurationError, match="DASHSCOPE_API_KEY"):
            build()


# --- the pytest plugin costs a downstream run nothing -------------------------------------


def test_loading_the_pytest_plugin_imports_neither_the_sdk_nor_numpy() -> None:
    code = (
        "import sys, modelstudio_emulator.pytest_plugin; "
        "print(sorted(m for m in ('openai', 'numpy', 'httpx2') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
