"""The emulator in a child process, the scenarios, and one measured pass of one contender."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import tracemalloc
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from modelstudio_embeddings import MODELS

MODEL = "text-embedding-v4"
DIMENSIONS = 1024
KEY = "sk-bench"
ROWS_PER_REQUEST = MODELS[MODEL].rows_per_request
ALL_ROWS = "all rows"
NO_VECTORS = "n/a (no vectors)"

Runner = Callable[[list[str]], Any]


@dataclass(frozen=True)
class Scenario:
    name: str
    rows: int
    latency_ms: float
    max_in_flight: int | None = None
    requests_per_second: float | None = None


@dataclass
class Row:
    """What one pass of one contender on one scenario cost, and whether every row was right."""

    scenario: str
    client: str
    texts_per_s: float = 0.0
    requests: int = 0
    throttled: int = 0
    retries: str = "n/a"
    cpu_per_1k: float = 0.0
    peak_mb: float = 0.0
    correct: str = "-"


def ideal_texts_per_s(scenario: Scenario, concurrency: int) -> float:
    """Every request takes exactly the latency and ``concurrency`` are always in flight."""
    return ROWS_PER_REQUEST * concurrency / (scenario.latency_ms / 1000)


class EmulatorProcess:
    """The emulator CLI in a child process (its CPU is not the client's), scripted over its
    control endpoints."""

    def __init__(self) -> None:
        command = [sys.executable, "-m", "modelstudio_emulator"]
        self.process = subprocess.Popen(
            [*command, "--port", "0", "--api-key", KEY],
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stderr is not None
        line = self.process.stderr.readline()
        self.base_url = line.split(" on ", 1)[1].split(" ", 1)[0]
        self.host = self.base_url.rsplit("/compatible-mode", 1)[0]

    def control(self, path: str, body: object | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.host + path, data=data, method="POST" if data else "GET"
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def setup(self, scenario: Scenario) -> None:
        """The scenario's latency and limits, a full rate bucket, empty stats."""
        self.control(
            "/_emulator/config",
            {
                "latency_ms": scenario.latency_ms,
                "max_in_flight": scenario.max_in_flight,
                "requests_per_second": scenario.requests_per_second,
            },
        )
        self.control("/_emulator/reset", {})

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def timed_pass(
    emulator: EmulatorProcess,
    scenario: Scenario,
    name: str,
    run: Runner,
    retries: Callable[[], int] | None,
    texts: list[str],
    reference: npt.NDArray[np.float32] | None,
) -> Row:
    """One timed call: wall time, client CPU, the emulator's counts, every row checked (unless
    ``reference`` is None: a contender that returns no vectors)."""
    emulator.setup(scenario)
    row = Row(scenario.name, name)
    retries_before = retries() if retries else 0
    cpu, wall = time.process_time(), time.perf_counter()
    try:
        vectors = run(texts)
        failed = None
    except Exception as exc:  # a peer that gives up is a result, not a crash
        vectors, failed = None, f"failed: {type(exc).__name__}"
    wall = time.perf_counter() - wall
    cpu = time.process_time() - cpu
    stats = emulator.control("/_emulator/stats")
    row.texts_per_s = len(texts) / wall
    row.requests = stats["requests"]
    row.throttled = stats["responses_by_status"].get("429", 0)
    row.retries = str(retries() - retries_before) if retries else "n/a"
    row.cpu_per_1k = cpu / len(texts) * 1000
    if failed:
        row.correct = failed
    elif reference is None:
        row.correct = NO_VECTORS
    else:
        got = np.asarray(vectors, dtype=np.float32)
        ok = got.shape == reference.shape and np.allclose(got, reference, atol=1e-6)
        row.correct = ALL_ROWS if ok else "WRONG"
    return row


def traced_peak_mib(
    emulator: EmulatorProcess, scenario: Scenario, run: Runner, texts: list[str]
) -> float:
    """Peak Python memory of one more call, traced: tracemalloc slows allocation-heavy code
    several times, so it never touches a timed pass."""
    emulator.setup(scenario)
    tracemalloc.start()
    try:
        run(texts)
    except Exception:
        pass
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return peak


def median_pass(passes: list[Row]) -> Row:
    """The pass with the median throughput; a failure in any pass is what the row reports."""
    row = sorted(passes, key=lambda r: r.texts_per_s)[len(passes) // 2]
    wrong = [r.correct for r in passes if r.correct not in (ALL_ROWS, NO_VECTORS)]
    if wrong:
        row.correct = wrong[0]
    return row


def memory_scenario(emulator: EmulatorProcess, rows: int) -> str:
    """Scenario 4: many rows through the core into one float32 array; peak vs the array."""
    from modelstudio_embeddings import EmbeddingClient

    from .texts import make_texts

    emulator.setup(Scenario("memory", rows, 0.0))
    client = EmbeddingClient(MODEL, dimensions=DIMENSIONS, api_key=KEY, base_url=emulator.base_url)
    texts = make_texts(rows, seed=4)
    baseline = _rss_mib()
    tracemalloc.start()
    start = time.perf_counter()
    vectors = client.embed(texts)
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    ratio = peak / vectors.nbytes
    return (
        f"Scenario 4 (memory): {rows:,} rows x {DIMENSIONS} through the core in {seconds:.1f} s "
        "under tracemalloc; "
        f"array {vectors.nbytes / 2**20:.0f} MiB, peak traced {peak / 2**20:.0f} MiB "
        f"({ratio:.2f}x the array, texts included); process peak RSS {_rss_mib():.0f} MiB "
        f"(interpreter and libraries before the call: {baseline:.0f} MiB)."
    )


def _rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
