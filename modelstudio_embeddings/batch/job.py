"""A resumable Batch API run: texts -> request files -> uploads -> jobs -> vectors in a sink.

``BatchJob.run(texts)`` does it all and can be called again after a crash, Ctrl-C or reboot
with the same manifest: it continues where the manifest says the run is, never uploading a
file or creating a job the service already has (an intent recorded before each call is
reconciled against ``files.list``/``batches.list``), never paying twice for a row (a request
is only sent again when the service answered it without vectors). Failed requests are sent
again in a follow-up job (``max_rounds``), a line one row's refusal failed split row by row,
or through the real-time ``EmbeddingClient`` (``realtime_fallback``); what still fails is
reported row by row with the service's reason.

The rooms: ``requests`` plans files, ``submission`` makes the service calls, ``collect``
stores outputs, ``followup`` decides what is sent again; this class runs them in order.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.config import resolve_config
from ..core.errors import ConfigurationError
from ..core.retry import RetryPolicy
from ..core.usage import Usage
from ..embeddings.models import DEFAULT_MODEL, ModelSpec, resolve_dimensions, resolve_model
from .collect import Collector
from .dedupe import Deduplicator, RowSink
from .fingerprint import Fingerprint, fingerprint
from .followup import FollowUps
from .limits import DEFAULT_FILE_LIMITS, FileLimits
from .manifest import JobRecord, Manifest
from .requests import write_request_files
from .results import BatchResult, CostEstimate, RowFailure, texts_in_row_order
from .service import BatchService
from .sinks import ArraySink, Sink
from .submission import TERMINAL, Submission

if TYPE_CHECKING:
    from tqdm import tqdm

    from ..embeddings.client import EmbeddingClient

__all__ = ["BatchJob", "BatchResult", "CostEstimate", "RowFailure", "check_window"]

_WINDOW = re.compile(r"^(\d+)([hd])$")
WINDOW_HOURS = (24, 336)
"""The completion windows the service accepts: 24h to 336h (or 1d to 14d)."""


def check_window(window: str) -> str:
    """``window`` when the service accepts it, else a ConfigurationError saying which do."""
    match = _WINDOW.match(window) if isinstance(window, str) else None
    hours = int(match.group(1)) * (24 if match.group(2) == "d" else 1) if match else 0
    low, high = WINDOW_HOURS
    if not low <= hours <= high:
        raise ConfigurationError(
            f"completion_window={window!r} is not one the Batch API accepts: {low}h to "
            f"{high}h (or 1d to 14d)."
        )
    return window


class BatchJob:
    """One corpus through the Batch API, recorded in the SQLite file ``manifest``.

    ``sink`` receives the vectors (default: an ``ArraySink`` in memory). ``model`` and
    ``dimensions`` are fixed for the manifest's life; the key and host resolve as for
    ``EmbeddingClient`` (arguments, then ``DASHSCOPE_*``; the Batch API serves Beijing).
    ``completion_window`` goes to each job; ``file_limits`` caps each request file;
    ``max_rounds`` bounds the follow-up jobs for failed requests and ``realtime_fallback``
    embeds what is left through the real-time client. ``poll_interval`` is the first and the
    longest wait between polls (back-off while nothing moves). ``on_event(step, detail)`` is
    called after each step (``upload_sent``, ``uploaded``, ``create_sent``, ``created``,
    ``stored``) -- a hook for logs and for tests that kill the process there; ``store_every``
    output lines are flushed and recorded at a time. ``retry_policy`` governs the Files and
    Batches calls as it does real-time requests (default ``RetryPolicy()``).
    """

    def __init__(
        self,
        manifest: str | Path,
        sink: Sink | None = None,
        *,
        model: str = DEFAULT_MODEL,
        dimensions: int | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        region: str | None = None,
        workspace_id: str | None = None,
        allow_insecure_http: bool = False,
        completion_window: str = "24h",
        file_limits: FileLimits = DEFAULT_FILE_LIMITS,
        max_rounds: int = 2,
        realtime_fallback: bool = False,
        poll_interval: tuple[float, float] = (5.0, 60.0),
        show_progress: bool = False,
        on_event: Callable[[str, str], None] | None = None,
        store_every: int = 1000,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        self.spec: ModelSpec = resolve_model(model)
        if self.spec.batch_price_cny_per_1k_tokens is None:
            raise ConfigurationError(
                f"{model} is not offered by the Batch API (no batch price in the model table)."
            )
        self.dimensions = resolve_dimensions(self.spec, dimensions)
        self.completion_window = check_window(completion_window)
        self._config = resolve_config(
            api_key=api_key,
            base_url=base_url,
            region=region,
            workspace_id=workspace_id,
            allow_insecure_http=allow_insecure_http,
        )
        self._allow_insecure_http = allow_insecure_http
        self.manifest = Manifest(manifest)
        self._check_settings()
        self.sink: Sink = sink if sink is not None else ArraySink()
        self.file_limits = file_limits
        self.realtime_fallback = realtime_fallback
        self.poll_interval = poll_interval
        self.show_progress = show_progress
        self._on_event = on_event
        self._service: BatchService | None = None
        self.retry_policy = retry_policy
        self.submission = Submission(
            self.manifest,
            lambda: self.service,
            model=self.spec.name,
            completion_window=self.completion_window,
            event=self._event,
        )
        self.collector = Collector(
            self.manifest,
            RowSink(self.sink, self.manifest),
            lambda: self.service,
            width=self.dimensions,
            store_every=store_every,
            event=self._event,
        )
        self.followups = FollowUps(
            self.manifest,
            self.collector,
            file_limits=file_limits,
            max_rounds=max_rounds,
            realtime=self._realtime_client,
        )

    # --- the pieces ------------------------------------------------------------------------

    @property
    def service(self) -> BatchService:
        if self._service is None:
            self._service = BatchService(
                self._config.api_key, self._config.compatible_url, retry_policy=self.retry_policy
            )
        return self._service

    @property
    def max_rounds(self) -> int:
        return self.followups.max_rounds

    @property
    def store_every(self) -> int:
        """Output lines between a sink flush and the manifest commit marking them stored."""
        return self.collector.store_every

    def close(self) -> None:
        if self._service is not None:
            self._service.close()
        self.manifest.close()

    def __enter__(self) -> BatchJob:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def prepared(self) -> bool:
        return self.manifest.get("prepared") == "1"

    def prepare(self, texts: Iterable[str]) -> int:
        """Stream ``texts`` into request files (once: a prepared run checks they are the
        texts it planned), each distinct text once (``dedupe``); the number of rows."""
        if self.prepared:
            self.check_corpus(texts)
            return self.rows
        self.manifest.reset_plan()
        digest = Fingerprint()
        distinct = Deduplicator(self.manifest)
        units = write_request_files(
            distinct.through(digest.through(texts)),
            self.spec,
            self.dimensions,
            self.manifest,
            self.file_limits,
            distinct.row_of,
        )
        self.manifest.set("fingerprint", digest.hexdigest())
        if distinct.rows == 0:
            raise ConfigurationError("No texts to embed.")
        self.manifest.set("units", units)
        self.manifest.set("rows", distinct.rows)
        self.manifest.set("prepared", "1")
        return distinct.rows

    def check_corpus(self, texts: Iterable[str]) -> None:
        """Refuse texts other than the ones this manifest was planned for."""
        if fingerprint(texts) != self.manifest.get("fingerprint"):
            raise ConfigurationError(
                f"{self.manifest.path} was planned for other texts: one manifest per corpus "
                "(pass the same texts to resume, or a new manifest)."
            )

    @property
    def rows(self) -> int:
        """The corpus's rows (every row gets a vector, a repeated text too)."""
        return int(self.manifest.get("rows") or 0)

    @property
    def units(self) -> int:
        """The distinct texts: what is sent and billed."""
        return int(self.manifest.get("units") or self.rows)

    def estimate(self) -> CostEstimate:
        """Rows, requests, files and the estimated cost at the batch and real-time prices."""
        tokens = self.manifest.estimated_tokens()
        counts = self.manifest.counts()
        return CostEstimate(
            rows=self.rows,
            requests=sum(v for k, v in counts.items() if k.endswith("_requests")),
            files=len(self.manifest.files()),
            estimated_tokens=tokens,
            batch_cost_cny=self.spec.cost_cny(tokens, batch=True),
            realtime_cost_cny=self.spec.cost_cny(tokens),
            distinct_rows=self.units,
        )

    def submit(self) -> list[JobRecord]:
        """Upload every request file not yet uploaded and create its job (each once)."""
        return self.submission.submit()

    def poll(self) -> list[JobRecord]:
        """Refresh every job not yet ended from the service."""
        return self.submission.poll()

    def wait(self, timeout: float | None = None) -> list[JobRecord]:
        """Poll with back-off until every job has ended; a bar of requests done if asked."""
        deadline = None if timeout is None else time.monotonic() + timeout
        interval, longest = self.poll_interval
        bar = self._bar()
        last = -1
        try:
            while True:
                jobs = self.poll()
                done = sum(j.completed + j.failed for j in jobs if not j.fetched)
                if bar is not None:
                    bar.total = sum(j.total for j in jobs if not j.fetched) or None
                    bar.n = done
                    bar.refresh()
                if all(j.status in TERMINAL for j in jobs):
                    return jobs
                if deadline is not None and time.monotonic() > deadline:
                    return jobs
                interval = self.poll_interval[0] if done != last else min(interval * 1.5, longest)
                last = done
                time.sleep(interval)
        finally:
            if bar is not None:
                bar.close()

    def fetch(self) -> None:
        """Download ended jobs' output and error files into the sink and the manifest."""
        self.collector.fetch(self.units)

    def run(self, texts: Iterable[str] | None = None) -> BatchResult:
        """Everything: prepare, submit, wait, fetch, follow-up rounds, fallback, result. The
        sink is closed (a Parquet file written, nulls for rows left without vectors)."""
        if not self.prepared and texts is None:
            raise ConfigurationError("This manifest has no plan yet: pass the texts.")
        if texts is not None:
            self.prepare(texts)
        while True:
            self.submit()
            self.wait()
            self.fetch()
            if not self.followups.next_round():
                break
        if self.realtime_fallback:
            self.followups.fallback(self.units)
        self.sink.close(self.texts() if self._sink_wants_texts() else None)
        return self.result()

    def result(self) -> BatchResult:
        """The run as the manifest has it now."""
        failures = self._failures()
        return BatchResult(
            rows=self.rows,
            stored_rows=self.rows - len(failures),
            failures=failures,
            usage=self._usage(len(failures)),
            uploads=sum(f.file_id is not None for f in self.manifest.files()),
            jobs=sum(j.batch_id is not None for j in self.manifest.jobs()),
            sink=self.sink,
        )

    def _failures(self) -> list[RowFailure]:
        """Every row without a vector (a repeated text shares its first row's fate)."""
        failures: list[RowFailure] = []
        deduplicated = self.manifest.deduplicated
        for request in self.manifest.requests():
            if request.state == "done":
                continue
            reason = request.reason or "not answered yet"
            rows = list(range(request.start, request.stop))
            if deduplicated:
                rows = self.manifest.rows_of(request.start, request.stop)
                rows += [row for row, _ in self.manifest.copies_of(request.start, request.stop)]
            failures.extend(RowFailure(row, reason) for row in rows)
        return sorted(failures, key=lambda failure: failure.row) if deduplicated else failures

    @property
    def usage(self) -> Usage:
        """Requests sent to batch jobs, rows stored and billed tokens at the batch price."""
        return self._usage(len(self._failures()))

    def _usage(self, failed_rows: int) -> Usage:
        tokens = self.manifest.billed_tokens()
        jobs = self.manifest.jobs()
        return Usage(
            model=self.spec.name,
            requests=sum(j.total for j in jobs),
            failed_requests=sum(j.failed for j in jobs),
            rows=self.rows - failed_rows,
            prompt_tokens=tokens,
            cost_cny=self.spec.cost_cny(tokens, batch=True),
        )

    def cancel(self) -> list[str]:
        """Cancel every job not yet ended (requests already done are kept and billed)."""
        return self.submission.cancel()

    def texts(self) -> Iterator[str]:
        """The run's texts in row order, read back from its request files (the distinct
        texts) and the manifest (the rows repeating one)."""
        return texts_in_row_order(self.manifest)

    def dry_run(self, timeout: float = 120.0) -> list[str]:
        """Validate the first file's first lines with ``batch-test-model`` (no inference, no
        bill; at most 100 lines and 1 MB: ``dry_run_checked`` says how many); the service's
        validation errors, empty when those lines passed. The rest is not validated."""
        return self.submission.dry_run(self.poll_interval[0], timeout)

    @property
    def dry_run_checked(self) -> int:
        """The request lines the last ``dry_run`` validated."""
        return self.submission.dry_run_lines

    @property
    def finished(self) -> bool:
        """Every planned request has its rows stored: nothing is left to submit or pay."""
        counts = self.manifest.counts()
        states = {key for key, value in counts.items() if key.endswith("_requests") and value}
        return self.prepared and states == {"done_requests"}

    @property
    def host_url(self) -> str:
        """The host this run's Files and Batches calls go to."""
        return self._config.host_url

    # --- internals -------------------------------------------------------------------------

    def _check_settings(self) -> None:
        """A manifest belongs to one model and width: refuse to mix."""
        wanted = {"model": self.spec.name, "dimensions": str(self.dimensions)}
        for key, value in wanted.items():
            have = self.manifest.get(key)
            if have is None:
                self.manifest.set(key, value)
            elif have != value:
                raise ConfigurationError(
                    f"{self.manifest.path} records {key}={have}, not {value}: one manifest "
                    "per corpus and settings."
                )

    def _event(self, name: str, detail: str) -> None:
        if self._on_event is not None:
            self._on_event(name, detail)

    def _realtime_client(self) -> EmbeddingClient:
        from ..embeddings.client import EmbeddingClient

        return EmbeddingClient(
            self.spec.name,
            dimensions=self.dimensions,
            api_key=self._config.api_key,
            base_url=self._config.host_url,
            allow_insecure_http=self._allow_insecure_http,
        )

    def _sink_wants_texts(self) -> bool:
        return bool(getattr(self.sink, "with_text", False))

    def _bar(self) -> tqdm[Any] | None:
        if not self.show_progress:
            return None
        from ..core.progress import new_bar

        return new_bar(None, "Batch requests", "req")
