"""``python -m benchmarks``: ours and the peers side by side on one emulator, one process run.

The emulator runs in a child process so its CPU is not counted as the client's. Each row of
the table is one client on one scenario: texts per second, requests and 429s (the emulator's
count), retries (ours only: peers do not report them), client CPU seconds per 1,000 rows, peak
Python memory (tracemalloc) and whether every row equals the reference vector of its text.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import tracemalloc
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import SecretStr

from modelstudio_embeddings.emulator.vectors import embed_texts

from .texts import make_texts

MODEL = "text-embedding-v4"
DIMENSIONS = 1024
KEY = "sk-bench"


@dataclass(frozen=True)
class Scenario:
    name: str
    rows: int
    latency_ms: float
    max_in_flight: int | None = None
    requests_per_second: float | None = None


@dataclass
class Row:
    scenario: str
    client: str
    texts_per_s: float = 0.0
    requests: int = 0
    throttled: int = 0
    retries: str = "n/a"
    cpu_per_1k: float = 0.0
    peak_mb: float = 0.0
    correct: str = "-"


class EmulatorProcess:
    """The emulator CLI in a child process, scripted over its control endpoints."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "modelstudio_embeddings.emulator",
                "--port",
                "0",
                "--api-key",
                KEY,
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
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


Runner = Callable[[list[str]], Any]


def clients(base_url: str) -> dict[str, tuple[Runner, Callable[[], int] | None]]:
    """Each contender: a function from texts to vectors, and a retry counter where known."""
    from langchain_modelstudio import ModelStudioEmbeddings
    from llama_index_modelstudio import ModelStudioEmbedding
    from modelstudio_embeddings import EmbeddingClient

    core = EmbeddingClient(MODEL, dimensions=DIMENSIONS, api_key=KEY, base_url=base_url)
    lc = ModelStudioEmbeddings(
        model=MODEL, dimensions=DIMENSIONS, api_key=SecretStr(KEY), base_url=base_url
    )
    li = ModelStudioEmbedding(
        model_name=MODEL, dimensions=DIMENSIONS, api_key=KEY, base_url=base_url
    )
    found: dict[str, tuple[Runner, Callable[[], int] | None]] = {
        "ours: core to numpy": (core.embed, lambda: core.usage.retries),
        "ours: LangChain sync": (lc.embed_documents, lambda: lc.usage.retries),
        "ours: LangChain async": (
            lambda t: asyncio.run(lc.aembed_documents(t)),
            lambda: lc.usage.retries,
        ),
        "ours: LlamaIndex sync": (li.get_text_embedding_batch, lambda: li.usage.retries),
        "ours: LlamaIndex async": (
            lambda t: asyncio.run(li.aget_text_embedding_batch(t)),
            lambda: li.usage.retries,
        ),
    }
    try:
        from langchain_openai import OpenAIEmbeddings

        peer = OpenAIEmbeddings(
            model=MODEL,
            base_url=base_url,
            api_key=SecretStr(KEY),
            chunk_size=10,
            check_embedding_ctx_length=False,
            dimensions=DIMENSIONS,
        )
        found["langchain-openai OpenAIEmbeddings"] = (peer.embed_documents, None)
    except ImportError:
        print("(langchain-openai not installed: pip install -r benchmarks/requirements.txt)")
    try:
        from llama_index.embeddings.openai_like import OpenAILikeEmbedding

        like = OpenAILikeEmbedding(
            model_name=MODEL,
            api_base=base_url,
            api_key=KEY,
            embed_batch_size=10,
            dimensions=DIMENSIONS,
        )
        found["LlamaIndex OpenAILikeEmbedding sync"] = (like.get_text_embedding_batch, None)
        found["LlamaIndex OpenAILikeEmbedding async"] = (
            lambda t: asyncio.run(like.aget_text_embedding_batch(t)),
            None,
        )
    except ImportError:
        print("(llama-index-embeddings-openai-like not installed)")
    return found


def measure(
    emulator: EmulatorProcess,
    scenario: Scenario,
    name: str,
    run: Runner,
    retries: Callable[[], int] | None,
    texts: list[str],
    reference: np.ndarray,
) -> Row:
    """Run one client on one scenario and read what it cost."""
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
    else:
        got = np.asarray(vectors, dtype=np.float32)
        ok = got.shape == reference.shape and np.allclose(got, reference, atol=1e-6)
        row.correct = "all rows" if ok else "WRONG"
    # Memory in a second, traced pass: tracemalloc slows allocation-heavy code several times,
    # so it must not touch the timed pass.
    emulator.setup(scenario)
    tracemalloc.start()
    try:
        run(texts)
    except Exception:
        pass
    row.peak_mb = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return row


def memory_scenario(emulator: EmulatorProcess, rows: int) -> str:
    """Scenario 4: many rows through the core into one float32 array; peak vs the array."""
    from modelstudio_embeddings import EmbeddingClient

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
        f"Scenario 4 (memory): {rows:,} rows x {DIMENSIONS} through the core in {seconds:.1f} s; "
        f"array {vectors.nbytes / 2**20:.0f} MiB, peak traced {peak / 2**20:.0f} MiB "
        f"({ratio:.2f}x the array, texts included); process peak RSS {_rss_mib():.0f} MiB "
        f"(interpreter and libraries before the call: {baseline:.0f} MiB)."
    )


def _rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def table(rows: list[Row]) -> str:
    head = (
        "| scenario | client | texts/s | requests | 429s | retries | CPU s/1k rows | "
        "peak MiB | correct |\n|---|---|---:|---:|---:|---:|---:|---:|---|"
    )
    lines = [
        f"| {r.scenario} | {r.client} | {r.texts_per_s:,.0f} | {r.requests} | {r.throttled} | "
        f"{r.retries} | {r.cpu_per_1k:.3f} | {r.peak_mb:.1f} | {r.correct} |"
        for r in rows
    ]
    return "\n".join([head, *lines])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smaller run, for a smoke test")
    parser.add_argument("--only-ours", action="store_true", help="skip the peers")
    parser.add_argument("--memory-rows", type=int, default=None)
    args = parser.parse_args(argv)
    rows = 200 if args.quick else 2000
    scenarios = [
        Scenario("1: 50 ms, no limits", rows, 50.0),
        Scenario("2: 50 ms, 32 in flight, 100 req/s", rows, 50.0, 32, 100.0),
        Scenario("3: 0 ms (client CPU)", rows, 0.0),
    ]
    emulator = EmulatorProcess()
    try:
        texts = make_texts(rows, seed=1)
        reference = embed_texts(texts, DIMENSIONS, model=MODEL)
        results = []
        for scenario in scenarios:
            # Fresh clients per scenario: no adaptive state or event-loop-bound pool carries over.
            contenders = clients(emulator.base_url)
            for name, (run, retries) in contenders.items():
                if args.only_ours and not name.startswith("ours"):
                    continue
                results.append(measure(emulator, scenario, name, run, retries, texts, reference))
        print(table(results))
        ideal = rows / 10 * 0.05 / 16
        print(
            f"\nIdeal for scenario 1 at max_concurrency=16: {ideal:.2f} s "
            f"({rows / ideal:,.0f} texts/s). Scenario 2 allows 100 requests/s "
            f"(1,000 texts/s)."
        )
        memory_rows = args.memory_rows or (10_000 if args.quick else 100_000)
        print(memory_scenario(emulator, memory_rows))
        print(f"\nMachine: {os.cpu_count()} cores, Python {sys.version.split()[0]}.")
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
