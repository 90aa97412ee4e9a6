"""``python -m benchmarks.limits_sim``: learning the account's limits, on a fake clock.

A tuning aid for the governor's constants (``core/budget_state.py``), which ``benchmarks.limits``
measures for real at 35 s a run with run-to-run spread of ten points or more. Here N clients
with defaults (nothing told, each its own budget state, advanced by the library's own
``take``/``settle``/``throttled``) share one account: the emulator's own ``RateLimiter``
enforcing Beijing's limits (30 requests/s, 1.2M tokens/min, burst protection) on a fake clock.
A request is 10 chunks of 500 tokens, answered in 100 ± 50 ms; a client keeps up to 8 requests
in flight (halved at a 429 event, growing back by half a request an answer, at most 16) and
retries a 429 after 0.25-0.5 s, as the executor does. Each scenario runs many seeds in well
under a second and reports the median and the 10th percentile of the share of the binding limit
reached, and the median share of requests refused.

It models neither the SDK, the threads nor the CPU, so check a change with ``benchmarks.limits``.
Calibrated against it on 2026-12-07, after additive probing (this model, then the real runs):
one client, 1,200 chunks: 96%, 5.9% refused (real 97-100%, 5.5-7%); 20,000 chunks: 98%, 1.9%
(real 99%, 2.3-2.6%); four processes, 20,000 chunks: 100%, 18% (real 99%, 20%); 1,200
chunks: median 94%, tenth percentile 84% (real 80% to 96% in five runs); two processes, 1,200
chunks: median 89% (real 91% to 98% in three). Before it (multiplicative probing after ten
quiet seconds) four processes on 1,200 chunks read median 80% here, 63% to 84% for real.
"""

from __future__ import annotations

import argparse
import heapq
import random
import statistics
from dataclasses import dataclass
from typing import cast

from modelstudio_embeddings import RateLimit
from modelstudio_embeddings.core.budget_state import (
    BudgetState,
    ThrottleKind,
    new_state,
    settle,
    take,
    throttled,
)
from modelstudio_emulator.limits import ALL_MODELS, RateLimiter, RateLimitSpec

from .limits import RPM, TPM

TOKENS = 5000.0  # 10 chunks of 500 tokens a request
SCENARIOS = ((1, 120), (1, 2000), (2, 60), (4, 30), (4, 60), (4, 500), (8, 15))
"""(clients, requests each): 4 x 30 is ``benchmarks.limits``' short shared job (1,200 chunks)."""


@dataclass
class Client:
    """One client's budget state, in-flight bound and work left."""

    left: int
    state: BudgetState | None = None
    in_flight: int = 0
    bound: float = 8.0
    cut_at: float = -9.0
    done: float = 0.0


@dataclass
class Trial:
    """One run of ``clients`` clients of ``each`` requests on one account."""

    clients: int
    each: int
    seed: int

    def run(self) -> tuple[float, float]:
        """The share of the binding limit reached and the share of requests refused."""
        rnd = random.Random(self.seed)
        now = [0.0]
        spec = RateLimitSpec(requests_per_minute=RPM, tokens_per_minute=TPM, burst=True)
        service = RateLimiter({ALL_MODELS: spec}, lambda: now[0])
        clients = [Client(self.each) for _ in range(self.clients)]
        events: list[tuple[float, int, str, int]] = []
        counter = 0

        def at(when: float, what: str, index: int) -> None:
            nonlocal counter
            counter += 1
            heapq.heappush(events, (when, counter, what, index))

        for index in range(self.clients):
            at(rnd.uniform(0.0, 0.3), "send", index)
        accepted = sent = refused = 0
        while events:
            now[0], _, what, index = heapq.heappop(events)
            client, t = clients[index], now[0]
            if what == "send":
                if client.left <= 0 or client.in_flight >= int(client.bound):
                    continue
                if client.state is None:
                    client.state = new_state(RateLimit(), t)  # defaults: nothing told
                wait = take(client.state, t, 1, TOKENS)
                if wait > 0:
                    at(t + wait, "send", index)
                    continue
                client.left -= 1
                client.in_flight += 1
                sent += 1
                kind = service.admit("text-embedding-v4", int(TOKENS))
                at(t + rnd.uniform(0.05, 0.15), kind or "answer", index)
                at(t, "send", index)
                continue
            assert client.state is not None
            client.in_flight -= 1
            if what == "answer":
                accepted += 1
                settle(client.state, t, 0.0, TOKENS)
                client.bound = min(16.0, client.bound + 0.5)
                if client.left == 0 and client.in_flight == 0:
                    client.done = t
                at(t, "send", index)
                continue
            refused += 1
            refusal = cast(ThrottleKind, what)  # the emulator's refusal: requests, tokens, burst
            throttled(client.state, t, refusal, TOKENS if what == "tokens" else 1.0)
            settle(client.state, t, 0.0, 0.0)
            if t - client.cut_at > 1.0:
                client.bound, client.cut_at = max(1.0, client.bound / 2), t
            client.left += 1
            at(t + rnd.uniform(0.25, 0.5), "send", index)
        seconds = max(c.done for c in clients)
        return accepted * TOKENS / seconds / (TPM / 60), refused / sent


def summary(clients: int, each: int, seeds: int) -> str:
    runs = [Trial(clients, each, seed).run() for seed in range(seeds)]
    shares = sorted(share for share, _ in runs)
    refused = statistics.median(r for _, r in runs)
    return (
        f"| {clients} x {each} | {statistics.median(shares):.0%} | "
        f"{shares[len(shares) // 10]:.0%} | {refused:.1%} |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.limits_sim", description=__doc__)
    parser.add_argument("--seeds", type=int, default=30, help="runs of each scenario")
    args = parser.parse_args(argv)
    print("| clients x requests each | share, median | share, 10th percentile | refused |")
    print("|---|---|---|---|")
    for clients, each in SCENARIOS:
        seeds = max(2, args.seeds * 30 // max(30, each))  # fewer seeds for the long runs
        print(summary(clients, each, seeds), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
