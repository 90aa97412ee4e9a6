"""The call's state machine driven by hand, without HTTP (as h11's tests drive a Connection
with bytes alone): scripted outcomes go into ``drive()``, a fake clock stands in for time.
Retries, row-limit learning, halving to isolate a bad row, deadlines and stopping."""

from __future__ import annotations

import random
from collections.abc import Callable

import numpy as np
import orjson
import pytest

import modelstudio_embeddings as mse
from modelstudio_embeddings.core.execution import Outcome, Reply, Send, Sleep
from modelstudio_embeddings.core.planning import Batch
from modelstudio_embeddings.core.retry import RetryPolicy
from modelstudio_embeddings.core.usage import UsageCounter
from modelstudio_embeddings.core.vector_call import Call, EmbedRequests
from modelstudio_embeddings.embeddings.wire import PROTOCOLS, EmbedOptions

WIDTH = 4
MODEL = "text-embedding-v4"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def answer(batch: Batch) -> Reply:
    """The service's 200 for ``batch``: row i's vector is ``[i, i, i, i]``."""
    data = [{"index": k, "embedding": [float(batch.start + k)] * WIDTH} for k in range(batch.rows)]
    body = {"data": data, "usage": {"prompt_tokens": batch.rows, "total_tokens": batch.rows}}
    return Reply(200, orjson.dumps(body))


def make_call(
    rows: int,
    *,
    rows_per_request: int = 10,
    deadline: float | None = None,
    clock: Clock | None = None,
    retries: int = 3,
) -> tuple[Call, list[int], UsageCounter]:
    learned: list[int] = []
    limit = [rows_per_request]

    def learn(n: int) -> None:
        learned.append(n)
        limit[0] = min(limit[0], n)

    usage = UsageCounter(mse.MODELS[MODEL])
    requests = EmbedRequests(
        protocol=PROTOCOLS["compatible"],
        model=MODEL,
        dimensions=WIDTH,
        options=EmbedOptions(),
        base_url="https://example.invalid/compatible-mode/v1",
    )
    call = Call(
        [f"row {i}" for i in range(rows)],
        WIDTH,
        requests=requests,
        rows_per_request=lambda: limit[0],
        learn_rows_per_request=learn,
        retry=RetryPolicy(max_retries=retries, initial_delay=1.0, max_delay=4.0),
        usage=usage,
        deadline=deadline,
        timeout=30.0,
        rng=random.Random(1),
        clock=clock or Clock(),
    )
    return call, learned, usage


def run(
    call: Call,
    service: Callable[[Send], Outcome],
    clock: Clock | None = None,
) -> list[Send | Sleep]:
    """Drive one worker to the end, answering each Send with ``service``; the steps seen."""
    seen: list[Send | Sleep] = []
    steps = call.drive()
    outcome: Outcome | None = None
    try:
        step = next(steps)
        while True:
            seen.append(step)
            if isinstance(step, Sleep):
                if clock is not None:
                    clock.now += step.seconds
                outcome = None
            else:
                outcome = service(step)
            step = steps.send(outcome)  # type: ignore[arg-type]
    except StopIteration:
        return seen


def sends(steps: list[Send | Sleep]) -> list[tuple[int, int]]:
    return [(s.batch.start, s.batch.stop) for s in steps if isinstance(s, Send)]


def test_batches_cover_the_rows_in_order_and_each_row_lands_in_its_place() -> None:
    call, _, usage = make_call(25)
    steps = run(call, lambda step: answer(step.batch))
    assert sends(steps) == [(0, 10), (10, 20), (20, 25)]
    assert all(s.request.kind == "embed" for s in steps if isinstance(s, Send))
    assert steps[0].request.body["input"] == [f"row {i}" for i in range(10)]  # type: ignore[union-attr,index]
    result = call.result()
    np.testing.assert_array_equal(result[:, 0], np.arange(25, dtype=np.float32))
    assert usage.snapshot().rows == 25 and usage.snapshot().prompt_tokens == 25


def test_a_transient_error_is_retried_alone_after_a_back_off() -> None:
    failures = iter([mse.ServiceUnavailableError("down"), mse.RateLimitError("slow down")])

    def service(step: Send) -> Outcome:
        if step.batch.start == 10:
            return next(failures, None) or answer(step.batch)
        return answer(step.batch)

    call, _, usage = make_call(30)
    steps = run(call, service)
    assert sends(steps) == [(0, 10), (10, 20), (10, 20), (10, 20), (20, 30)]
    sleeps = [s.seconds for s in steps if isinstance(s, Sleep)]
    assert len(sleeps) == 2 and 0.5 <= sleeps[0] <= 1.0 and 1.0 <= sleeps[1] <= 2.0
    assert usage.snapshot().retries == 2
    assert call.result().shape == (30, WIDTH)


def test_retries_run_out_and_the_error_carries_the_rows_done() -> None:
    def service(step: Send) -> Outcome:
        return mse.ServiceUnavailableError("down") if step.batch.start == 10 else answer(step.batch)

    call, _, _ = make_call(30, retries=2)
    run(call, service)
    with pytest.raises(mse.ServiceUnavailableError, match="Gave up after 2 retries") as info:
        call.result()
    assert info.value.partial is not None and info.value.partial.indices == tuple(range(10))


def test_a_final_error_is_not_retried() -> None:
    call, _, _ = make_call(10)
    steps = run(call, lambda step: mse.AuthenticationError("bad key"))
    assert sends(steps) == [(0, 10)] and not any(isinstance(s, Sleep) for s in steps)
    with pytest.raises(mse.AuthenticationError):
        call.result()


def test_an_announced_row_limit_is_learned_and_the_batch_re_split() -> None:
    def service(step: Send) -> Outcome:
        if step.batch.rows > 4:
            return mse.RowLimitError("at most 4", limit=4)
        return answer(step.batch)

    call, learned, _ = make_call(10)
    steps = run(call, service)
    assert learned == [4]
    assert sends(steps) == [(0, 10), (0, 4), (4, 8), (8, 10)]
    assert call.result().shape == (10, WIDTH)


def test_halving_isolates_a_moderated_row_and_keeps_every_other() -> None:
    def service(step: Send) -> Outcome:
        if step.batch.start <= 7 < step.batch.stop:
            return mse.ContentInspectionError("inappropriate content")
        return answer(step.batch)

    call, _, _ = make_call(10)
    steps = run(call, service)
    assert sends(steps) == [(0, 10), (0, 5), (5, 10), (5, 7), (7, 10), (7, 8), (8, 10)]
    with pytest.raises(mse.ContentInspectionError) as info:
        call.result()
    assert info.value.indices == (7,)
    assert info.value.partial is not None
    assert info.value.partial.indices == (0, 1, 2, 3, 4, 5, 6, 8, 9)
    np.testing.assert_array_equal(info.value.partial.vectors[:, 0], [0, 1, 2, 3, 4, 5, 6, 8, 9])


def test_a_back_off_that_would_cross_the_deadline_ends_the_call() -> None:
    clock = Clock()
    call, _, _ = make_call(20, deadline=clock.now + 0.5, clock=clock)

    def service(step: Send) -> Outcome:
        if step.batch.start == 10:
            return mse.ServiceUnavailableError("down")
        return answer(step.batch)

    steps = run(call, service, clock)
    assert sends(steps) == [(0, 10), (10, 20)], "no sleep of 0.5 s or more fits"
    with pytest.raises(mse.ServiceUnavailableError) as info:
        call.result()
    assert info.value.partial is not None and info.value.partial.indices == tuple(range(10))


def test_past_the_deadline_no_request_goes_out_and_the_timeout_error_says_so() -> None:
    clock = Clock()
    call, _, _ = make_call(30, deadline=clock.now + 5.0, clock=clock)

    def service(step: Send) -> Outcome:
        assert call.request_timeout() == pytest.approx(min(30.0, 105.0 - clock.now))
        clock.now += 3.0  # each request takes 3 s of the 5
        return answer(step.batch)

    steps = run(call, service, clock)
    assert sends(steps) == [(0, 10), (10, 20)]
    with pytest.raises(mse.APITimeoutError, match="deadline") as info:
        call.result()
    assert info.value.partial is not None and info.value.partial.indices == tuple(range(20))


def test_a_stopped_call_sends_nothing_more_not_even_a_retry() -> None:
    call, _, _ = make_call(30)

    def service(step: Send) -> Outcome:
        call.stop()  # an interrupt while the first request was in flight
        return mse.ServiceUnavailableError("down")

    steps = run(call, service)
    assert sends(steps) == [(0, 10)] and not any(isinstance(s, Sleep) for s in steps)
    with pytest.raises(mse.ModelStudioError, match="stopped"):
        call.result()


def test_an_unusable_answer_is_a_response_validation_error_for_its_rows() -> None:
    def service(step: Send) -> Outcome:
        if step.batch.start == 10:
            return Reply(200, b'{"data": [{"index": 0, "embedding": [[1.0]]}]}')
        return answer(step.batch)

    call, _, _ = make_call(30)
    run(call, service)
    with pytest.raises(mse.ResponseValidationError) as info:
        call.result()
    assert info.value.indices == tuple(range(10, 20))
