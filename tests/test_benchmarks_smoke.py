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


def test_image_benchmark_checks_every_vector_of_every_contender() -> None:
    """A dozen images through every image contender; the peers only where installed (``pip
    install -r benchmarks/requirements.txt``), ours always."""
    from benchmarks.image_pass import OURS, PEERS, peer_installed

    small = ["--images", "12", "--slow-images", "12", "--rounds", "1", "--latency-ms", "10"]
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.images", *small, "--scenario", "A"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    rows = {
        cells[1]: cells
        for line in done.stdout.splitlines()
        if line.startswith("| A: ")
        for cells in [[cell.strip() for cell in line.strip("|").split("|")]]
    }
    peers = [name for name in PEERS if peer_installed(name)]
    assert sorted(rows) == sorted([*OURS, *peers]), done.stdout
    for cells in rows.values():
        assert cells[2] == "12", cells
        # llama-index-embeddings-dashscope reads the older answer (one output.embedding),
        # which the emulator gives it: every contender, ours and peers, gets every row right.
        assert cells[8] == "all rows", cells
    assert "Scenario A: no limits: ours" in done.stdout


def test_the_limits_simulation_runs_the_librarys_own_pacing_on_a_fake_clock() -> None:
    """``benchmarks.limits_sim`` drives the real budget functions against the emulator's rate
    limiter: every request is answered in the end, and a lone client with defaults learns a
    pace near the limit (its figures are a tuning aid, checked against ``benchmarks.limits``)."""
    from benchmarks.limits_sim import Trial

    share, refused = Trial(clients=1, each=120, seed=0).run()
    assert 0.5 < share < 1.2 and refused < 0.5
    share, _ = Trial(clients=4, each=10, seed=1).run()
    assert share > 0.2, "four clients finish their work"
