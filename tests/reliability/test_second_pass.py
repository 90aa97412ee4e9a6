"""The second adversarial pass: each test here failed before its fix (issue "Reliability,
second pass"). Placement and partial results, hangs, leaks, keys, and clear errors."""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import os
import pickle
import signal
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterator

import numpy as np
import pytest

import modelstudio_embeddings as mse
from langchain_modelstudio import ModelStudioEmbeddings
from llama_index_modelstudio import ModelStudioEmbedding
from modelstudio_embeddings import EmbeddingClient, RetryPolicy
from modelstudio_embeddings.core.limiter import ConcurrencyLimiter
from modelstudio_emulator import Emulator, Fault
from tests.conftest import FAST_RETRY

MakeClient = Callable[..., EmbeddingClient]
MARK = "[[BLOCKED]]"
SECRET = "sk-second-pass-canary-77"


def corpus(n: int, tag: str = "row") -> list[str]:
    return [f"{tag} {i} speaks of topic{i % 11} and thing{i}" for i in range(n)]


def expected(emulator: Emulator, texts: list[str], **kwargs: object) -> np.ndarray:
    """The emulator's vectors for ``texts``, from a clean client, for comparison."""
    with EmbeddingClient(api_key=emulator.api_key, base_url=emulator.base_url, **kwargs) as client:  # type: ignore[arg-type]
        return client.embed(texts)


@pytest.fixture
def sigint_after() -> Iterator[Callable[[float], None]]:
    """Deliver a real SIGINT to the main thread after some seconds (as Ctrl-C does), and again
    every 0.2 s until the main thread has raised its ``KeyboardInterrupt``: a signal that lands
    just before the main thread blocks in a lock's wait is noted but does not wake it, and a
    test waiting for it would hang (seen once on a loaded machine)."""
    waiting: list[threading.Event] = []  # one per scheduled interrupt not yet raised
    stop = threading.Event()

    def interrupt(signum: int, frame: object) -> None:
        while waiting:
            waiting.pop().set()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, interrupt)
    main = threading.main_thread().ident
    assert main is not None
    senders: list[threading.Thread] = []

    def send(seconds: float, handled: threading.Event) -> None:
        if stop.wait(seconds):
            return
        while not handled.is_set() and not stop.is_set():
            signal.pthread_kill(main, signal.SIGINT)
            handled.wait(0.2)

    def schedule(seconds: float) -> None:
        handled = threading.Event()
        waiting.append(handled)
        sender = threading.Thread(target=send, args=(seconds, handled), daemon=True)
        senders.append(sender)
        sender.start()

    yield schedule
    stop.set()
    for sender in senders:
        sender.join()
    signal.signal(signal.SIGINT, previous)


# --- 1, 2: indices and partial results are the caller's -------------------------------------


@pytest.mark.parametrize("batch_size", [2040, 100])
@pytest.mark.parametrize("use_async", [False, True])
def test_llama_index_errors_name_positions_in_the_callers_list_across_chunks(
    emulator: Emulator, batch_size: int, use_async: bool
) -> None:
    texts = corpus(2100)
    texts[2050] = f"{texts[2050]} {MARK}"
    embedding = ModelStudioEmbedding(
        api_key=emulator.api_key,
        base_url=emulator.base_url,
        retry_policy=FAST_RETRY,
        embed_batch_size=batch_size,
    )
    with pytest.raises(mse.ContentInspectionError) as info:
        if use_async:
            asyncio.run(embedding.aget_text_embedding_batch(texts))
        else:
            embedding.get_text_embedding_batch(texts)
    error = info.value
    assert error.indices == (2050,)
    assert error.partial is not None
    assert error.partial.indices == tuple(i for i in range(2100) if i != 2050)
    others = [t for i, t in enumerate(texts) if i != 2050]
    np.testing.assert_array_equal(error.partial.vectors, expected(emulator, others))


def test_llama_index_partial_results_include_the_cache_hits(emulator: Emulator) -> None:
    from llama_index.core.storage.kvstore import SimpleKVStore

    texts = corpus(30)
    embedding = ModelStudioEmbedding(
        api_key=emulator.api_key,
        base_url=emulator.base_url,
        retry_policy=FAST_RETRY,
        embeddings_cache=SimpleKVStore(),
    )
    embedding.get_text_embedding_batch(texts[:10])  # rows 0..9 now come from the cache
    texts[25] = f"{texts[25]} {MARK}"
    with pytest.raises(mse.ContentInspectionError) as info:
        embedding.get_text_embedding_batch(texts)
    assert info.value.indices == (25,)
    assert info.value.partial is not None
    assert info.value.partial.indices == tuple(i for i in range(30) if i != 25)


@pytest.mark.parametrize("method", ["embed_sparse", "embed_hybrid"])
def test_sparse_and_hybrid_partial_results_hold_the_sparse_rows(
    emulator: Emulator, make_client: MakeClient, method: str
) -> None:
    texts = corpus(30)
    texts[7] = f"{texts[7]} {MARK}"
    client = make_client(protocol="native")
    with pytest.raises(mse.ContentInspectionError) as info:
        getattr(client, method)(texts)
    partial = info.value.partial
    assert partial is not None and partial.sparse is not None
    assert partial.indices == tuple(i for i in range(30) if i != 7)
    clean = make_client(protocol="native").embed_sparse([t for i, t in enumerate(texts) if i != 7])
    assert list(partial.sparse) == clean


# --- 3: Ctrl-C while waiting for a slot -----------------------------------------------------


def test_an_interrupt_while_waiting_for_a_slot_leaves_no_slot_behind(
    sigint_after: Callable[[float], None],
) -> None:
    limiter = ConcurrencyLimiter(1, adaptive=False)
    limiter.acquire()  # the one slot is taken
    for _ in range(2):
        sigint_after(0.1)
        with pytest.raises(KeyboardInterrupt):
            limiter.acquire()
    limiter.release()
    assert limiter.in_flight == 0 and not limiter._waiters
    limiter.acquire(timeout=1.0)  # granted at once: no phantom waiter took it
    assert limiter.in_flight == 1


def test_a_slot_wait_gives_up_at_its_timeout_and_leaves_nothing() -> None:
    limiter = ConcurrencyLimiter(1, adaptive=False)
    limiter.acquire()
    with pytest.raises(TimeoutError):
        limiter.acquire(timeout=0.05)
    limiter.release()
    assert limiter.in_flight == 0 and not limiter._waiters


# --- 4: after fork --------------------------------------------------------------------------


def _embed_in_child(base_url: str, key: str, texts: list[str], want: np.ndarray) -> None:
    """The child's work: the parent's client must work here (run with a 'fork' start)."""
    got = _PARENT_CLIENT.embed(texts)
    np.testing.assert_array_equal(got, want)
    _PARENT_CLIENT.close()


_PARENT_CLIENT: EmbeddingClient


@pytest.mark.timeout(60)
def test_a_forked_child_embeds_with_its_parents_client(
    emulator: Emulator, make_client: MakeClient
) -> None:
    global _PARENT_CLIENT
    texts = corpus(200)
    client = make_client()
    want = client.embed(texts)  # the parent now has a pool, threads and connections
    _PARENT_CLIENT = client
    pid = os.fork()
    if pid == 0:  # the child: exit 0 only if a multi-batch embed is right
        code = 1
        try:
            _embed_in_child(emulator.base_url, emulator.api_key, texts, want)
            code = 0
        finally:
            os._exit(code)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            break
        time.sleep(0.05)
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail("the forked child hung")
    context = multiprocessing.get_context("fork")
    with context.Pool(2) as pool:
        results = pool.starmap(
            _embed_in_child, [(emulator.base_url, emulator.api_key, texts, want)] * 2
        )
    assert results == [None, None]
    np.testing.assert_array_equal(client.embed(texts), want)  # the parent still works


# --- 5: a sync call on a loop that an aembed of the same client is using ---------------------


@pytest.mark.timeout(60)
async def test_a_sync_call_inside_a_running_loop_does_not_deadlock_with_aembed(
    emulator: Emulator, make_client: MakeClient
) -> None:
    emulator.configure(latency_ms=30)
    client = make_client(max_concurrency=2, adaptive_concurrency=False)
    background = asyncio.ensure_future(client.aembed(corpus(400)))
    while client._limiter.in_flight < 2:
        await asyncio.sleep(0.005)
    # Frameworks do this: a sync query path called from an async app, blocking the loop.
    query = client.embed(["what does row 3 say?"])
    assert query.shape == (1, 1024)
    assert (await background).shape == (400, 1024)


# --- 6, 13: a request's total time, the deadline ---------------------------------------------


@pytest.mark.parametrize("use_async", [False, True])
def test_a_trickling_body_is_bounded_by_the_request_timeout(
    emulator: Emulator, make_client: MakeClient, use_async: bool
) -> None:
    emulator.script(Fault.trickle(8.0))
    client = make_client(timeout=0.6, max_retries=0)
    started = time.monotonic()
    with pytest.raises(mse.APITimeoutError):
        if use_async:
            asyncio.run(client.aembed(["a"]))
        else:
            client.embed(["a"])
    # Not a speed check: the body takes 8 s in all, and the request must not wait for it.
    assert time.monotonic() - started < 6.0, "each read came in time, but not the whole body"
    emulator.script(Fault.trickle(8.0))
    assert make_client(timeout=0.6).embed(["a"]).shape == (1, 1024), "retried, then served"


# --- 7: an interrupted sync call stops retrying ----------------------------------------------


def test_an_interrupted_call_sends_nothing_more(
    emulator: Emulator, make_client: MakeClient, sigint_after: Callable[[float], None]
) -> None:
    emulator.script(*[Fault.server_error() for _ in range(200)])
    policy = RetryPolicy(max_retries=20, initial_delay=0.3, max_delay=0.3)
    client = make_client(retry_policy=policy, max_concurrency=4)
    sigint_after(0.2)
    with pytest.raises(KeyboardInterrupt):
        client.embed(corpus(100))
    stopped = time.time()
    time.sleep(1.0)
    late = [r for r in emulator.log if r.started > stopped + 0.05]
    assert late == [], f"{len(late)} requests went out after the interrupt"
    emulator.clear_script()
    started = time.monotonic()
    client.embed(["a"])
    assert client._limiter.in_flight == 0
    assert time.monotonic() - started < 2.5, "no slot was still held by a background retry"


# --- 8: asyncio.run leaks --------------------------------------------------------------------


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts /proc/self/fd")
def test_asyncio_run_per_call_leaks_no_loop_client_or_socket(
    emulator: Emulator, make_client: MakeClient
) -> None:
    client = make_client()
    asyncio.run(client.aembed(["warm up"]))
    gc.collect()
    before = _open_fds()
    for i in range(60):
        assert asyncio.run(client.aembed([f"call {i}"])).shape == (1, 1024)
    gc.collect()
    assert _open_fds() <= before
    assert client._executor.async_.open_loops == 0
    assert client._limiter.in_flight == 0


# --- 9, 10, 11: the key ----------------------------------------------------------------------


MISTAKES: list[dict[str, object]] = [
    {"dimensions": 7},
    {"model": "text-embedding-v9"},
    {"region": "cn-bejing"},
    {"max_concurrency": 0},
    {"max_concurrency": "many"},
    {"timeout": -1},
    {"on_too_long": "cut"},
    {"base_url": "https//dashscope-intl.aliyuncs.com"},
]


def _everything_said(error: BaseException) -> str:
    """Every text an error reporter could collect from ``error``."""
    parts = ["".join(traceback.format_exception(error)), repr(error)]
    for link in (error.__cause__, error.__context__):
        if link is not None:
            parts.append(_everything_said(link))
    for name in ("errors", "json"):
        method = getattr(error, name, None)
        if callable(method):
            parts.append(str(method()))
    return "\n".join(parts)


@pytest.mark.parametrize("mistake", MISTAKES, ids=lambda m: next(iter(m)))
@pytest.mark.parametrize("adapter", [ModelStudioEmbeddings, ModelStudioEmbedding])
def test_adapter_mistakes_are_configuration_errors_that_never_show_the_key(
    adapter: type, mistake: dict[str, object]
) -> None:
    with pytest.raises(mse.ConfigurationError) as info:
        adapter(api_key=SECRET, **mistake)
    assert isinstance(info.value, ValueError)
    said = _everything_said(info.value)
    assert SECRET not in said and SECRET[:12] not in said
    assert "ValidationError" not in said, "the framework's error is not chained"


def test_the_langchain_adapter_pickles_without_the_key_and_copies_with_it(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    embeddings = ModelStudioEmbeddings(api_key=SECRET, base_url=emulator.base_url)
    data = pickle.dumps(embeddings)
    assert SECRET.encode() not in data
    with pytest.raises(mse.ConfigurationError, match="DASHSCOPE_API_KEY"):
        pickle.loads(data)
    monkeypatch.setenv("DASHSCOPE_API_KEY", emulator.api_key)
    restored = pickle.loads(data)
    assert restored.api_key is not None
    assert restored.api_key.get_secret_value() == emulator.api_key, "the environment's key"
    assert restored.base_url == emulator.base_url
    assert len(restored.embed_documents(["a", "b"])) == 2
    import copy

    assert copy.deepcopy(embeddings).client._config.api_key == SECRET
    assert copy.copy(embeddings).client._config.api_key == SECRET


@pytest.mark.parametrize("key", ["sk-abc\ndef-123456", "sk-abc def", "sk-ключ-12345"])
def test_keys_that_cannot_travel_in_a_header_are_refused_without_showing_them(key: str) -> None:
    with pytest.raises(mse.ConfigurationError) as info:
        EmbeddingClient(api_key=key, base_url="https://dashscope.aliyuncs.com")
    said = _everything_said(info.value)
    assert key not in said and key.split()[0][:6] + key[6:9] not in said


# --- 12, 13: refused before sending; stop once a call cannot succeed --------------------------


def test_a_lone_surrogate_is_refused_before_any_request(
    emulator: Emulator, make_client: MakeClient
) -> None:
    texts = corpus(200)
    texts[190] = "broken \ud800 text"
    with pytest.raises(mse.InvalidInputError, match="Row 190") as info:
        make_client().embed(texts)
    assert info.value.indices == (190,)
    assert emulator.log == []


@pytest.mark.parametrize("use_async", [False, True])
def test_nested_vectors_are_a_response_validation_error_and_stop_the_call(
    emulator: Emulator, make_client: MakeClient, use_async: bool
) -> None:
    emulator.script(Fault.nested_vectors())
    client = make_client(max_concurrency=1)
    with pytest.raises(mse.ResponseValidationError, match="nested") as info:
        if use_async:
            asyncio.run(client.aembed(corpus(200)))
        else:
            client.embed(corpus(200))
    assert info.value.indices == tuple(range(10))
    assert len(emulator.log) == 1, "no batch was sent after the call could not succeed"


# --- 14, 15: errors that say what happened ----------------------------------------------------


@pytest.mark.parametrize("suffix", ["/v1", "/proxy/compatible-mode"])
def test_a_wrong_base_url_path_is_not_a_missing_model(
    emulator: Emulator, make_client: MakeClient, suffix: str
) -> None:
    with pytest.raises(mse.EndpointNotFoundError, match="base_url") as info:
        make_client(base_url=emulator.host_url + suffix).embed(["a"])
    assert isinstance(info.value, mse.ConfigurationError)
    assert "dashscope.aliyuncs.com" in str(info.value), "says what a right one looks like"


def test_the_full_native_endpoint_url_works_as_base_url(
    emulator: Emulator, make_client: MakeClient
) -> None:
    url = emulator.host_url + "/api/v1/services/embeddings/text-embedding/text-embedding"
    assert make_client(base_url=url, protocol="native").embed(["a"]).shape == (1, 1024)


def test_a_token_quota_429_says_it_is_the_token_limit(
    emulator: Emulator, make_client: MakeClient
) -> None:
    emulator.script(Fault.quota_exceeded())
    with pytest.raises(mse.TokenRateLimitError) as info:
        make_client(max_retries=0).embed(["a"])
    assert "tokens-per-minute" in str(info.value)


def test_a_retry_after_beyond_the_policy_says_so(
    emulator: Emulator, make_client: MakeClient
) -> None:
    emulator.script(Fault.rate_limited(retry_after=3600))
    with pytest.raises(mse.RateLimitError, match=r"3600 s \(Retry-After\)"):
        make_client().embed(["a"])
    assert len(emulator.log) == 1


def test_a_200_carrying_an_error_keeps_the_services_message(
    emulator: Emulator, make_client: MakeClient
) -> None:
    emulator.script(Fault.error_in_200())
    with pytest.raises(mse.ResponseValidationError, match="internal error has occured"):
        make_client().embed(["a"])


def test_a_204_is_described_as_a_204(emulator: Emulator, make_client: MakeClient) -> None:
    emulator.script(Fault.no_content())
    with pytest.raises(mse.ResponseValidationError, match="answered 204"):
        make_client().embed(["a"])


def test_a_host_that_does_not_resolve_is_not_retried(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Mocked: the emulator is on loopback and this machine has no DNS to fail against.
    calls: list[object] = []

    def no_such_host(*args: object, **kwargs: object) -> object:
        calls.append(args)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)
    client = EmbeddingClient(api_key="sk-x", base_url="https://dashscope-typo.aliyuncs.com")
    with pytest.raises(mse.HostNotFoundError, match="does not resolve"):
        client.embed(["a"])
    assert len(calls) == 2, "one look-up for the quotas endpoint (asked once), one request"
