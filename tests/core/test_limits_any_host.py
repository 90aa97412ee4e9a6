"""The account's limits on a host the client does not recognise (a gateway, a proxy, the
emulator on loopback), with default settings: the client learns from the first 429s and
completes where a sequential client would; ``rate_limit=False`` turns pacing off; a lone 429
storm teaches nothing; cancelled waiters hold nothing back; the host's quotas endpoint is
used where it answers. Real SDK over real HTTP to the emulator; nothing here is timed."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import numpy as np
import pytest

from langchain_modelstudio import ModelStudioEmbeddings
from llama_index_modelstudio import ModelStudioEmbedding
from modelstudio_embeddings import EmbeddingClient, RateLimit, RateLimitError, RetryPolicy
from modelstudio_embeddings.core.quotas import parse_quotas
from modelstudio_emulator import Emulator, Fault, RateLimitSpec
from modelstudio_emulator.vectors import embed_texts

# Beijing's shape at a smaller scale: tokens bind first, at about four 10-row requests a
# second (rows of about 100 tokens), far under what a default client sends at once.
ACCOUNT = RateLimitSpec(requests_per_minute=1800, tokens_per_minute=240_000, burst=True)
GATEWAY = RateLimitSpec(requests_per_minute=1800, tokens_per_minute=240_000, plain_429=True)
FAST = RetryPolicy(initial_delay=0.05, max_delay=0.5)


def chunks(n: int, tag: str) -> list[str]:
    words = " ".join(f"w{k % 97}" for k in range(96))
    return [f"{tag} {i} {words}" for i in range(n)]


@pytest.fixture(scope="module")
def limited() -> Iterator[Emulator]:
    with Emulator(rate_limits=ACCOUNT, latency_ms=20) as emulator:
        yield emulator


@pytest.fixture
def account(limited: Emulator) -> Emulator:
    limited.configure(rate_limits=ACCOUNT, quotas=None)
    limited.reset()
    return limited


def _core(emulator: Emulator, **kwargs: object) -> EmbeddingClient:
    return EmbeddingClient(
        api_key=emulator.api_key, base_url=emulator.base_url, dimensions=64, **kwargs
    )  # type: ignore[arg-type]


def _embed(entry: str, emulator: Emulator, texts: list[str], **kwargs: object) -> np.ndarray:
    """``texts`` through one entry point, built with defaults (and ``kwargs``)."""
    common = {"api_key": emulator.api_key, "base_url": emulator.base_url, "dimensions": 64}
    if entry == "core sync":
        with _core(emulator, **kwargs) as client:
            return client.embed(texts)
    if entry == "core async":

        async def run() -> np.ndarray:
            async with _core(emulator, **kwargs) as client:
                return await client.aembed(texts)

        return asyncio.run(run())
    if entry == "LangChain sync":
        return np.array(ModelStudioEmbeddings(**common, **kwargs).embed_documents(texts))
    assert entry == "LlamaIndex async"
    embedder = ModelStudioEmbedding(**common, **kwargs)
    return np.array(asyncio.run(embedder.aget_text_embedding_batch(texts)))


@pytest.mark.parametrize("entry", ["core sync", "core async", "LangChain sync", "LlamaIndex async"])
def test_a_default_client_on_an_unrecognised_host_completes_under_the_limits(
    account: Emulator, entry: str
) -> None:
    texts = chunks(200, entry.replace(" ", "-"))
    got = _embed(entry, account, texts)
    np.testing.assert_allclose(got, embed_texts(texts, 64), atol=1e-6)
    stats = account.stats
    assert stats.throttled_by_kind, "the account's limits refused the first flood"
    refused = stats.responses_by_status.get("429", 0)
    assert refused < stats.requests / 2, f"it learned the limit: {refused} of {stats.requests}"


def test_a_gateways_plain_429_teaches_the_same_and_few_retries_are_enough(
    account: Emulator,
) -> None:
    """Behind a gateway that names no limit, with max_retries=1: a request refused while the
    client's other requests are accepted waits its turn instead of using up its retries."""
    account.configure(rate_limits=GATEWAY)
    texts = chunks(200, "gateway")
    with _core(account, max_retries=1) as client:
        got = client.embed(texts)
        usage = client.usage
    np.testing.assert_allclose(got, embed_texts(texts, 64), atol=1e-6)
    assert usage.throttled > 2, "refused more often than max_retries allows one request"
    assert usage.learning_since is not None
    assert usage.paced_limits is not None and usage.paced_limits.requests_per_minute
    assert "limits learned from 429s" in str(usage)


def test_a_429_storm_with_nothing_accepted_lately_teaches_no_limit(account: Emulator) -> None:
    account.configure(rate_limits=None)
    with _core(account, retry_policy=FAST) as client:
        account.script(*[Fault.rate_limited() for _ in range(4)])
        client.embed(["after the storm"])
        assert client.usage.paced_limits == RateLimit(), "nothing learned from the storm"
        before = client.usage
        client.embed([f"next {i}" for i in range(40)])
        after = client.usage - before
    assert after.budget_wait_seconds == 0, "the next call is not held back"
    assert after.throttled == 0


def test_rate_limit_false_turns_pacing_off(account: Emulator) -> None:
    with _core(account, rate_limit=False, max_retries=0) as client:
        assert client.rate_limit is None
        with pytest.raises(RateLimitError) as caught:
            client.embed(chunks(200, "unpaced"))
        assert client.usage.budget_wait_seconds == 0
        assert client.usage.paced_limits is None
    assert caught.value.partial is not None


def test_a_host_that_refuses_everything_fails_saying_what_rate_was_reached(
    account: Emulator,
) -> None:
    account.configure(rate_limits=None)
    account.script(*[Fault.rate_limited() for _ in range(30)])
    policy = RetryPolicy(max_retries=2, initial_delay=0.05)
    with _core(account, retry_policy=policy) as client, pytest.raises(RateLimitError) as caught:
        client.embed(["refused"])
    text = str(caught.value)
    assert "accepted none of this client's requests" in text
    assert "rate_limit=RateLimit(" in text and "rate_budget" in text
    assert account.api_key not in text


async def test_cancelled_waiters_hold_nothing_back(account: Emulator) -> None:
    """Told two requests a second, thirty calls wait for the budget and are cancelled; the
    next one-request call goes out (it used to send nothing for minutes)."""
    account.configure(rate_limits=None)
    client = _core(account, rate_limit=RateLimit(requests_per_minute=120))
    waiting = [asyncio.ensure_future(client.aembed([f"waiter {i}"])) for i in range(30)]
    await asyncio.sleep(1.0)
    for task in waiting:
        task.cancel()
    await asyncio.gather(*waiting, return_exceptions=True)
    sent_before = account.stats.requests
    got = await asyncio.wait_for(client.aembed(["the next call"]), timeout=30)
    await client.aclose()
    np.testing.assert_allclose(got, embed_texts(["the next call"], 64), atol=1e-6)
    assert account.stats.requests == sent_before + 1


def test_limits_told_by_the_hosts_quotas_endpoint_are_used(account: Emulator) -> None:
    account.configure(
        quotas={"text-embedding-v4": {"requests_per_minute": 1800, "tokens_per_minute": 240_000}}
    )
    texts = chunks(120, "quotas")
    with _core(account) as client:
        assert client.rate_limit == RateLimit(), "not asked before the first request"
        got = client.embed(texts)
        assert client.rate_limit == RateLimit(1800, 240_000)
    np.testing.assert_allclose(got, embed_texts(texts, 64), atol=1e-6)
    assert account.stats.throttled_by_kind == {}, "paced as told: no 429"


@pytest.mark.parametrize("quotas", [None, "error"])
def test_a_host_without_a_quotas_endpoint_changes_nothing(
    account: Emulator, quotas: str | None
) -> None:
    account.configure(rate_limits=None, quotas=quotas)
    with _core(account) as client:
        client.embed(["no quotas here"])
        assert client.rate_limit == RateLimit()


def test_a_told_limit_is_not_replaced_by_the_hosts_quotas(account: Emulator) -> None:
    account.configure(
        rate_limits=None,
        quotas={"text-embedding-v4": {"requests_per_minute": 60, "tokens_per_minute": 999}},
    )
    with _core(account, rate_limit=RateLimit(requests_per_minute=6000)) as client:
        client.embed(["told"])
        assert client.rate_limit == RateLimit(6000, 999), "the told field wins, the rest is told"


@pytest.mark.parametrize(
    "payload",
    [
        {"data": [{"model": "text-embedding-v4", "rpm": 1800, "tpm": 1_200_000}]},
        {"quotas": [{"model_name": "text-embedding-v4", "requests_per_minute": 1800,
                     "tokens_per_minute": 1_200_000}]},
        {"output": {"models": [{"modelName": "text-embedding-v4",
                                "limits": [{"type": "RPM", "value": 1800},
                                           {"type": "TPM", "value": 1_200_000}]}]}},
        {"text-embedding-v4": {"rps": 30, "tpm": 1_200_000}},
        {"data": [{"model": "text-embedding-v3", "rpm": 1}, {"model": "text-embedding-v4",
                   "quota": {"rpm": 1800, "tpm": 1_200_000}}]},
    ],
)  # fmt: skip
def test_the_quotas_answer_is_read_in_every_plausible_shape(payload: object) -> None:
    assert parse_quotas(payload, "text-embedding-v4") == RateLimit(1800, 1_200_000)


@pytest.mark.parametrize("payload", [{}, [], {"data": [{"model": "other", "rpm": 5}]}, "x"])
def test_a_quotas_answer_that_names_no_limit_for_the_model_is_none(payload: object) -> None:
    assert parse_quotas(payload, "text-embedding-v4") is None
