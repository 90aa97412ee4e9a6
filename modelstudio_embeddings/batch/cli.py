"""``modelstudio-embeddings batch run|submit|status|wait|fetch|cancel``: the Batch API from a shell.

``run`` does everything and survives restarts: run the same command again after a crash, a
Ctrl-C or a reboot and it continues from the manifest. The input is a text file, one text a
line (or JSONL with ``--jsonl-field``), read as a stream; the output is a ``.npy`` file (a
memory map, any size) or ``.parquet`` (the ``parquet`` extra). The estimated cost at the batch
price is shown before anything is submitted; ``--dry-run`` validates through
``batch-test-model`` (no inference, no bill) and stops.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson

from ..errors import ModelStudioError
from .job import BatchJob, BatchResult
from .limits import FileLimits
from .manifest import Manifest
from .sinks import NpySink, ParquetSink, Sink

__all__ = ["main"]


def read_texts(path: str, jsonl_field: str | None) -> Iterator[str]:
    """The input's texts, streamed: a line each, or a field of each JSONL object."""
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if jsonl_field is not None:
                if line.strip():
                    yield str(orjson.loads(line)[jsonl_field])
            else:
                yield line.rstrip("\n")


def _sink(output: str | None) -> Sink | None:
    if output is None:
        return None
    if output.endswith(".parquet"):
        return ParquetSink(output)
    if output.endswith(".npy"):
        return NpySink(output)
    raise SystemExit(f"--output must end in .npy or .parquet, got {output!r}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modelstudio-embeddings batch",
        description="Embed a corpus through the Batch API at half price, resumably.",
    )
    commands = parser.add_subparsers(dest="action", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--manifest", required=True, help="the run's SQLite file (resume key)")
    common.add_argument("--base-url", help="host or compatible-mode URL (else DASHSCOPE_*)")
    common.add_argument("--region", help="cn-beijing (the Batch API's region)")
    common.add_argument("--allow-insecure-http", action="store_true", help="http to your host")
    common.add_argument(
        "--poll",
        type=float,
        nargs=2,
        default=(5.0, 60.0),
        metavar=("MIN", "MAX"),
        help="seconds between polls: first and longest (back-off)",
    )
    common.add_argument("--no-progress", action="store_true", help="no progress bar")
    plan = argparse.ArgumentParser(add_help=False)
    plan.add_argument("input", nargs="?", help="text file, one text a line (or JSONL)")
    plan.add_argument("--jsonl-field", help="read this field of each JSONL line")
    plan.add_argument("--model", default="text-embedding-v4")
    plan.add_argument("--dimensions", type=int)
    plan.add_argument("--completion-window", default="24h", help="24h to 336h")
    plan.add_argument("--max-requests-per-file", type=int, default=50_000)
    plan.add_argument("--dry-run", action="store_true", help="validate via batch-test-model")
    out = argparse.ArgumentParser(add_help=False)
    out.add_argument("--output", help="a .npy (memory map) or .parquet file")
    out.add_argument("--max-rounds", type=int, default=2, help="follow-up jobs for failures")
    out.add_argument(
        "--realtime-fallback", action="store_true", help="embed what still fails in real time"
    )
    commands.add_parser("run", parents=[common, plan, out], help="plan, submit, wait, fetch")
    commands.add_parser("submit", parents=[common, plan], help="plan and submit, then exit")
    commands.add_parser("status", parents=[common], help="the run's jobs and rows")
    commands.add_parser("wait", parents=[common], help="wait until every job has ended")
    commands.add_parser("fetch", parents=[common, out], help="store ended jobs' vectors")
    commands.add_parser("cancel", parents=[common], help="cancel the run's jobs")
    return parser


def _job(args: argparse.Namespace, sink: Sink | None) -> BatchJob:
    model = getattr(args, "model", None)
    dimensions = getattr(args, "dimensions", None)
    if Path(args.manifest).exists():  # a run's settings are the manifest's
        manifest = Manifest(args.manifest)
        model = manifest.get("model") or model
        recorded = manifest.get("dimensions")
        dimensions = int(recorded) if recorded else dimensions
        manifest.close()
    return BatchJob(
        args.manifest,
        sink,
        model=model or "text-embedding-v4",
        dimensions=dimensions,
        base_url=args.base_url,
        region=args.region,
        allow_insecure_http=args.allow_insecure_http,
        completion_window=getattr(args, "completion_window", "24h"),
        file_limits=FileLimits(max_requests=getattr(args, "max_requests_per_file", 50_000)),
        max_rounds=getattr(args, "max_rounds", 2),
        realtime_fallback=getattr(args, "realtime_fallback", False),
        poll_interval=(args.poll[0], args.poll[1]),
        show_progress=not args.no_progress,
    )


def _prepare(job: BatchJob, args: argparse.Namespace) -> bool:
    """Plan (if new), show the estimate, and run the dry run if asked; False to stop."""
    if not job.prepared:
        if not args.input:
            raise SystemExit("a new run needs its input file")
        job.prepare(read_texts(args.input, args.jsonl_field))
    print(f"Estimate: {job.estimate()}")
    if args.dry_run:
        problems = job.dry_run()
        print("Dry run: the file is valid." if not problems else "Dry run found problems:")
        for problem in problems:
            print(f"  {problem}")
        return False
    return True


def _report(result: BatchResult) -> int:
    print(
        f"{result.stored_rows}/{result.rows} rows stored; {result.uploads} upload(s), "
        f"{result.jobs} job(s); usage: {result.usage} (batch price)"
    )
    for failure in result.failures[:20]:
        print(f"  row {failure.row}: {failure.reason}")
    if len(result.failures) > 20:
        print(f"  ... {len(result.failures) - 20} more failed rows")
    return 0 if result.complete else 1


def _status(job: BatchJob) -> int:
    for record in job.poll():
        print(
            f"{record.name}: {record.status or record.state} "
            f"{record.completed + record.failed}/{record.total} requests "
            f"({record.failed} failed){' fetched' if record.fetched else ''}"
        )
    counts = job.manifest.counts()
    print(
        f"rows: {counts.get('done_rows', 0)} stored, {counts.get('queued_rows', 0)} queued, "
        f"{counts.get('failed_rows', 0)} failed of {job.rows}; usage: {job.usage}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run one ``batch`` action; the exit status is 1 when rows are left without vectors."""
    args = _parser().parse_args(argv)
    sink = _sink(getattr(args, "output", None))
    if args.action == "run" and sink is None and not args.dry_run:
        raise SystemExit("run needs --output (a .npy or .parquet file)")
    try:
        with _job(args, sink) as job:
            if args.action in ("run", "submit"):
                if not _prepare(job, args):
                    return 0
                if args.action == "submit":
                    job.submit()
                    return _status(job)
                return _report(job.run())
            if args.action == "status":
                return _status(job)
            if args.action == "wait":
                job.wait()
                return _status(job)
            if args.action == "fetch":
                if sink is None:
                    raise SystemExit("fetch needs --output")
                job.fetch()
                return _report(job.result())
            for batch_id in job.cancel():
                print(f"cancelling {batch_id}")
            return _status(job)
    except ModelStudioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
