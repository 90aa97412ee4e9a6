"""The core caller's promises, asserted through the real SDK against the emulator: order, limits,
concurrency, retries of only what failed, float encoding, usage and the invariants."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import modelstudio_embeddings as mse
from modelstudio_embeddings import MODELS, EmbeddingClient
from modelstudio_emulator import Emulator, Fault

MakeClient = Callable[..., EmbeddingClient]


def corpus(n: int, tag: str = "doc") -> list[str]:
    return [f"{tag} {i} mentions topic{i % 7} and item{i}" for i in range(n)]


def test_row_i_is_the_vector_of_text_i_when_the_service_shuffles(
    emulator: Emulator, make_client: MakeClient
) -> None:
    client = make_client()
    texts = corpus(30)
    expected = np.vstack([client.embed([t]) for t in texts])
    emulator.script(Fault.shuffle(), Fault.shuffle(), Fault.shuffle())
    assert np.array_equal(client.embed(texts), expected)


def test_requests_never_exceed_the_models_row_limit(
    emulator: Emulator, make_client: MakeClient
) -> None:
    for model in MODELS:
        make_client(model).embed(corpus(57))
    for record in emulator.log:
        assert record.model is not None
        assert record.rows <= MODELS[record.model].rows_per_request
    assert {r.rows for r in emulator.log if r.model == "text-embedding-v2"} == {25, 7}


def test_dimensions_are_sent_for_v3_v4_and_never_for_v1_v2(
    emulator: Emulator, make_client: MakeClient
) -> None:
    assert make_client(dimensions=512).embed(["a"]).shape == (1, 512)
    assert make_client("text-embedding-v2").embed(["a"]).shape == (1, 1536)
    sent = [(r.model, r.dimensions) for r in emulator.log]
    assert sent == [("text-embedding-v4", 512), ("text-embedding-v2", None)]


@pytest.mark.parametrize("policy", ["ignore", "reject", "honour"])
def test_float_is_always_asked_for_so_every_base64_policy_works(
    emulator: Emulator, make_client: MakeClient, policy: str
) -> None:
    emulator.configure(base64_policy=policy)
    vectors = make_client().embed(["hello world", "ni hao"])
    assert vectors.dtype == np.float32 and vectors.shape == (2, 1024)
    assert [r.encoding_format for r in emulator.log] == ["float"]


def test_empty_input_makes_no_request(emulator: Emulator, make_client: MakeClient) -> None:
    assert make_client().embed([]).shape == (0, 1024)
    assert emulator.log == []


def test_bad_rows_are_refused_before_any_request(
    emulator: Emulator, make_client: MakeClient
) -> None:
    client = make_client()
    with pytest.raises(mse.InvalidInputError, match="Row 1"):
        client.embed(["ok", None])  # type: ignore[list-item]
    with pytest.raises(mse.InputTooLongError, match="Row 0 is empty"):
        client.embed(["  "])
    with pytest.raises(mse.InputTooLongError, match=r"Row 2 (is|has at least) \d+ tokens"):
        client.embed(["a", "b", "long " * 9000])
    assert emulator.log == []


def test_only_the_failed_request_is_sent_again(emulator: Emulator, make_client: MakeClient) -> None:
    texts = corpus(40)
    emulator.script(Fault.server_error(match="doc 25 "))
    make_client().embed(texts)
    sent = [t for r in emulator.log for t in r.texts or []]
    assert len(sent) == 50, "40 rows plus the 10 of the one failed request"
    failed = [r for r in emulator.log if r.status != 200]
    assert len(failed) == 1 and failed[0].texts == texts[20:30]


def test_retry_after_is_waited_for(emulator: Emulator, make_client: MakeClient) -> None:
    emulator.script(Fault.rate_limited(retry_after=0.3))
    make_client().embed(["a"])
    first, second = emulator.log
    assert first.status == 429 and second.status == 200
    assert second.started - first.finished >= 0.3


def test_the_row_limit_the_service_announces_is_learned(
    emulator: Emulator, make_client: MakeClient
) -> None:
    emulator.configure(rows_per_request={"text-embedding-v3": 6})
    client = make_client("text-embedding-v3")
    texts = corpus(45)
    vectors = client.embed(texts)
    assert vectors.shape == (45, 1024)
    assert client.rows_per_request == 6
    emulator.reset()
    client.embed(texts)
    assert max(r.rows for r in emulator.log) == 6
    assert all(r.status == 200 for r in emulator.log), "no request is refused once learned"


def test_concurrency_is_bounded_per_client_across_sync_and_async_calls(
    emulator: Emulator, make_client: MakeClient
) -> None:
    emulator.configure(latency_ms=30)
    client = make_client(max_concurrency=4)
    results: list[np.ndarray] = []

    def sync_call() -> None:
        results.append(client.embed(corpus(80, "sync")))

    def async_calls() -> None:
        async def main() -> None:
            got = await asyncio.gather(*(client.aembed(corpus(60, f"a{k}")) for k in range(3)))
            results.extend(got)

        asyncio.run(main())

    threads = [threading.Thread(target=sync_call), threading.Thread(target=async_calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(results) == 4
    assert 1 < emulator.stats.peak_in_flight <= 4
    assert client.peak_in_flight <= 4


async def test_aembed_runs_requests_concurrently_on_asyncio(
    emulator: Emulator, make_client: MakeClient
) -> None:
    emulator.configure(latency_ms=30)
    client = make_client(max_concurrency=8)
    vectors = await client.aembed(corpus(200))
    assert vectors.shape == (200, 1024)
    assert 1 < emulator.stats.peak_in_flight <= 8


async def test_cancelling_aembed_leaves_no_request_running(
    emulator: Emulator, make_client: MakeClient
) -> None:
    emulator.configure(latency_ms=400)
    client = make_client(max_concurrency=4)
    task = asyncio.ensure_future(client.aembed(corpus(100)))
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert client._limiter.in_flight == 0
    requests_at_cancel = emulator.stats.requests
    await asyncio.sleep(0.6)
    assert emulator.stats.requests == requests_at_cancel, "nothing new was sent after cancel"


def test_a_deadline_bounds_the_whole_call(emulator: Emulator, make_client: MakeClient) -> None:
    emulator.configure(latency_ms=100)
    client = make_client(max_concurrency=1)
    with pytest.raises(mse.APITimeoutError, match="deadline") as info:
        client.embed(corpus(100), deadline=0.25)
    assert info.value.partial is not None
    assert 0 < len(info.value.partial) < 100


def test_a_slow_response_times_out_and_is_retried(
    emulator: Emulator, make_client: MakeClient
) -> None:
    emulator.script(Fault.slow(1.0))
    vectors = make_client(timeout=0.3).embed(["a"])
    assert vectors.shape == (1, 1024)


@pytest.mark.parametrize(
    "fault",
    [
        Fault.missing_vector,
        Fault.wrong_width,
        Fault.malformed_json,
        Fault.duplicate_index,
        Fault.nan,
    ],
)
def test_unusable_responses_raise_response_validation_error_with_partial(
    emulator: Emulator, make_client: MakeClient, fault: Callable[[], Fault]
) -> None:
    emulator.script(fault())
    with pytest.raises(mse.ResponseValidationError) as info:
        make_client(max_concurrency=1).embed(corpus(30))
    assert info.value.indices == tuple(range(0, 10))
    assert info.value.partial is not None


def test_usage_counts_requests_retries_tokens_and_cost(
    emulator: Emulator, make_client: MakeClient
) -> None:
    client = make_client()
    emulator.script(Fault.rate_limited())
    client.embed(corpus(25))
    usage = client.usage
    assert usage.requests == 4 and usage.retries == 1 and usage.throttled == 1
    assert usage.rows == 25
    assert usage.prompt_tokens == emulator.stats.prompt_tokens > 0
    assert usage.cost_cny == pytest.approx(usage.prompt_tokens / 1000 * 0.0005)
    assert "CNY" in str(usage) and "<table>" in usage._repr_html_()


def test_a_pickled_client_keeps_no_key(
    emulator: Emulator, make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pickle

    client = make_client(api_key="sk-very-secret-1")
    data = pickle.dumps(client)
    assert b"sk-very-secret-1" not in data
    monkeypatch.setenv("DASHSCOPE_API_KEY", emulator.api_key)
    copy = pickle.loads(data)
    assert copy.embed(["a"]).shape == (1, 1024)
    assert "sk-very-secret-1" not in repr(client)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.integers(1, 60),
    model=st.sampled_from(sorted(MODELS)),
    concurrency=st.integers(1, 6),
    shuffles=st.integers(0, 3),
    use_async=st.booleans(),
)
def test_property_row_i_is_vector_of_text_i(
    emulator: Emulator,
    make_client: MakeClient,
    rows: int,
    model: str,
    concurrency: int,
    shuffles: int,
    use_async: bool,
) -> None:
    emulator.reset()
    texts = [f"t{i} w{i * 7 % 13} z{i % 5}" for i in range(rows)]
    client = make_client(model, max_concurrency=concurrency)
    singles = np.vstack([client.embed([t]) for t in texts])
    emulator.script(*(Fault.shuffle() for _ in range(shuffles)))
    got = asyncio.run(client.aembed(texts)) if use_async else client.embed(texts)
    assert np.array_equal(got, singles)


def test_embed_lists_is_embed_as_python_floats_row_for_row(
    emulator: Emulator, make_client: MakeClient
) -> None:
    client = make_client()
    texts = corpus(35)
    emulator.script(Fault.shuffle(), Fault.shuffle())
    lists = client.embed_lists(texts)
    assert lists == client.embed(texts).tolist()
    assert all(type(value) is float for value in lists[7])


async def test_aembed_lists_matches_and_a_refused_row_still_raises_with_the_rest(
    emulator: Emulator, make_client: MakeClient
) -> None:
    client = make_client()
    texts = corpus(12)
    assert await client.aembed_lists(texts) == client.embed(texts).tolist()
    with pytest.raises(mse.ContentInspectionError) as info:
        await client.aembed_lists([*texts, "[[BLOCKED]] not this one"])
    assert tuple(info.value.indices or ()) == (12,)
    assert info.value.partial is not None and len(info.value.partial) == 12
