"""``python -m benchmarks``: ours and the peers side by side on one emulator, one process run.

The emulator runs in a child process so its CPU is not counted as the client's. Each row of
the table is one client on one scenario, the median of several passes, each with fresh
clients: texts per second, requests and 429s (the emulator's count), retries (ours only: peers
do not report them), client CPU seconds per 1,000 rows, peak Python memory (tracemalloc, one
more pass) and whether every row equals the reference vector of its text.
"""

from __future__ import annotations

import argparse
import os
import sys

from modelstudio_embeddings.embeddings.client import DEFAULT_MAX_CONCURRENCY
from modelstudio_emulator.vectors import embed_texts

from .contenders import CEILING, Contender, ceiling, contenders, warm_up
from .harness import (
    DIMENSIONS,
    MODEL,
    EmulatorProcess,
    Row,
    Scenario,
    ideal_texts_per_s,
    median_pass,
    memory_scenario,
    timed_pass,
    traced_peak_mib,
)
from .report import table, targets
from .texts import make_texts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smaller run, for a smoke test")
    parser.add_argument("--only-ours", action="store_true", help="skip the peers")
    parser.add_argument("--passes", type=int, default=None, help="timed passes a row (3)")
    parser.add_argument("--rows", type=int, default=None, help="texts a scenario (2,000)")
    parser.add_argument("--memory-rows", type=int, default=None)
    args = parser.parse_args(argv)
    rows = args.rows or (200 if args.quick else 2000)
    passes = args.passes or (1 if args.quick else 3)
    scenarios = [
        Scenario("1: 50 ms, no limits", rows, 50.0),
        Scenario("2: 50 ms, 32 in flight, 100 req/s", rows, 50.0, 32, 100.0),
        Scenario("3: 0 ms (client CPU)", rows, 0.0),
    ]
    emulator = EmulatorProcess()
    try:
        texts = make_texts(rows, seed=1)
        reference = embed_texts(texts, DIMENSIONS, model=MODEL)
        warm_up(emulator, texts)
        results: list[Row] = []
        for scenario in scenarios:
            timed: dict[str, list[Row]] = {}
            last: dict[str, Contender] = {}
            for _ in range(passes):
                entrants = contenders(emulator.base_url)
                if scenario.requests_per_second is None:  # a raw client does not retry a 429
                    entrants[CEILING] = ceiling(emulator.base_url)
                for name, entrant in entrants.items():
                    if args.only_ours and name.startswith(("langchain-", "LlamaIndex")):
                        continue
                    check = reference if entrant.returns_vectors else None
                    row = timed_pass(
                        emulator, scenario, name, entrant.run, entrant.retries, texts, check
                    )
                    timed.setdefault(name, []).append(row)
                    last[name] = entrant
            for name, rows_of_name in timed.items():
                row = median_pass(rows_of_name)
                row.peak_mb = traced_peak_mib(emulator, scenario, last[name].run, texts)
                results.append(row)
        print(table(results))
        ideal = ideal_texts_per_s(scenarios[0], DEFAULT_MAX_CONCURRENCY)
        print(
            f"\nEach row: the median of {passes} timed passes, each with fresh clients. Ideal "
            f"for scenario 1 at max_concurrency={DEFAULT_MAX_CONCURRENCY}: {rows / ideal:.2f} s "
            f"({ideal:,.0f} texts/s). Scenario 2 allows 100 requests/s (1,000 texts/s) "
            "after a one-second burst."
        )
        print(targets(results, scenarios, DEFAULT_MAX_CONCURRENCY))
        memory_rows = args.memory_rows or (10_000 if args.quick else 100_000)
        print(memory_scenario(emulator, memory_rows))
        print(f"\nMachine: {os.cpu_count()} cores, Python {sys.version.split()[0]}.")
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
