"""``python -m benchmarks.limits``: the account's real limits, side by side.

Scenario "Beijing": an emulator enforcing 30 requests/s and 1,200,000 tokens/min with burst
protection, 100 ± 50 ms latency, chunks of about 500 tokens (so tokens bind: 40 rows a
second). Each contender embeds the same chunks; the table gives the share of the binding
limit reached (tokens accepted per second over 20,000/s) and the share of requests answered
429. The emulator is on loopback, a host the client does not recognise (as a gateway or a
proxy is), so nothing is published for it. Contenders: ours told the limits
(``rate_limit=RateLimit(1800, 1_200_000)``) and ours with defaults (learning them), each
through the core, LangChain and LlamaIndex, sync and async; ours with the concurrency
limiter alone (``rate_limit=False``: the library before the governor); and langchain-openai /
LlamaIndex OpenAILike where installed (``make bench-limits``).
``--parallel N`` runs N contenders at once, each against its own emulator.

Scenario "shared account": four processes (``--processes N``) on one machine embed an equal part
of the chunks each against the same account: with one ``FileBudget``, each told the whole limit
with its own budget, and default clients that know nothing of each other.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import importlib
import inspect
import multiprocessing
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from modelstudio_embeddings import EmbeddingClient, FileBudget, RateLimit

from .harness import KEY, EmulatorProcess
from .texts import make_texts

RPM, TPM = 1800, 1_200_000
TOLD = RateLimit(RPM, TPM)
WORDS = 250  # about 500 tokens a chunk by the emulator's count
DIMENSIONS = 256


@dataclass
class Result:
    name: str
    seconds: float
    tokens: int
    requests: int
    throttled: int
    failed: str = ""

    def share_of_limit(self) -> float:
        return self.tokens / self.seconds / (TPM / 60) if self.seconds else 0.0

    def share_429(self) -> float:
        return self.throttled / self.requests if self.requests else 0.0


def configure(emulator: EmulatorProcess) -> None:
    limits = {"requests_per_minute": RPM, "tokens_per_minute": TPM, "burst": True}
    emulator.control(
        "/_emulator/config",
        {"latency_ms": 100, "latency_jitter_ms": 50, "rate_limits": limits},
    )
    emulator.control("/_emulator/reset", {})


def ours(
    emulator: EmulatorProcess, limit: RateLimit | Literal[False] | None, *, governed: bool = True
) -> Any:
    client = EmbeddingClient(
        api_key=KEY, base_url=emulator.base_url, dimensions=DIMENSIONS, rate_limit=limit
    )
    if not governed:  # the library before the governor: the adaptive in-flight bound alone
        client._executor.governor = None
    return client


ENTRY_POINTS: dict[str, tuple[str, str, str]] = {
    "core": ("modelstudio_embeddings:EmbeddingClient", "embed", "aembed"),
    "LangChain": (
        "langchain_modelstudio:ModelStudioEmbeddings",
        "embed_documents",
        "aembed_documents",
    ),
    "LlamaIndex": (
        "llama_index_modelstudio:ModelStudioEmbedding",
        "get_text_embedding_batch",
        "aget_text_embedding_batch",
    ),
}
"""Each entry point of ours: its class, and its sync and async method for a list of texts."""


def contenders(emulator: EmulatorProcess) -> dict[str, Callable[[list[str]], object]]:
    made: dict[str, Callable[[list[str]], object]] = {}
    for label, limit in (("told", TOLD), ("default", None)):
        for entry, (where, sync, async_) in ENTRY_POINTS.items():
            for mode, method in (("sync", sync), ("async", async_)):
                made[f"ours {label}: {entry} {mode}"] = functools.partial(
                    _through, emulator, limit, where, method
                )
    made["ours, concurrency limiter only (rate_limit=False)"] = lambda t: ours(
        emulator, False, governed=False
    ).embed(t)
    made.update(_peers(emulator))
    return made


def _through(
    emulator: EmulatorProcess, limit: RateLimit | None, where: str, method: str, texts: list[str]
) -> object:
    """Embed ``texts`` with a fresh instance of the class at ``where``, by ``method`` (run on
    its own event loop if it is a coroutine function)."""
    module, name = where.split(":")
    cls = getattr(importlib.import_module(module), name)
    client = cls(api_key=KEY, base_url=emulator.base_url, dimensions=DIMENSIONS, rate_limit=limit)
    result = getattr(client, method)(texts)
    return asyncio.run(result) if inspect.iscoroutine(result) else result


def _peers(emulator: EmulatorProcess) -> dict[str, Callable[[list[str]], object]]:
    peers: dict[str, Callable[[list[str]], object]] = {}
    try:
        from langchain_openai import OpenAIEmbeddings
        from pydantic import SecretStr

        def lc_openai(texts: list[str]) -> object:
            peer = OpenAIEmbeddings(
                model="text-embedding-v4",
                api_key=SecretStr(KEY),
                base_url=emulator.base_url,
                dimensions=DIMENSIONS,
                chunk_size=10,
                check_embedding_ctx_length=False,
            )
            return peer.embed_documents(texts)

        peers["langchain-openai (sequential)"] = lc_openai
    except ImportError:
        pass
    try:
        from llama_index.embeddings.openai_like import OpenAILikeEmbedding

        def li_openai_like(texts: list[str]) -> object:
            peer = OpenAILikeEmbedding(
                model_name="text-embedding-v4",
                api_key=KEY,
                api_base=emulator.base_url,
                embed_batch_size=10,
                dimensions=DIMENSIONS,
            )
            return asyncio.run(peer.aget_text_embedding_batch(texts))

        peers["LlamaIndex OpenAILike (async gather)"] = li_openai_like
    except ImportError:
        pass
    return peers


def measure(
    emulator: EmulatorProcess, name: str, run: Callable[[list[str]], object], texts: list[str]
) -> Result:
    configure(emulator)
    started = time.perf_counter()
    failed = ""
    try:
        run(texts)
    except Exception as exc:  # a contender that gives up is a result
        failed = type(exc).__name__
    seconds = time.perf_counter() - started
    stats = emulator.control("/_emulator/stats")
    return Result(
        name,
        seconds,
        int(stats.get("tokens_accepted", 0)),
        int(stats["requests"]),
        int(stats["responses_by_status"].get("429", 0)),
        failed,
    )


SHARED_MODES = {
    "one FileBudget, told": (True, True),
    "each its own budget, told": (False, True),
    "default clients (nothing told, no shared budget)": (False, False),
}


def _worker(
    base_url: str,
    budget: str | None,
    told: bool,
    texts: list[str],
    ready: Any,
    results: Any,
) -> None:
    """One process's share: built, then started with the others (the clock does not count
    Python starting up); puts what it raised, if it failed ("" if not)."""
    client = EmbeddingClient(
        api_key=KEY,
        base_url=base_url,
        dimensions=DIMENSIONS,
        rate_limit=TOLD if told else None,
        rate_budget=FileBudget(budget) if budget else None,
    )
    ready.wait()
    try:
        client.embed(texts)
    except Exception as exc:  # a failed call is a result
        results.put(type(exc).__name__)
        return
    results.put("")


def shared_account(
    emulator: EmulatorProcess, texts: list[str], mode: str, processes: int = 4
) -> Result:
    configure(emulator)
    shared, told = SHARED_MODES[mode]
    parts = [texts[i::processes] for i in range(processes)]
    with tempfile.TemporaryDirectory() as folder:
        budget = os.path.join(folder, "account.budget") if shared else None
        context = multiprocessing.get_context("spawn")
        ready, results = context.Barrier(processes + 1), context.Queue()
        workers = [
            context.Process(
                target=_worker, args=(emulator.base_url, budget, told, q, ready, results)
            )
            for q in parts
        ]
        for worker in workers:
            worker.start()
        ready.wait()  # every process has imported the library and built its client
        started = time.perf_counter()
        failed = [results.get() for _ in workers]
        seconds = time.perf_counter() - started
        for worker in workers:
            worker.join()
    stats = emulator.control("/_emulator/stats")
    failures = [f for f in failed if f]
    return Result(
        f"{processes} processes, {mode}",
        seconds,
        int(stats.get("tokens_accepted", 0)),
        int(stats["requests"]),
        int(stats["responses_by_status"].get("429", 0)),
        f"{len(failures)} of {processes} calls: {failures[0]}" if failures else "",
    )


def table(results: list[Result]) -> str:
    lines = [
        "| client | seconds | share of the binding limit | requests | 429s | share 429 |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        share = f"{r.share_of_limit():.0%}" + (f" (failed: {r.failed})" if r.failed else "")
        lines.append(
            f"| {r.name} | {r.seconds:.1f} | {share} | {r.requests} | {r.throttled} | "
            f"{r.share_429():.1%} |"
        )
    return "\n".join(lines)


def _lane(name: str, rows: int) -> Result:
    """One contender on its own emulator (a lane of ``--parallel``)."""
    texts = make_texts(rows, seed=3, words=WORDS)
    emulator = EmulatorProcess()
    try:
        return measure(emulator, name, contenders(emulator)[name], texts)
    finally:
        emulator.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.limits", description=__doc__)
    parser.add_argument("--rows", type=int, default=2000, help="chunks (the README: 20,000)")
    parser.add_argument(
        "--only", default="", help="run only contenders whose name has one of these (a,b)"
    )
    parser.add_argument("--skip-shared", action="store_true")
    parser.add_argument(
        "--shared",
        default="",
        help="run only the shared-account modes whose name has one of these (a,b), e.g. default",
    )
    parser.add_argument(
        "--processes", type=int, default=4, help="processes of the shared-account scenario"
    )
    parser.add_argument(
        "--parallel",
        type=int,
        default=1,
        help="contenders at once, each on its own emulator (an account each): the pacing, "
        "not the CPU, bounds these runs",
    )
    args = parser.parse_args(argv)
    texts = make_texts(args.rows, seed=3, words=WORDS)
    emulator = EmulatorProcess()
    try:
        wanted = args.only.split(",")
        runs = contenders(emulator)
        names = [n for n in runs if any(w in n for w in wanted)]
        if args.parallel > 1:
            context = multiprocessing.get_context("spawn")
            with context.Pool(args.parallel) as pool:
                results = pool.starmap(_lane, [(name, args.rows) for name in names])
        else:
            results = [measure(emulator, name, runs[name], texts) for name in names]
        print("Scenario Beijing on a gateway: 30 req/s, 1.2M tokens/min, burst protection,")
        print("100 ± 50 ms, on a host the client does not recognise (loopback), so nothing is")
        print("published for it: 'default' is a client built with defaults,")
        print(f"{args.rows} chunks of about 500 tokens (tokens bind first: 40 rows/s)\n")
        print(table(results), flush=True)
        if not args.skip_shared:
            n = args.processes
            modes = [m for m in SHARED_MODES if any(w in m for w in args.shared.split(","))]
            shared = [shared_account(emulator, texts, mode, n) for mode in modes]
            print(f"\nScenario shared account: {args.rows} chunks over {n} processes\n")
            print(table(shared))
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
