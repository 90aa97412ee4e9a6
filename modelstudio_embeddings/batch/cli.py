"""``modelstudio-embeddings batch run|submit|status|wait|fetch|cancel``: the Batch API from a shell.

``run`` does everything and survives restarts: run the same command again after a crash, a
Ctrl-C or a reboot and it continues from the manifest. The input is a text file, one text a
line (or JSONL with ``--jsonl-field``), read as a stream; the output is a ``.npy`` file (a
memory map, any size) or ``.parquet`` (the ``parquet`` extra). The estimated cost at the batch
price is shown before anything is submitted; ``--dry-run`` validates through
``batch-test-model`` (no inference, no bill) and stops.

A manifest belongs to one corpus, model and width: an input, ``--model`` or ``--dimensions``
that differs from what it records is refused before anything is sent; ``status``, ``wait``,
``fetch`` and ``cancel`` need only the manifest (it records the host: ``--base-url`` or
``--region`` is needed only to change it). Errors are one line on stderr (``--debug``
for the traceback) and the exit status says what happened:
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path

import orjson

from ..core.errors import ConfigurationError, InvalidRequestError, ModelStudioError
from ..core.retry import RetryPolicy
from ..core.usage import Usage, plural
from .job import BatchJob, BatchResult
from .limits import FileLimits
from .manifest import Manifest
from .sinks import NpySink, ParquetSink, Sink

__all__ = ["EXIT_INCOMPLETE", "EXIT_OK", "EXIT_SERVICE", "EXIT_USAGE", "main"]

EXIT_OK = 0
EXIT_INCOMPLETE = 1
"""Rows are left without vectors (the report says where), or a dry run found problems."""
EXIT_USAGE = 2
"""Refused before anything was sent: a flag, an input, a manifest that does not fit."""
EXIT_SERVICE = 3
"""The service or the connection failed (a wrong key, a 5xx or a 429 on every retry...)."""
EXIT_INTERRUPTED = 130

__doc__ += "\n".join(
    f"``{code}`` {text}"
    for code, text in (
        (EXIT_OK, "every row has its vector;"),
        (EXIT_INCOMPLETE, "rows are left without vectors, or a dry run found problems;"),
        (EXIT_USAGE, "refused before anything was sent;"),
        (EXIT_SERVICE, "the service or the connection failed;"),
        (EXIT_INTERRUPTED, "interrupted (run the same command again to continue)."),
    )
)


class _ShowDefaults(argparse.HelpFormatter):
    """Each option's help ends with its default, unless the help already says it or there
    is none to say (an unset option, a flag that is off)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if "default" in text or default is None or default is False or default == argparse.SUPPRESS:
            return text
        return text + " (default: %(default)s)"


class UsageError(Exception):
    """A command line that cannot be run as given."""


def read_texts(path: str, jsonl_field: str | None) -> Iterator[str]:
    """The input's texts, streamed: a line each, or a field of each JSONL object."""
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if jsonl_field is None:
                yield line.rstrip("\n")
            elif line.strip():
                try:
                    yield str(orjson.loads(line)[jsonl_field])
                except (orjson.JSONDecodeError, KeyError, TypeError):
                    raise UsageError(
                        f"{path} line {number}: not a JSON object with the field {jsonl_field!r}"
                    ) from None


def _sink(output: str | None) -> Sink | None:
    if output is None:
        return None
    if output.endswith(".parquet"):
        return ParquetSink(output)
    if output.endswith(".npy"):
        return NpySink(output)
    raise UsageError(f"--output must end in .npy or .parquet, got {output!r}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modelstudio-embeddings batch",
        description="Embed a corpus through the Batch API at half price, resumably.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Exit status: "
        + __doc__.rsplit("status says what happened:", 1)[1].replace("``", ""),
    )
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="action", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--manifest", required=True, help="the run's SQLite file (resume key)")
    common.add_argument(
        "--base-url",
        help="host or compatible-mode URL; default: the host the manifest records, else "
        "DASHSCOPE_BASE_URL, else Beijing. Recorded in the manifest",
    )
    common.add_argument(
        "--region",
        help="cn-beijing (the Batch API's region) instead of --base-url; default: as --base-url",
    )
    common.add_argument(
        "--allow-insecure-http",
        action="store_true",
        help="plain http to a host that is not loopback (recorded in the manifest)",
    )
    common.add_argument(
        "--poll",
        type=float,
        nargs=2,
        default=(5.0, 60.0),
        metavar=("MIN", "MAX"),
        help="seconds between polls: first and longest (back-off)",
    )
    common.add_argument(
        "--max-retries", type=int, default=6, help="re-sends of a failed call (429, 5xx, network)"
    )
    common.add_argument("--no-progress", action="store_true", help="no progress bar")
    common.add_argument("--debug", action="store_true", help="a traceback with each error")
    plan = argparse.ArgumentParser(add_help=False)
    plan.add_argument(
        "input",
        nargs="?",
        help="text file, one text a line (or JSONL); needed for a new run, optional to resume",
    )
    plan.add_argument(
        "--jsonl-field", help="read this field of each JSONL line (default: plain text lines)"
    )
    plan.add_argument(
        "--model", help="default: the manifest's, else text-embedding-v4 (must have a batch price)"
    )
    plan.add_argument(
        "--dimensions", type=int, help="default: the manifest's, else the model's default width"
    )
    plan.add_argument("--completion-window", default="24h", help="24h to 336h (1d to 14d)")
    plan.add_argument(
        "--max-requests-per-file",
        type=int,
        default=50_000,
        help="request lines per uploaded file (the service allows 50,000)",
    )
    plan.add_argument(
        "--dry-run",
        action="store_true",
        help="estimate, then validate the first file's first lines (at most 100) with "
        "batch-test-model (no inference, no bill) and stop",
    )
    out = argparse.ArgumentParser(add_help=False)
    out.add_argument("--output", help="a .npy (memory map) or .parquet file (required)")
    out.add_argument(
        "--max-rounds", type=int, default=2, help="follow-up jobs for requests that failed"
    )
    out.add_argument(
        "--realtime-fallback", action="store_true", help="embed what still fails in real time"
    )
    out.add_argument(
        "--failures",
        help="rows without vectors and their reasons go here, as JSONL "
        "(default: MANIFEST.failures.jsonl)",
    )
    shown = _ShowDefaults
    commands.add_parser(
        "run", parents=[common, plan, out], help="plan, submit, wait, fetch", formatter_class=shown
    )
    commands.add_parser(
        "submit", parents=[common, plan], help="plan and submit, then exit", formatter_class=shown
    )
    commands.add_parser(
        "status", parents=[common], help="the run's jobs and rows", formatter_class=shown
    )
    commands.add_parser(
        "wait", parents=[common], help="wait until every job has ended", formatter_class=shown
    )
    commands.add_parser(
        "fetch", parents=[common, out], help="store ended jobs' vectors", formatter_class=shown
    )
    commands.add_parser(
        "cancel", parents=[common], help="cancel the run's jobs", formatter_class=shown
    )
    return parser


def _recorded(manifest: str) -> tuple[str | None, int | None, str | None, bool]:
    """The model, width, host and ``allow_insecure_http`` an existing manifest records."""
    record = Manifest(manifest)
    try:
        width = record.get("dimensions")
        return (
            record.get("model"),
            int(width) if width else None,
            record.get("base_url"),
            record.get("allow_insecure_http") == "1",
        )
    finally:
        record.close()


def _check_inputs(args: argparse.Namespace) -> None:
    """What can be refused before the manifest exists and before any call."""
    if args.action in ("run", "submit"):
        if args.input is not None:
            source = Path(args.input)
            if not source.is_file():
                raise UsageError(f"input file {args.input} does not exist or is not a file")
            try:
                source.open("rb").close()
            except OSError as exc:
                raise UsageError(f"input file {args.input} cannot be read: {exc}") from None
        elif not Path(args.manifest).exists():
            raise UsageError(f"a new run needs its input file ({args.manifest} does not exist)")
    elif not Path(args.manifest).exists():
        raise UsageError(f"{args.manifest} does not exist: no run to {args.action}")
    if args.action == "run" and getattr(args, "output", None) is None and not args.dry_run:
        raise UsageError("run needs --output (a .npy or .parquet file)")
    if args.action == "fetch" and args.output is None:
        raise UsageError("fetch needs --output (a .npy or .parquet file)")


def _job(args: argparse.Namespace, sink: Sink | None) -> BatchJob:
    """The run, its model and width from the flags, else from the manifest; a flag that
    contradicts the manifest is refused by ``BatchJob`` (it names the manifest). The host is
    the flags' (``--base-url``, ``--region``), else the one the manifest records, so a later
    ``status``, ``wait``, ``fetch`` or ``cancel`` goes where the jobs are; it is recorded."""
    model, dimensions = getattr(args, "model", None), getattr(args, "dimensions", None)
    base_url, insecure = args.base_url, args.allow_insecure_http
    if Path(args.manifest).exists():
        recorded_model, recorded_width, recorded_host, recorded_insecure = _recorded(args.manifest)
        if model is None:
            model = recorded_model
        if dimensions is None and (model is None or model == recorded_model):
            dimensions = recorded_width
        if base_url is None and args.region is None and recorded_host is not None:
            base_url, insecure = recorded_host, insecure or recorded_insecure
    job = BatchJob(
        args.manifest,
        sink,
        model=model or "text-embedding-v4",
        dimensions=dimensions,
        base_url=base_url,
        region=args.region,
        allow_insecure_http=insecure,
        completion_window=getattr(args, "completion_window", "24h"),
        file_limits=FileLimits(max_requests=getattr(args, "max_requests_per_file", 50_000)),
        max_rounds=getattr(args, "max_rounds", 2),
        realtime_fallback=getattr(args, "realtime_fallback", False),
        poll_interval=(args.poll[0], args.poll[1]),
        show_progress=not args.no_progress,
        retry_policy=RetryPolicy(max_retries=args.max_retries),
    )
    job.manifest.set("base_url", job.host_url)
    if insecure:
        job.manifest.set("allow_insecure_http", "1")
    return job


def _prepare(job: BatchJob, args: argparse.Namespace) -> int | None:
    """Plan (if new) or check the input is the planned corpus, show the estimate, and run
    the dry run if asked; an exit status to stop with, or None to go on."""
    if not job.prepared:
        job.prepare(read_texts(args.input, args.jsonl_field))
    elif args.input is not None:
        job.check_corpus(read_texts(args.input, args.jsonl_field))
    if job.finished:
        print(
            f"Already complete: every one of the {plural(job.rows, 'row')} has its vector "
            f"({args.manifest}); nothing is uploaded, submitted or billed again."
        )
        return EXIT_OK if args.dry_run or args.action == "submit" else None
    print(f"Estimate: {job.estimate()}")
    if not args.dry_run:
        return None
    problems = job.dry_run()
    if not problems:
        print(_dry_run_passed(job))
        return EXIT_OK
    print("Dry run found problems:", file=sys.stderr)
    for problem in problems:
        print(f"  {problem}", file=sys.stderr)
    return EXIT_INCOMPLETE


def _dry_run_passed(job: BatchJob) -> str:
    """What a dry run that found no problem checked, and what it did not."""
    files = job.manifest.files()
    checked, in_first = job.dry_run_checked, files[0].lines
    total = sum(record.lines for record in files)
    what = "format and limits only: no inference, no bill"
    if checked == total:
        return f"Dry run: batch-test-model accepted all {plural(total, 'request')} ({what})."
    return (
        f"Dry run: batch-test-model accepted the first {checked} of the "
        f"{plural(in_first, 'request')} in file 1 of {len(files)} ({what}); not checked: "
        f"the other {plural(total - checked, 'request')}."
    )


def _usage(usage: Usage) -> str:
    """A batch run's usage in one phrase, counted in words (``1 request``, ``2 rows``)."""
    return (
        f"{plural(usage.requests, 'request')}, {plural(usage.rows, 'row')}, "
        f"{plural(usage.prompt_tokens, 'token')}, {usage.cost}"
    )


def _report(result: BatchResult, args: argparse.Namespace) -> int:
    """The run's outcome in a few lines: the rows left without vectors are counted here and
    listed, each with the service's reason, in the failures file (never one a line here)."""
    print(
        f"{result.stored_rows}/{plural(result.rows, 'row')} stored; "
        f"{plural(result.uploads, 'upload')}, {plural(result.jobs, 'job')}; "
        f"usage: {_usage(result.usage)} (batch price)"
    )
    if result.complete:
        return EXIT_OK
    report = result.write_failures(args.failures or f"{args.manifest}.failures.jsonl")
    missing = result.rows - result.stored_rows
    print(
        f"{plural(missing, 'row')} left without vectors (NaN or null in the output); "
        f"each row and its reason: {report}"
    )
    return EXIT_INCOMPLETE


def _status(job: BatchJob) -> int:
    for record in job.poll():
        print(
            f"{record.name}: {record.status or record.state} "
            f"{record.completed + record.failed}/{plural(record.total, 'request')} "
            f"({record.failed} failed){' fetched' if record.fetched else ''}"
        )
    counts = job.manifest.counts()
    print(
        f"rows: {counts.get('done_rows', 0)} stored, {counts.get('queued_rows', 0)} queued, "
        f"{counts.get('failed_rows', 0)} failed of {plural(job.rows, 'row')}; "
        f"usage: {_usage(job.usage)}"
    )
    return EXIT_OK


def _act(args: argparse.Namespace) -> int:
    _check_inputs(args)
    sink = _sink(getattr(args, "output", None))
    with _job(args, sink) as job:
        if args.action in ("run", "submit"):
            stop = _prepare(job, args)
            if stop is not None:
                return stop
            if args.action == "submit":
                job.submit()
                return _status(job)
            return _report(job.run(), args)
        if args.action == "status":
            return _status(job)
        if args.action == "wait":
            job.wait()
            return _status(job)
        if args.action == "fetch":
            job.fetch()
            return _report(job.result(), args)
        for batch_id in job.cancel():
            print(f"cancelling {batch_id}")
        return _status(job)


def main(argv: list[str] | None = None) -> int:
    """Run one ``batch`` action; the exit status says how it ended (see the module)."""
    args = _parser().parse_args(argv)
    try:
        return _act(args)
    except KeyboardInterrupt:
        print("interrupted: run the same command again to continue", file=sys.stderr)
        return EXIT_INTERRUPTED
    except ModelStudioError as exc:
        local = exc.status_code is None and isinstance(
            exc, ConfigurationError | InvalidRequestError
        )
        return _fail(args, exc, EXIT_USAGE if local else EXIT_SERVICE)
    except (UsageError, ValueError, OSError) as exc:
        return _fail(args, exc, EXIT_USAGE)


def _fail(args: argparse.Namespace, exc: BaseException, status: int) -> int:
    if args.debug:
        traceback.print_exception(exc)
    message = " ".join(str(exc).split())  # one line
    print(f"error: {message}", file=sys.stderr)
    return status
