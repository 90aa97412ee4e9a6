"""The pacing state driven with a fake clock: it never grants beyond the budget, ramps up slowly
enough for burst protection, cuts on each kind of 429 once per event and recovers, learns a
limit it was not told (and probes it so that clients unaware of each other converge), and
shares one state through a file."""

from __future__ import annotations

import multiprocessing
from collections import deque
from pathlib import Path

import pytest

from modelstudio_embeddings import FileBudget, RateLimit
from modelstudio_embeddings.core.budget_state import (
    BUCKET_SECONDS,
    BURST_CUT,
    CUT,
    LEARNED_MARGIN,
    PROBE_AFTER,
    PROBE_REQUESTS,
    RAMP_SECONDS,
    RECOVERY,
    UTILIZATION,
    BudgetState,
    new_state,
    settle,
    take,
    throttled,
)
from modelstudio_embeddings.core.budget_state import LocalBackend as _LocalBackend
from modelstudio_embeddings.core.execution import Receipt
from modelstudio_embeddings.core.governor import Governor
from modelstudio_emulator.limits import ALL_MODELS, RateLimiter, RateLimitSpec

BEIJING = RateLimit(1800, 1_200_000)  # 30 requests and 20,000 tokens a second


def run(
    state: BudgetState, seconds: float, tokens_each: float, start: float = 0.0
) -> list[tuple[float, float]]:
    """Ask for requests back to back for ``seconds`` of fake time; the (time, tokens) granted."""
    now = start
    granted: list[tuple[float, float]] = []
    while now < start + seconds:
        wait = take(state, now, 1, tokens_each)
        if wait == 0:
            granted.append((now, tokens_each))
        else:
            now += wait
    return granted


def most_in_any_second(granted: list[tuple[float, float]], index: int) -> float:
    window: deque[tuple[float, float]] = deque()
    total = best = 0.0
    for item in granted:
        window.append(item)
        total += item[index]
        while window[0][0] <= item[0] - 1.0:
            total -= window.popleft()[index]
        best = max(best, total)
    return best


def test_told_token_limit_is_never_exceeded_and_nearly_reached() -> None:
    state = new_state(BEIJING, 0.0)
    granted = run(state, 60.0, 5000.0)  # 500-token chunks, 10 a request: tokens bind
    per_second = 20_000 * UTILIZATION
    assert most_in_any_second(granted, 1) <= per_second + per_second * BUCKET_SECONDS
    assert sum(t for _, t in granted) / 60 == pytest.approx(per_second, rel=0.02)


def test_told_request_limit_ramps_up_without_tripping_burst_protection() -> None:
    state = new_state(BEIJING, 0.0)
    granted = [(t, 1.0) for t, _ in run(state, 40.0, 10.0)]  # tiny requests: requests bind
    counts = [sum(1 for t, _ in granted if s <= t < s + 1) for s in range(40)]
    for s in range(40):  # the emulator's rule: no second above its floor and twice the 5 before
        before = counts[max(0, s - 5) : s]
        assert counts[s] <= max(6, 2 * sum(before) / 5), (s, counts)
    assert counts[-1] == pytest.approx(30 * UTILIZATION, abs=1.5), "then reaches the limit"


def test_slow_start_passes_the_emulators_burst_protection_and_reaches_the_limit_soon() -> None:
    """Against the emulator's own rule, checked at each request on a sliding second: no 429
    while the schedule climbs, the full rate by ``RAMP_SECONDS``."""
    clock = [0.0]
    service = RateLimiter(
        {ALL_MODELS: RateLimitSpec(requests_per_minute=1800, burst=True)}, lambda: clock[0]
    )
    state = new_state(BEIJING, 0.0)
    granted = run(state, 30.0, 10.0)
    refused = []
    for at, _ in granted:
        clock[0] = at
        if service.admit("text-embedding-v4", 10) is not None:
            refused.append(at)
    assert refused == []
    after = [t for t, _ in granted if t >= RAMP_SECONDS]
    assert len(after) / (30.0 - RAMP_SECONDS) == pytest.approx(30 * UTILIZATION, rel=0.03)


def test_each_kind_of_429_cuts_its_own_budget_once_per_event_and_recovers() -> None:
    state = new_state(BEIJING, 0.0)
    run(state, 20.0, 100.0)
    assert state.requests.level == 1.0 and state.tokens.level == 1.0
    throttled(state, 20.0, "tokens")
    assert state.tokens.level == pytest.approx(CUT) and state.requests.level == 1.0
    throttled(state, 20.3, "tokens")  # the same burst of 429s: no second cut
    assert state.tokens.level == pytest.approx(CUT + RECOVERY * 0.3)
    throttled(state, 20.5, "requests")
    assert state.requests.level == pytest.approx(CUT)
    throttled(state, 22.0, "burst")
    assert state.requests.level == pytest.approx((CUT + RECOVERY * 1.5) * BURST_CUT)
    run(state, 0.65 / RECOVERY, 100.0, start=22.0)  # from the burst's cut to the full level
    assert state.requests.level == 1.0 and state.tokens.level == 1.0, "recovered"


def test_a_limit_not_told_is_learned_from_the_rate_that_drew_the_429() -> None:
    state = new_state(RateLimit(), -10.0)
    assert take(state, -10.0, 1, 1e9) == 0.0, "nothing is paced before the first 429"
    now = 1.0
    for _ in range(50):  # 50 requests of 1,000 tokens accepted in the second before the 429
        take(state, now, 1, 1000)
        settle(state, now, 0, 1000)
        now += 0.02
    throttled(state, now, "tokens")
    assert state.tokens.limit == pytest.approx(50_000 * LEARNED_MARGIN, rel=0.05)
    assert state.requests.limit is None, "requests were not the limit"
    assert take(state, now + 0.01, 1, 40_000) > 0, "now paced"


def learned(answers: int, tokens_each: float = 5000.0) -> BudgetState:
    """A default budget that met its first 429 after ``answers`` accepted in the second before."""
    state = new_state(RateLimit(), -10.0)
    for index in range(answers):
        settle(state, 0.1 + index * 0.8 / answers, 0, tokens_each)
    assert throttled(state, 1.0, "tokens") is not None
    return state


def test_a_learned_limit_is_probed_by_the_same_step_whatever_the_share() -> None:
    """Additive increase: a client paced at one request a second and one at four grow by the
    same tokens a second (a request's worth times ``PROBE_REQUESTS``), so their shares draw
    together, and the small one, left alone by a neighbour that finished, takes its share
    within seconds (multiplicative probing kept the ratio: 4:1 forever)."""
    small, big = learned(1), learned(4)
    assert big.tokens.limit == pytest.approx(4 * small.tokens.limit)  # type: ignore[operator]
    before = (small.tokens.limit, big.tokens.limit)
    seconds = 10.0
    for state in (small, big):
        run(state, 3.0 + PROBE_AFTER + seconds, 5000.0, start=1.0)
    step = PROBE_REQUESTS * 5000 * (seconds + 3.0)
    assert small.tokens.limit - before[0] == pytest.approx(step, rel=0.15)  # type: ignore[operator]
    assert big.tokens.limit - before[1] == pytest.approx(step, rel=0.15)  # type: ignore[operator]


def test_a_slow_pace_is_read_over_a_few_answers_not_one_second() -> None:
    """A client paced at under one answer a second often sees none in a given second: a 429
    then re-learns from its last few answers instead of cutting the pace as if nothing had
    been accepted."""
    state = learned(1)  # 4,250 tokens a second: a 5,000-token answer every 1.2 s
    for at in (2.0, 3.2, 4.4):
        settle(state, at, 0, 5000)
    change = throttled(state, 5.9, "tokens")  # 1.5 s after the last answer
    assert change is not None and change.startswith("re-learned"), change


def test_a_re_learned_limit_keeps_at_least_a_told_limits_cut_of_its_pace() -> None:
    """Few answers in a window are a coarse reading: one 429 cuts a learned pace no deeper than
    ``CUT``, as it would a told one, however few answers the window held."""
    state = learned(4)  # 17,000 tokens a second
    pace = state.tokens.rate()
    settle(state, 1.5, 0, 5000)  # one answer in the second before the next 429
    assert throttled(state, 2.2, "tokens") is not None
    assert state.tokens.limit == pytest.approx(pace * CUT)


def test_a_flood_from_idle_does_not_learn_the_services_reserve_as_its_limit() -> None:
    """The service's bucket holds a second's worth, so a flood from idle is accepted at twice
    the limit for a moment; the answers that come back after the first 429 raise the lesson to
    the rate accepted since the flood began less that reserve, never above the limit."""
    clock = [0.0]
    service = RateLimiter(
        {ALL_MODELS: RateLimitSpec(tokens_per_minute=1_200_000)}, lambda: clock[0]
    )
    state = new_state(RateLimit(), 0.0)
    answers: list[tuple[float, str | None]] = []  # (when it comes back, the refusal or None)
    now = 0.0
    while now < 3.0:
        while answers and answers[0][0] <= now:
            at, refusal = answers.pop(0)
            if refusal is None:
                settle(state, at, 0, 5000)
            else:
                throttled(state, at, "tokens")
                settle(state, at, 0, 0)
        if len(answers) < 8 and take(state, now, 1, 5000) == 0:
            clock[0] = now
            answers.append((now + 0.1, service.admit("text-embedding-v4", 5000)))
        now = round(now + 0.01, 2)
    assert state.tokens.limit is not None
    assert 0.6 * 20_000 <= state.tokens.limit <= 20_000


@pytest.mark.parametrize(("clients", "each"), [(2, 60), (4, 30)])
def test_default_clients_sharing_an_account_converge_on_a_short_job(
    clients: int, each: int
) -> None:
    """Clients that do not know of each other (defaults, each its own budget) on one account,
    a job of about 35 s at the limit between them, on a fake clock (``benchmarks.limits_sim``:
    these functions against the emulator's rate limiter): over ten seeds they reach 85% of the
    limit together in the median, and no seed leaves one of them crawling long after the
    others (before additive probing: two clients 51% in the median)."""
    from benchmarks.limits_sim import Trial

    shares = sorted(Trial(clients, each, seed).run()[0] for seed in range(10))
    assert shares[5] >= 0.85 and shares[0] >= 0.65, shares


def test_settling_gives_back_what_an_answer_did_not_use() -> None:
    state = new_state(RateLimit(None, 1_200_000), 0.0)
    assert take(state, 0.0, 1, 10_000) == 0.0
    assert take(state, 0.0, 1, 10_000) > 0, "the estimate took the bucket"
    settle(state, 0.0, -9_000, 1_000)  # it used 1,000
    assert take(state, 0.0, 1, 5_000) == 0.0


def test_a_refused_request_gives_nothing_back() -> None:
    """A 429 says the service's budget is spent: its estimate stays taken, so a client whose
    requests are refused cannot send again at once (with a refund, four processes each told the
    whole limit kept six times the limit in the air and requests failed after every retry)."""
    now = [0.0]
    governor = Governor(_LocalBackend(lambda: now[0]), "group", RateLimit(None, 1_200_000))
    granted = Receipt()
    assert governor._try(granted, 10, 4_000) == 0.0  # 4,010 of the 9,700 the bucket holds
    refused = Receipt()
    assert governor._try(refused, 10, 4_000) == 0.0
    refused.used, refused.refused = 0, True  # what the executor records for a 429
    governor.throttled("tokens", refused)
    governor.settle(refused, 4_000, 10)
    assert governor._try(Receipt(), 10, 4_000) > 0, "nothing was given back"
    now[0] = 0.3  # 0.3 s at 70% of 19,400 tokens a second: about 4,100 tokens
    assert governor._try(Receipt(), 10, 4_000) == 0.0, "the budget refills at the cut pace"


def _share(path: str, seconds: float, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    """One of several processes asking a shared file budget for 1,000-token requests."""
    import time

    backend = FileBudget(path).open()
    limit = RateLimit(None, 60_000)  # 1,000 tokens a second
    granted = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        wait = backend.take("group", limit, 1, 100)
        if wait == 0:
            granted += 100
        else:
            time.sleep(min(wait, 0.05))
    out.put(granted)


def test_processes_naming_one_file_share_one_budget(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    out: multiprocessing.Queue = context.Queue()  # type: ignore[type-arg]
    path = str(tmp_path / "account.budget")
    workers = [context.Process(target=_share, args=(path, 2.0, out)) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    total = sum(out.get(timeout=5) for _ in workers)
    # Two seconds at 1,000 tokens a second (97%), plus the half-second bucket it starts with:
    # three processes share it, not three budgets (which would be three times as much).
    assert total <= 1000 * UTILIZATION * (2.0 + BUCKET_SECONDS) + 300
    assert total >= 1000
