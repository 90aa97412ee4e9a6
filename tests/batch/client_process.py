"""A batch run in its own process, for tests that kill it or measure its memory.

``python -m tests.batch.client_process BASE_URL KEY MANIFEST OUTPUT ROWS MAX_REQUESTS
[--kill KIND:N] [--memory]``: embeds ``ROWS`` generated texts into the ``.npy`` OUTPUT.
``--kill`` sends itself SIGKILL at the N-th step event of KIND (upload_sent, uploaded,
create_sent, created, stored: every 10 output lines; ``any``), naming it on stderr first;
``--memory`` prints the tracemalloc peak of the run and the largest request file's size.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import sys
import time
import tracemalloc
from collections.abc import Iterator

from modelstudio_embeddings.batch import BatchJob, FileLimits, NpySink


def texts(rows: int) -> Iterator[str]:
    """The corpus, generated: never a list."""
    for i in range(rows):
        yield f"row {i} of the corpus on subject {i % 101} with term{i % 997} and more"


def main() -> int:
    parser = argparse.ArgumentParser()
    for name in ("base_url", "key", "manifest", "output"):
        parser.add_argument(name)
    parser.add_argument("rows", type=int)
    parser.add_argument("max_requests", type=int)
    parser.add_argument("--kill", default="")
    parser.add_argument("--memory", action="store_true")
    args = parser.parse_args()
    kind, _, nth = args.kill.partition(":")
    seen = 0

    def on_event(name: str, detail: str) -> None:
        nonlocal seen
        seen += kind in (name, "any")
        if nth and seen == int(nth):
            print(f"killed at {name} {detail}", file=sys.stderr, flush=True)
            os.kill(os.getpid(), signal.SIGKILL)

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    if args.memory:
        tracemalloc.start()
    started = time.monotonic()
    with BatchJob(
        args.manifest,
        NpySink(args.output),
        dimensions=64,
        api_key=args.key,
        base_url=args.base_url,
        allow_insecure_http=True,
        file_limits=FileLimits(max_requests=args.max_requests),
        poll_interval=(0.02, 0.2),
        on_event=on_event,
        store_every=10 if args.kill else 1000,
    ) as job:
        result = job.run(texts(args.rows))
        largest = max(f.bytes for f in job.manifest.files())
    report = {
        "complete": result.complete,
        "uploads": result.uploads,
        "jobs": result.jobs,
        "seconds": time.monotonic() - started,
        "largest_file_bytes": largest,
        "rss_before_run_bytes": rss_before,
        "rss_peak_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }
    if args.memory:
        report["peak_bytes"] = tracemalloc.get_traced_memory()[1]
    print(json.dumps(report))
    return 0 if result.complete else 1


if __name__ == "__main__":
    sys.exit(main())
