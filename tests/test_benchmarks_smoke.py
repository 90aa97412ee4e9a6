"""The benchmark harness runs end to end on a tiny load (no timings asserted: that is
``make bench``'s job, not the test suite's)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_benchmark_runs_our_clients_and_checks_every_row() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--only-ours", "--memory-rows", "500"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "| scenario | client |" in done.stdout
    assert done.stdout.count("all rows") == 15, done.stdout
    assert done.stdout.count("ceiling: raw HTTP") == 2  # scenarios 1 and 3, not the limited one
    assert "Scenario 1: LangChain embed_documents at" in done.stdout
    assert "Scenario 4 (memory)" in done.stdout
