"""The rate governor against an emulator enforcing the account's limits (requests and tokens per
second, burst protection), through the real SDK over HTTP: told limits draw no 429s, learned
ones converge, the three 429s are told apart, processes share one file budget."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

import modelstudio_embeddings as mse
from modelstudio_embeddings import EmbeddingClient, FileBudget, RateLimit
from modelstudio_emulator import Emulator, Fault, RateLimitSpec
from modelstudio_emulator.vectors import embed_texts

# Beijing's shape at a smaller scale: 30 requests a second, and tokens that bind first at
# about four 10-row requests a second (each row about 100 tokens).
ACCOUNT = RateLimitSpec(requests_per_minute=1800, tokens_per_minute=240_000, burst=True)
TOLD = RateLimit(requests_per_minute=1800, tokens_per_minute=240_000)


def chunks(n: int, tag: str = "chunk") -> list[str]:
    words = " ".join(f"w{k % 97}" for k in range(96))
    return [f"{tag} {i} {words}" for i in range(n)]


@pytest.fixture(scope="module")
def limited() -> Iterator[Emulator]:
    with Emulator(rate_limits=ACCOUNT) as emulator:
        yield emulator


@pytest.fixture
def account(limited: Emulator) -> Emulator:
    limited.reset()
    return limited


def client_for(emulator: Emulator, **kwargs: object) -> EmbeddingClient:
    return EmbeddingClient(
        api_key=emulator.api_key, base_url=emulator.base_url, dimensions=64, **kwargs
    )  # type: ignore[arg-type]


def test_told_limits_are_paced_under_without_a_429(account: Emulator) -> None:
    texts = chunks(200)
    with client_for(account, rate_limit=TOLD) as client:
        got = client.embed(texts)
        usage = client.usage
    np.testing.assert_allclose(got, embed_texts(texts, 64), atol=1e-6)
    assert account.stats.throttled_by_kind == {}, "no 429 of any kind"
    assert usage.budget_wait_seconds > 0, "the token budget bound the call"
    assert "waiting for the rate limits" in str(usage)


async def test_told_limits_pace_the_async_path_too(account: Emulator) -> None:
    texts = chunks(150, "async")
    client = client_for(account, rate_limit=TOLD)
    got = await client.aembed(texts)
    await client.aclose()
    np.testing.assert_allclose(got, embed_texts(texts, 64), atol=1e-6)
    assert account.stats.throttled_by_kind == {}


def test_learned_limits_converge_with_few_429s(account: Emulator) -> None:
    with client_for(account, rate_limit=RateLimit()) as client:  # nothing told
        first = chunks(150, "learn")
        np.testing.assert_allclose(client.embed(first), embed_texts(first, 64), atol=1e-6)
        learning = client.usage
        assert learning.throttled > 0, "it had to learn"
        second = chunks(150, "learned")
        np.testing.assert_allclose(client.embed(second), embed_texts(second, 64), atol=1e-6)
        learned = client.usage - learning
    assert learned.throttled <= 2, f"once learned, it paces: {learned}"
    assert learned.budget_wait_seconds > 0


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault.rate_limited, mse.RequestRateLimitError),
        (Fault.quota_exceeded, mse.TokenRateLimitError),
        (Fault.burst_rate_limited, mse.BurstRateLimitError),
    ],
)
def test_each_429_is_told_apart_and_slows_then_recovers(
    emulator: Emulator,
    make_client: Callable[..., EmbeddingClient],
    fault: Callable[[], Fault],
    error: type[mse.RateLimitError],
) -> None:
    emulator.script(fault())
    with pytest.raises(error):
        make_client(max_retries=0).embed(["a"])
    emulator.script(fault(), fault(), fault())  # a burst of them, then the service recovers
    client = make_client(rate_limit=TOLD)
    assert client.embed(chunks(40)).shape == (40, 1024)
    assert client.usage.throttled == 3


def _embed_in_process(base_url: str, key: str, path: str | None, tag: str) -> int:
    budget = FileBudget(path) if path else None
    client = EmbeddingClient(
        api_key=key, base_url=base_url, dimensions=64, rate_limit=TOLD, rate_budget=budget
    )
    texts = chunks(80, tag)
    got = client.embed(texts)
    assert np.allclose(got, embed_texts(texts, 64), atol=1e-6)
    return client.usage.throttled


def test_processes_sharing_a_file_budget_stay_under_the_account_limit(
    account: Emulator, tmp_path: Path
) -> None:
    context = multiprocessing.get_context("spawn")
    path = str(tmp_path / "account.budget")
    with context.Pool(3) as pool:
        throttled = pool.starmap(
            _embed_in_process,
            [(account.base_url, account.api_key, path, f"p{i}") for i in range(3)],
        )
    assert sum(throttled) == 0
    assert account.stats.throttled_by_kind == {}
    assert Path(path).stat().st_size > 0
