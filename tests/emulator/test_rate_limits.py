"""The account's rate limits over real HTTP: each kind of 429 with the service's code and
message and no Retry-After, request and token budgets, burst protection, the three ways to
configure them, and reset. Each test gets its own emulator (limits are settings that outlive
``reset``), and no test asserts a duration: only counts, with bounds from measured time."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from modelstudio_emulator import CONTRACT_ERRORS, Emulator, RateLimitSpec
from modelstudio_emulator.contract import COMPATIBLE_PATH, NATIVE_PATH
from modelstudio_emulator.limits import RateLimiter, parse_rate_limits
from modelstudio_emulator.tokens import usage_tokens

V4 = "text-embedding-v4"
BIG = ["word " * 200] * 5  # about a thousand tokens
SMALL = ["tea"]


class Caller:
    """Posts embeddings requests to one emulator over one kept-alive connection."""

    def __init__(self, host_url: str, api_key: str = "sk-emulator") -> None:
        self.http = httpx.Client(
            base_url=host_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=10
        )

    def post(self, texts: list[str], *, model: str = V4, native: bool = False) -> httpx.Response:
        if native:
            return self.http.post(NATIVE_PATH, json={"model": model, "input": {"texts": texts}})
        return self.http.post(COMPATIBLE_PATH, json={"model": model, "input": texts})

    def until_refused(self, texts: list[str], most: int = 500, **kwargs: Any) -> tuple[int, Any]:
        """Post until a 429 (at most ``most`` times): the successes before it and its answer."""
        for passed in range(most):
            response = self.post(texts, **kwargs)
            if response.status_code == 429:
                return passed, response
            assert response.status_code == 200, response.text
        raise AssertionError(f"no 429 in {most} requests")


@pytest.fixture
def limited() -> Iterator[tuple[Emulator, Caller]]:
    """A fresh emulator without limits (each test sets its own) and a caller for it."""
    with Emulator() as emu:
        caller = Caller(emu.host_url, emu.api_key)
        yield emu, caller
        caller.http.close()


def _error(response: httpx.Response, native: bool) -> tuple[str, str]:
    body = response.json()
    if native:
        assert set(body) == {"code", "message", "request_id"}
        return body["code"], body["message"]
    assert body["request_id"] and body["error"]["param"] is None
    return body["error"]["code"], body["error"]["message"]


@pytest.mark.parametrize("native", [False, True], ids=["compatible", "native"])
@pytest.mark.parametrize(
    ("spec", "texts", "kind", "row"),
    [
        (RateLimitSpec(requests_per_minute=6), SMALL, "requests", "rate_limited"),
        (RateLimitSpec(tokens_per_minute=600), BIG, "tokens", "quota_exceeded"),
        (
            RateLimitSpec(tokens_per_minute=600, token_message="allocated"),
            BIG,
            "tokens",
            "allocated_quota_exceeded",
        ),
        (
            RateLimitSpec(requests_per_minute=6000, burst=True, burst_floor=0),
            SMALL,
            "burst",
            "burst_rate_limited",
        ),
    ],
)
def test_each_kind_of_429_has_the_services_code_and_message_and_no_retry_after(
    limited: tuple[Emulator, Caller],
    spec: RateLimitSpec,
    texts: list[str],
    kind: str,
    row: str,
    native: bool,
) -> None:
    emu, caller = limited
    emu.configure(rate_limits=spec)
    _, response = caller.until_refused(texts, native=native)
    status, code, type_, message = CONTRACT_ERRORS[row]
    assert response.status_code == status == 429
    assert _error(response, native) == (code, message)
    if not native:
        assert response.json()["error"]["type"] == type_
    assert "retry-after" not in response.headers
    assert emu.stats.throttled_by_kind == {kind: 1}
    assert emu.log[-1].fault == f"limit:{kind}"


def test_the_contracts_strings_for_each_limit() -> None:
    assert CONTRACT_ERRORS["rate_limited"][1:] == (
        "limit_requests",
        "limit_requests",
        "Requests rate limit exceeded, please try again later.",
    )
    assert CONTRACT_ERRORS["quota_exceeded"][1:] == (
        "insufficient_quota",
        "insufficient_quota",
        "You exceeded your current quota, please check your plan and billing details.",
    )
    assert CONTRACT_ERRORS["burst_rate_limited"][1] == "limit_burst_rate"
    assert CONTRACT_ERRORS["burst_rate_limited"][3].startswith(
        "Request rate increased too quickly."
    )


def test_a_request_budget_of_600_rpm_admits_about_ten_a_second(
    limited: tuple[Emulator, Caller],
) -> None:
    emu, caller = limited
    emu.configure(rate_limits=RateLimitSpec(requests_per_minute=600))
    started = time.monotonic()
    passed, _ = caller.until_refused(SMALL)
    elapsed = time.monotonic() - started
    assert 10 <= passed <= 10 + 10 * elapsed + 1  # a full second's bucket, plus its refill
    time.sleep(0.5)  # refills at least five
    started = time.monotonic()
    again, _ = caller.until_refused(SMALL)
    assert 4 <= again <= 10 + 10 * (time.monotonic() - started) + 1
    stats = emu.stats
    assert stats.throttled_by_kind == {"requests": 2}
    assert stats.responses_by_status == {200: passed + again, 429: 2}


def test_a_token_budget_refuses_a_big_request_while_small_ones_pass(
    limited: tuple[Emulator, Caller],
) -> None:
    emu, caller = limited
    emu.configure(rate_limits=RateLimitSpec(tokens_per_minute=30_000))  # 500 a second
    assert usage_tokens(BIG) > 500
    for _ in range(3):
        assert caller.post(BIG).status_code == 429
        assert caller.post(SMALL).status_code == 200
    stats = emu.stats
    assert stats.throttled_by_kind == {"tokens": 3}
    assert stats.tokens_accepted == stats.prompt_tokens == 3 * usage_tokens(SMALL)


def test_burst_protection_fires_on_a_jump_from_idle_to_a_flood(
    limited: tuple[Emulator, Caller],
) -> None:
    emu, caller = limited
    emu.configure(rate_limits=RateLimitSpec(requests_per_minute=600, burst=True))
    statuses = [caller.post(SMALL).status_code for _ in range(30)]
    assert statuses[0] == 200 and statuses.count(429) >= 10
    assert emu.stats.throttled_by_kind == {"burst": statuses.count(429)}


def test_burst_protection_lets_a_steady_rate_under_the_limit_pass(
    limited: tuple[Emulator, Caller],
) -> None:
    emu, caller = limited
    emu.configure(rate_limits=RateLimitSpec(requests_per_minute=6000, burst=True))
    for _ in range(15):  # at most about 10 a second, half the floor of 20 a second
        assert caller.post(SMALL).status_code == 200
        time.sleep(0.1)
    assert emu.stats.throttled_by_kind == {}


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _offer(limiter: RateLimiter, clock: FakeClock, per_second: int, seconds: int) -> list[int]:
    """Offer ``per_second`` evenly spaced requests for ``seconds``; refusals in each second."""
    refused = []
    for _ in range(seconds):
        count = 0
        for _ in range(per_second):
            clock.now += 1 / per_second
            count += limiter.admit(V4, 1) is not None
        refused.append(count)
    return refused


def test_burst_arithmetic_a_steady_rate_settles_a_rise_passes_and_a_flood_does_not() -> None:
    clock = FakeClock()
    spec = RateLimitSpec(requests_per_minute=600, burst=True)  # floor: 2 a second
    limiter = RateLimiter({V4: spec}, clock=clock)
    steady = _offer(limiter, clock, 5, 30)
    assert steady[0] > 0 and sum(steady[-10:]) == 0  # refused from idle, then accepted
    rise = _offer(limiter, clock, 8, 2)  # from 5/s to 8/s: within twice the recent rate
    assert rise == [0, 0]
    flood = _offer(limiter, clock, 40, 1)
    assert flood[0] > 0


def test_burst_arithmetic_a_ramp_of_a_quarter_a_second_passes_and_doubling_does_not() -> None:
    for growth, passes in ((1.25, True), (2.0, False)):
        clock = FakeClock()
        limiter = RateLimiter({V4: RateLimitSpec(6000, burst=True)}, clock=clock)  # 100/s
        assert _offer(limiter, clock, 15, 10) == [0] * 10  # under the floor of 20/s
        ramp = [_offer(limiter, clock, round(15 * growth**k), 1)[0] for k in range(1, 9)]
        assert (sum(ramp) == 0) == passes, (growth, ramp)  # 1.25: up to 89/s, no refusal


def test_limits_are_per_model_and_a_default_gives_each_model_its_own_buckets(
    limited: tuple[Emulator, Caller],
) -> None:
    emu, caller = limited
    emu.configure(rate_limits=RateLimitSpec(requests_per_minute=6))  # one request a model
    assert caller.post(SMALL, model="text-embedding-v4").status_code == 200
    assert caller.post(SMALL, model="text-embedding-v3").status_code == 200
    assert caller.post(SMALL, model="text-embedding-v4").status_code == 429
    emu.configure(rate_limits={"text-embedding-v3": RateLimitSpec(tokens_per_minute=600)})
    assert caller.post(BIG, model="text-embedding-v4").status_code == 200
    assert caller.post(BIG, model="text-embedding-v3").status_code == 429


def test_configured_from_the_constructor() -> None:
    limits = {"*": RateLimitSpec(tokens_per_minute=600), V4: RateLimitSpec(6)}
    with Emulator(rate_limits=limits) as emu:
        caller = Caller(emu.host_url)
        assert caller.post(BIG).status_code == 200  # v4 has its own spec: no token limit
        assert caller.post(BIG, model="text-embedding-v3").status_code == 429
        caller.http.close()


def test_configured_over_http_and_a_bad_config_is_a_400(
    limited: tuple[Emulator, Caller],
) -> None:
    emu, caller = limited
    config = {"rate_limits": {"text-embedding-v4": {"tokens_per_minute": 600}}}
    assert caller.http.post("/_emulator/config", json=config).status_code == 200
    assert emu.rate_limits == {V4: RateLimitSpec(tokens_per_minute=600)}
    assert caller.post(BIG).status_code == 429
    single = {"rate_limits": {"requests_per_minute": 1800, "burst": True}}
    assert caller.http.post("/_emulator/config", json=single).status_code == 200
    assert emu.rate_limits == {"*": RateLimitSpec(1800, burst=True)}
    for bad in (
        {"rate_limits": {"text-embedding-v9": {"requests_per_minute": 6}}},
        {"rate_limits": {"burst": True}},
        {"rate_limits": {"requests_per_minute": -1}},
        {"rate_limits": {"requests_per_minute": 6, "rpm": 6}},
    ):
        response = caller.http.post("/_emulator/config", json=bad)
        assert response.status_code == 400 and response.json()["error"]["message"]
    assert emu.rate_limits == {"*": RateLimitSpec(1800, burst=True)}  # unchanged
    assert caller.http.post("/_emulator/config", json={"rate_limits": None}).status_code == 200
    assert caller.post(BIG).status_code == 200


def test_configured_from_the_cli() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "modelstudio_emulator", "--port", "0", "--tpm", "600", "--rpm", "6"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        base_url = process.stderr.readline().split(" on ", 1)[1].split(" ", 1)[0]
        caller = Caller(base_url.removesuffix("/compatible-mode/v1"))
        refused = caller.post(BIG)
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "insufficient_quota"
        stats = caller.http.get("/_emulator/stats").json()
        assert stats["throttled_by_kind"] == {"tokens": 1} and stats["tokens_accepted"] == 0
        caller.http.close()
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0


def test_the_cli_refuses_burst_without_rpm() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "modelstudio_emulator", "--port", "0", "--burst"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode != 0 and "--rpm" in done.stderr


def test_reset_refills_the_buckets_and_keeps_the_limits(
    limited: tuple[Emulator, Caller],
) -> None:
    emu, caller = limited
    emu.configure(rate_limits=RateLimitSpec(requests_per_minute=6))  # refills in 10 s
    caller.until_refused(SMALL)
    emu.reset()
    assert emu.stats.throttled_by_kind == {}
    assert caller.post(SMALL).status_code == 200
    assert caller.post(SMALL).status_code == 429  # the limit itself stayed


def test_a_refused_request_takes_nothing_from_the_buckets() -> None:
    clock = FakeClock()
    limiter = RateLimiter({V4: RateLimitSpec(requests_per_minute=60, tokens_per_minute=600)}, clock)
    assert limiter.admit(V4, 11) == "tokens"  # more than a second's 10 tokens
    assert limiter.admit(V4, 10) is None  # the request slot and the tokens were all there
    assert limiter.admit(V4, 1) == "requests"


def test_the_older_settings_count_their_429s_by_kind(limited: tuple[Emulator, Caller]) -> None:
    emu, caller = limited
    emu.configure(max_in_flight=0)
    assert caller.post(SMALL).status_code == 429
    emu.configure(max_in_flight=None, requests_per_second=0.1)
    caller.until_refused(SMALL)
    assert emu.stats.throttled_by_kind == {"in_flight": 1, "requests": 1}


def test_parse_rate_limits_accepts_each_form() -> None:
    spec = RateLimitSpec(1800, 1_200_000, burst=True)
    assert parse_rate_limits(None) == {}
    assert parse_rate_limits(spec) == {"*": spec}
    assert parse_rate_limits({V4: spec}) == {V4: spec}
    as_json = json.loads(json.dumps({V4: {"requests_per_minute": 1800, "burst": True}}))
    assert parse_rate_limits(as_json) == {V4: RateLimitSpec(1800, burst=True)}
    with pytest.raises(TypeError):
        parse_rate_limits(1800)
