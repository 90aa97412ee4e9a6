"""Shared fixtures: one emulator for the session, reset before every test that uses it, and a
client factory pointed at it with fast back-off so retry tests take milliseconds."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest

from modelstudio_embeddings import EmbeddingClient, RetryPolicy
from modelstudio_emulator import Emulator

FAST_RETRY = RetryPolicy(max_retries=4, initial_delay=0.01, max_delay=0.05)

EMULATOR_DEFAULTS: dict[str, Any] = {
    "latency_ms": 0.0,
    "max_in_flight": None,
    "requests_per_second": None,
    "base64_policy": "ignore",
    "moderation_marker": "[[BLOCKED]]",
    "too_long_marker": None,
    "rows_per_request": None,
    "rate_limits": None,
    "rerank_long_items": "truncate",
    "latency_jitter_ms": 0.0,
    "compatible_extensions": "ignore",
    "quotas": None,
    "multimodal_answer": "embeddings",
}
"""Every setting of a fresh emulator (``tests/emulator`` checks that none is missing), so no
test inherits another's."""


@pytest.fixture(autouse=True)
def _no_real_service(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    """No test but an opt-in live one may see a real key or host from the environment."""
    if request.node.get_closest_marker("live") is None:
        for name in ("DASHSCOPE_API_KEY", "DASHSCOPE_BASE_URL", "DASHSCOPE_API_BASE"):
            monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _fresh_budgets() -> None:
    """Every test starts with no learned limits: clients of one process share their budget
    by host and model, and the session's emulator is one host, so one test's scripted 429s
    would otherwise pace the next tests."""
    from modelstudio_embeddings.core.budget_state import LOCAL_BACKEND as _LOCAL
    from modelstudio_embeddings.core.quotas import forget_quotas

    _LOCAL.forget_all()
    forget_quotas()


@pytest.fixture(scope="session")
def _shared_emulator() -> Iterator[Emulator]:
    with Emulator() as emu:
        yield emu


@pytest.fixture
def emulator(_shared_emulator: Emulator) -> Emulator:
    """The session's emulator, with its log, script and settings back to the defaults, once
    the requests an earlier test abandoned (a deadline's, an interrupt's) have been answered."""
    idle_by = time.monotonic() + 10
    while _shared_emulator.stats.in_flight and time.monotonic() < idle_by:
        time.sleep(0.02)
    _shared_emulator.reset()
    _shared_emulator.configure(**EMULATOR_DEFAULTS)
    return _shared_emulator


@pytest.fixture
def make_client(emulator: Emulator) -> Iterator[Callable[..., EmbeddingClient]]:
    """Build EmbeddingClients aimed at the emulator; each is closed after the test."""
    made: list[EmbeddingClient] = []

    def factory(model: str = "text-embedding-v4", **kwargs: Any) -> EmbeddingClient:
        kwargs.setdefault("api_key", emulator.api_key)
        kwargs.setdefault("base_url", emulator.base_url)
        retries = kwargs.get("max_retries", FAST_RETRY.max_retries)
        kwargs.setdefault("retry_policy", replace(FAST_RETRY, max_retries=retries))
        client = EmbeddingClient(model, **kwargs)
        made.append(client)
        return client

    yield factory
    for client in made:
        client.close()
