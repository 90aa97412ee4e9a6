"""``python -m benchmarks.soak``: a call that ends leaves nothing behind (invariant 7).

One client, against the emulator: many ``asyncio.run(client.aembed(...))`` calls, many
Ctrl-C interrupts of sync calls in flight and in back-off, and forked children that embed
with the parent's client. Open file descriptors, threads and limiter slots are counted
before and after; every count must come back to where it started.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import signal
import threading
import time

import numpy as np

from modelstudio_embeddings import EmbeddingClient, RetryPolicy
from modelstudio_emulator import Emulator, Fault


def counts(client: EmbeddingClient) -> dict[str, int]:
    gc.collect()
    return {
        "open fds": len(os.listdir("/proc/self/fd")),
        "threads": threading.active_count(),
        "slots held": client._limiter.in_flight,
        "slot waiters": len(client._limiter._waiters),
        "event-loop clients": client._executor.async_.open_loops,
    }


def interrupt(client: EmbeddingClient, texts: list[str], after: float) -> bool:
    """Ctrl-C a sync call ``after`` seconds in; True if it was interrupted."""
    main = threading.main_thread().ident
    assert main is not None
    timer = threading.Timer(after, signal.pthread_kill, (main, signal.SIGINT))
    timer.start()
    try:
        client.embed(texts)
    except KeyboardInterrupt:
        return True
    finally:
        timer.cancel()
    return False


def fork_child(client: EmbeddingClient, texts: list[str], want: np.ndarray) -> int:
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = 0 if np.array_equal(client.embed(texts), want) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__)
    parser.add_argument("--runs", type=int, default=100, help="asyncio.run calls")
    parser.add_argument("--interrupts", type=int, default=50)
    parser.add_argument("--forks", type=int, default=10)
    args = parser.parse_args(argv)
    texts = [f"soak {i} about pier{i % 13}" for i in range(60)]
    with Emulator(latency_ms=20) as emulator:
        client = EmbeddingClient(
            api_key=emulator.api_key,
            base_url=emulator.base_url,
            max_concurrency=4,
            retry_policy=RetryPolicy(max_retries=20, initial_delay=0.2, max_delay=0.2),
        )
        want = client.embed(texts)
        asyncio.run(client.aembed(texts[:1]))
        time.sleep(0.3)
        before = counts(client)
        started = time.perf_counter()
        for i in range(args.runs):
            asyncio.run(client.aembed([f"run {i}"]))
        interrupted = 0
        for i in range(args.interrupts):
            if i % 2:  # half of them in back-off between retries of failing requests
                emulator.script(*[Fault.server_error() for _ in range(40)])
            interrupted += interrupt(client, texts * 8, after=0.03 + 0.01 * (i % 5))
            emulator.clear_script()
        failed_children = [
            code
            for code in (fork_child(client, texts, want) for _ in range(args.forks))
            if code != 0
        ]
        time.sleep(0.5)  # requests in flight at an interrupt end by themselves
        assert np.array_equal(client.embed(texts), want), "the client still works"
        after = counts(client)
        client.close()
    print(
        f"{args.runs} asyncio.run calls, {interrupted}/{args.interrupts} calls interrupted, "
        f"{args.forks} forked children ({len(failed_children)} failed), "
        f"{time.perf_counter() - started:.1f} s"
    )
    print(f"{'':20} {'before':>8} {'after':>8}")
    for name in before:
        print(f"{name:20} {before[name]:>8} {after[name]:>8}")
    same = all(after[name] <= before[name] for name in before)
    print("every count back to the start" if same and not failed_children else "LEFT BEHIND")
    return 0 if same and not failed_children else 1


if __name__ == "__main__":
    raise SystemExit(main())
