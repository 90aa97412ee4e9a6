"""Fault injection: under every scripted fault, alone and mixed at random, sync and async and
concurrent, a call returns exactly one correct vector per row in order, or raises one of our
typed errors. Nothing is padded, dropped or reordered."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import modelstudio_embeddings as mse
from modelstudio_embeddings import EmbeddingClient, RateLimit, RetryPolicy
from modelstudio_emulator import Emulator, Fault
from modelstudio_emulator.vectors import embed_texts, sparse_terms

MakeClient = Callable[..., EmbeddingClient]

FAULTS: list[Callable[[], Fault]] = [
    Fault.none,
    Fault.rate_limited,
    lambda: Fault.rate_limited(retry_after=0.01),
    Fault.quota_exceeded,
    Fault.server_error,
    Fault.unavailable,
    Fault.reset,
    lambda: Fault.slow(0.05),
    lambda: Fault.html_error(status=502),
    Fault.shuffle,
    Fault.missing_vector,
    Fault.wrong_width,
    Fault.malformed_json,
    Fault.duplicate_index,
    Fault.nan,
    Fault.moderated,
    Fault.arrearage,
]


def reference(texts: list[str], dimensions: int = 256) -> np.ndarray:
    return embed_texts(texts, dimensions, model="text-embedding-v4")


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rows=st.integers(1, 80),
    script=st.lists(st.sampled_from(range(len(FAULTS))), max_size=12),
    concurrency=st.integers(1, 8),
    use_async=st.booleans(),
)
def test_any_mix_of_faults_gives_every_row_right_or_a_typed_error(
    emulator: Emulator,
    make_client: MakeClient,
    rows: int,
    script: list[int],
    concurrency: int,
    use_async: bool,
) -> None:
    emulator.reset()
    texts = [f"row {i} word{i % 11} term{i * 5 % 17}" for i in range(rows)]
    emulator.script(*(FAULTS[k]() for k in script))
    client = make_client(dimensions=256, max_concurrency=concurrency, max_retries=3)
    try:
        got = asyncio.run(client.aembed(texts)) if use_async else client.embed(texts)
    except mse.ModelStudioError as error:
        partial = error.partial
        if partial is not None and len(partial):
            expected = reference([texts[i] for i in partial.indices])
            assert np.allclose(partial.vectors, expected, atol=1e-6), "partial rows are right"
        return
    assert got.shape == (rows, 256)
    assert np.allclose(got, reference(texts), atol=1e-6)


def mixed_texts(rows: int, moderated: set[int]) -> list[str]:
    return [
        f"row {i} word{i % 11} term{i * 5 % 17}" + (" [[BLOCKED]]" if i in moderated else "")
        for i in range(rows)
    ]


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rows=st.integers(31, 130),
    script=st.lists(st.sampled_from(range(len(FAULTS))), max_size=10),
    moderated=st.sets(st.integers(0, 130), max_size=3),
    use_async=st.booleans(),
)
def test_fault_mixes_through_llama_index_keep_positions_across_chunks(
    emulator: Emulator, rows: int, script: list[int], moderated: set[int], use_async: bool
) -> None:
    from llama_index_modelstudio import ModelStudioEmbedding

    emulator.reset()
    texts = mixed_texts(rows, moderated)
    emulator.script(*(FAULTS[k]() for k in script))
    embedding = ModelStudioEmbedding(
        api_key=emulator.api_key,
        base_url=emulator.base_url,
        dimensions=256,
        embed_batch_size=30,  # more rows than one LlamaIndex chunk
        retry_policy=RetryPolicy(max_retries=3, initial_delay=0.01, max_delay=0.05),
    )
    got: list[list[float]] = []

    def run() -> None:
        batch = (
            asyncio.run(embedding.aget_text_embedding_batch(texts))
            if use_async
            else embedding.get_text_embedding_batch(texts)
        )
        got.extend(batch)

    def rows_right(indices: list[int]) -> None:
        want = reference([texts[i] for i in indices])
        if got:
            assert np.allclose(np.asarray(got), want, atol=1e-6)

    try:
        run()
    except mse.ModelStudioError as error:
        partial = error.partial
        assert all(0 <= i < rows for i in (error.indices or ()))
        if isinstance(error, mse.ContentInspectionError):
            assert set(error.indices or ()) == {i for i in moderated if i < rows} or script
        if partial is not None and len(partial):
            want = reference([texts[i] for i in partial.indices])
            assert np.allclose(partial.vectors, want, atol=1e-6), "partial rows are right"
        return
    assert not {i for i in moderated if i < rows}, "a moderated row cannot succeed"
    rows_right(list(range(rows)))


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rows=st.integers(1, 60),
    script=st.lists(st.sampled_from(range(len(FAULTS))), max_size=10),
    moderated=st.sets(st.integers(0, 60), max_size=3),
    hybrid=st.booleans(),
    use_async=st.booleans(),
)
def test_fault_mixes_through_sparse_and_hybrid_keep_positions_and_sparse_partials(
    emulator: Emulator,
    make_client: MakeClient,
    rows: int,
    script: list[int],
    moderated: set[int],
    hybrid: bool,
    use_async: bool,
) -> None:
    emulator.reset()
    texts = mixed_texts(rows, moderated)
    emulator.script(*(FAULTS[k]() for k in script))
    client = make_client(protocol="native", dimensions=256, max_retries=3)
    method = client.aembed_hybrid if hybrid else client.aembed_sparse
    sync_method = client.embed_hybrid if hybrid else client.embed_sparse

    def sparse_of(text: str) -> dict[int, float]:
        return {int(e["index"]): float(e["value"]) for e in sparse_terms(text)}  # type: ignore[arg-type]

    try:
        result = asyncio.run(method(texts)) if use_async else sync_method(texts)
    except mse.ModelStudioError as error:
        partial = error.partial
        assert all(0 <= i < rows for i in (error.indices or ()))
        if partial is not None and len(partial):
            assert partial.sparse is not None and len(partial.sparse) == len(partial)
            for i, row in zip(partial.indices, partial.sparse, strict=True):
                assert row.as_dict() == sparse_of(texts[i]), "sparse partial rows are right"
            if hybrid:
                want = reference([texts[i] for i in partial.indices])
                assert np.allclose(partial.vectors, want, atol=1e-6)
        return
    sparse = result[1] if hybrid else result
    assert [row.as_dict() for row in sparse] == [sparse_of(t) for t in texts]  # type: ignore[union-attr]


def test_soak_20000_rows_with_5_percent_random_faults(
    emulator: Emulator, make_client: MakeClient
) -> None:
    rng = random.Random(7)
    transient = [Fault.rate_limited, Fault.server_error, Fault.reset, lambda: Fault.slow(0.2)]
    script = [rng.choice(transient)() if rng.random() < 0.05 else Fault.none() for _ in range(2200)]
    emulator.script(*script)
    texts = [f"soak row {i} about lot{i % 97} and bay{i % 31}" for i in range(20_000)]
    client = make_client(
        dimensions=64,
        max_concurrency=16,
        retry_policy=RetryPolicy(max_retries=6, initial_delay=0.01, max_delay=0.1),
        # Told a limit far above this run: scripted 429s on 1% of requests, a dozen a second,
        # would otherwise be learned as the account's limit (as real ones should be), and
        # this test is about every row being right under faults, not about pacing.
        rate_limit=RateLimit(requests_per_minute=10**9, tokens_per_minute=10**12),
    )
    start = time.perf_counter()
    got = client.embed(texts)
    seconds = time.perf_counter() - start
    usage = client.usage
    print(
        f"\nsoak: {len(texts)} rows, {usage.requests} requests, {usage.retries} retries, "
        f"{usage.throttled} throttled, {seconds:.1f} s"
    )
    assert usage.retries > 50, "the faults did happen"
    assert np.allclose(got, embed_texts(texts, 64), atol=1e-6)


def test_a_429_storm_slows_the_client_down_instead_of_retrying_in_lockstep(
    emulator: Emulator, make_client: MakeClient
) -> None:
    emulator.configure(latency_ms=20, max_in_flight=4)
    client = make_client(max_concurrency=32, max_retries=8)
    texts = [f"storm {i}" for i in range(600)]
    got = client.embed(texts)
    assert got.shape == (600, 1024)
    assert client._limiter.limit < 32, "the bound came down"
    throttled = client.usage.throttled
    assert throttled < client.usage.requests / 2, "most requests went through"


def test_rate_limit_that_never_clears_raises_with_the_rows_done_so_far(
    emulator: Emulator, make_client: MakeClient
) -> None:
    texts = [f"quota {i}" for i in range(50)]
    # Requests one and two pass; every request holding rows 30-39 is refused for good.
    emulator.script(*[Fault.none()] * 2, *[Fault.rate_limited(match="quota 3")] * 20)
    client = make_client(max_concurrency=1, max_retries=2)
    try:
        client.embed(texts)
    except mse.RateLimitError as error:
        assert error.indices == tuple(range(30, 40))
        assert error.partial is not None
        assert error.partial.indices == tuple(range(30))
    else:
        raise AssertionError("expected RateLimitError")


def test_truncate_cuts_long_rows_to_the_limit_and_reports_it(
    emulator: Emulator, make_client: MakeClient
) -> None:
    long_row = "harbour " * 20_000
    client = make_client(on_too_long="truncate", tokenizer="estimate")
    got = client.embed(["short", long_row])
    assert got.shape == (2, 1024)
    assert client.usage.truncated_rows == 1
    sent = emulator.log[-1].texts or []
    assert len(sent[1]) < len(long_row) and long_row.startswith(sent[1])
