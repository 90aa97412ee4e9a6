"""A resumable Batch API run: texts -> request files -> uploads -> jobs -> vectors in a sink.

``BatchJob.run(texts)`` does it all and can be called again after a crash, Ctrl-C or reboot
with the same manifest: it continues where the manifest says the run is, never uploading a
file or creating a job the service already has (an intent recorded before each call is
reconciled against ``files.list``/``batches.list``), never paying twice for a row (a request
is only sent again when the service answered it without vectors). Failed requests are sent
again in a follow-up job (``max_rounds``), or through the real-time ``EmbeddingClient``
(``realtime_fallback``); what still fails is reported row by row with the service's reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import orjson

from ..config import resolve_config, resolve_dimensions, resolve_model
from ..errors import ConfigurationError, ModelStudioError
from ..models import DEFAULT_MODEL, ModelSpec
from ..usage import Usage
from .fingerprint import Fingerprint, fingerprint
from .limits import (
    BATCH_ENDPOINT,
    BATCH_TEST_MODEL,
    DEFAULT_FILE_LIMITS,
    TEST_MAX_BYTES,
    TEST_MAX_LINES,
    FileLimits,
)
from .manifest import JobRecord, Manifest, RequestRecord
from .output import parse_output_line
from .requests import read_lines, write_followup_files, write_request_files
from .service import BatchService
from .sinks import ArraySink, Sink

if TYPE_CHECKING:
    from tqdm import tqdm

__all__ = ["BatchJob", "BatchResult", "CostEstimate", "RowFailure"]

TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})


@dataclass(frozen=True)
class RowFailure:
    """A row that has no vector, and the service's reason."""

    row: int
    reason: str


@dataclass(frozen=True)
class CostEstimate:
    """What a run will cost before it is submitted (tokens estimated conservatively)."""

    rows: int
    requests: int
    files: int
    estimated_tokens: int
    batch_cost_cny: float
    realtime_cost_cny: float

    def __str__(self) -> str:
        return (
            f"{self.rows} rows in {self.requests} requests, {self.files} file(s); "
            f"~{self.estimated_tokens} tokens (estimate, usually high): "
            f"~{self.batch_cost_cny:.4f} CNY at the batch price "
            f"(~{self.realtime_cost_cny:.4f} CNY real-time)"
        )


@dataclass(frozen=True)
class BatchResult:
    """The end of a run: how many rows have vectors, which do not and why, and the cost."""

    rows: int
    stored_rows: int
    failures: list[RowFailure]
    usage: Usage
    uploads: int
    jobs: int
    sink: Sink

    @property
    def complete(self) -> bool:
        return self.stored_rows == self.rows and not self.failures


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
    output lines are flushed and recorded at a time.
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
    ) -> None:
        self.spec: ModelSpec = resolve_model(model)
        if self.spec.batch_price_cny_per_1k_tokens is None:
            raise ConfigurationError(
                f"{model} is not offered by the Batch API (no batch price in the model table)."
            )
        self.dimensions = resolve_dimensions(self.spec, dimensions)
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
        self.completion_window = completion_window
        self.file_limits = file_limits
        self.max_rounds = max_rounds
        self.realtime_fallback = realtime_fallback
        self.poll_interval = poll_interval
        self.show_progress = show_progress
        self._on_event = on_event
        self.store_every = store_every
        """Output lines between a sink flush and the manifest commit marking them stored."""
        self._service: BatchService | None = None
        self._empty_sink = False
        """The sink started empty in this process: stored rows must be downloaded again."""
        self._loaded: set[str] = set()
        """Jobs whose output this process has put into the sink."""
        self._at_risk: set[int] = set()
        """Requests stored before the sink started empty, not yet stored again."""

    # --- the pieces ------------------------------------------------------------------------

    @property
    def service(self) -> BatchService:
        if self._service is None:
            self._service = BatchService(self._config.api_key, self._config.compatible_url)
        return self._service

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
        """Stream ``texts`` into request files (once: a prepared run ignores them); rows."""
        if self.prepared:
            return int(self.manifest.get("rows") or 0)
        self.manifest.reset_plan()
        digest = Fingerprint()
        rows = write_request_files(
            digest.through(texts), self.spec, self.dimensions, self.manifest, self.file_limits
        )
        self.manifest.set("fingerprint", digest.hexdigest())
        if rows == 0:
            raise ConfigurationError("No texts to embed.")
        self.manifest.set("rows", rows)
        self.manifest.set("prepared", "1")
        return rows

    @property
    def rows(self) -> int:
        return int(self.manifest.get("rows") or 0)

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
        )

    def submit(self) -> list[JobRecord]:
        """Upload every request file not yet uploaded and create its job (each once)."""
        for record in self.manifest.files():
            job = self.manifest.job_for(record.name)
            if job is not None and job.state == "created":
                continue
            file_id = self._upload(record.name)
            self._create(record.name, file_id)
        return self.manifest.jobs()

    def poll(self) -> list[JobRecord]:
        """Refresh every job not yet ended from the service."""
        for job in self.manifest.jobs():
            if job.batch_id is not None and job.status not in TERMINAL:
                self._record_job(job.name, self.service.retrieve(job.batch_id))
        return self.manifest.jobs()

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
        if self.sink.open(self.rows, self.dimensions):
            self._empty_sink = True
            self._at_risk = {r.start for r in self.manifest.requests(state="done")}
        for job in self.manifest.jobs():
            if job.status not in TERMINAL:
                continue
            if job.fetched and (not self._empty_sink or job.name in self._loaded):
                continue
            self._fetch_job(job)
            self._loaded.add(job.name)
            self.manifest.set_fetched(job.name)
        if self._at_risk:
            # Rows stored in a sink that is gone and in no job's output (the real-time
            # fallback's): say so rather than leave them unwritten.
            reason = "stored by an earlier run in an output that is gone"
            self.manifest.unmark_done((start, reason, False) for start in sorted(self._at_risk))
            self._at_risk.clear()

    def run(self, texts: Iterable[str] | None = None) -> BatchResult:
        """Everything: prepare, submit, wait, fetch, follow-up rounds, fallback, result."""
        if not self.prepared:
            if texts is None:
                raise ConfigurationError("This manifest has no plan yet: pass the texts.")
            self.prepare(texts)
        elif texts is not None and fingerprint(texts) != self.manifest.get("fingerprint"):
            raise ConfigurationError(
                f"{self.manifest.path} was planned for other texts: one manifest per corpus "
                "(pass the same texts to resume, or a new manifest)."
            )
        while True:
            self.submit()
            self.wait()
            self.fetch()
            if not self._next_round():
                break
        if self.realtime_fallback:
            self._fallback()
        result = self.result()
        if result.stored_rows == result.rows:
            self.sink.close(self.texts() if self._sink_wants_texts() else None)
        return result

    def result(self) -> BatchResult:
        """The run as the manifest has it now."""
        failures = [
            RowFailure(row, request.reason or "not answered yet")
            for request in self.manifest.requests()
            if request.state != "done"
            for row in range(request.start, request.stop)
        ]
        counts = self.manifest.counts()
        return BatchResult(
            rows=self.rows,
            stored_rows=counts.get("done_rows", 0),
            failures=failures,
            usage=self.usage,
            uploads=sum(f.file_id is not None for f in self.manifest.files()),
            jobs=sum(j.batch_id is not None for j in self.manifest.jobs()),
            sink=self.sink,
        )

    @property
    def usage(self) -> Usage:
        """Requests sent to batch jobs, rows stored and billed tokens at the batch price."""
        tokens = self.manifest.billed_tokens()
        jobs = self.manifest.jobs()
        counts = self.manifest.counts()
        return Usage(
            model=self.spec.name,
            requests=sum(j.total for j in jobs),
            failed_requests=sum(j.failed for j in jobs),
            rows=counts.get("done_rows", 0),
            prompt_tokens=tokens,
            cost_cny=self.spec.cost_cny(tokens, batch=True),
        )

    def cancel(self) -> list[str]:
        """Cancel every job not yet ended (requests already done are kept and billed)."""
        cancelled = []
        for job in self.poll():
            if job.batch_id is not None and job.status not in TERMINAL | {"cancelling"}:
                self._record_job(job.name, self.service.cancel(job.batch_id))
                cancelled.append(job.batch_id)
        return cancelled

    def texts(self) -> Iterator[str]:
        """The run's texts in row order, read back from its request files."""
        # Original files hold every request in order; follow-ups only copies.
        for record in self.manifest.files():
            if "-part-" not in record.name:
                continue
            for _, line in read_lines(record.path):
                body = orjson.loads(line)["body"]
                yield from body["input"]

    def dry_run(self, timeout: float = 120.0) -> list[str]:
        """Validate the first file's first lines with ``batch-test-model`` (no inference, no
        bill); the service's validation errors, empty when the file passed."""
        first = self.manifest.files()[0]
        lines: list[bytes] = []
        size = 0
        for _, line in read_lines(first.path):
            request = orjson.loads(line)
            request["body"]["model"] = BATCH_TEST_MODEL
            data = orjson.dumps(request) + b"\n"
            if len(lines) == TEST_MAX_LINES or size + len(data) > TEST_MAX_BYTES:
                break
            lines.append(data)
            size += len(data)
        path = self.manifest.work_dir / f"{self.manifest.run_id}-dry-run.jsonl"
        path.write_bytes(b"".join(lines))
        file_id = self.service.upload(path, path.name)
        job = self.service.create(
            file_id,
            self.completion_window,
            {"ds_name": f"{self.manifest.run_id}-dry-run"},
            BATCH_ENDPOINT,
        )
        deadline = time.monotonic() + timeout
        while job.status not in TERMINAL and time.monotonic() < deadline:
            time.sleep(self.poll_interval[0])
            job = self.service.retrieve(job.id)
        if job.status == "completed":
            return []
        errors = job.errors.data if job.errors is not None and job.errors.data else []
        found = [f"line {e.line}: {e.code}: {e.message}" for e in errors]
        return found or [f"the test job ended {job.status}"]

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

    def _upload(self, name: str) -> str:
        record = self.manifest.file(name)
        if record.file_id is not None:
            return record.file_id
        if record.state == "uploading":  # a call may have reached the service: look first
            found = self.service.find_file(name)
            if found is not None:
                self.manifest.set_file(name, "uploaded", found)
                return found
        self.manifest.set_file(name, "uploading")
        file_id = self.service.upload(record.path, name)
        self._event("upload_sent", name)
        self.manifest.set_file(name, "uploaded", file_id)
        self._event("uploaded", name)
        return file_id

    def _ds_name(self, file: str) -> str:
        return file.removesuffix(".jsonl")[:100]

    def _create(self, file: str, file_id: str) -> None:
        existing = self.manifest.job_for(file)
        if existing is not None and existing.state == "created":
            return
        ds_name = self._ds_name(file)
        if existing is not None:  # an intent: the call may have reached the service
            found = self.service.find_job(ds_name)
            if found is not None:
                self._record_job(existing.name, found)
                return
        name = existing.name if existing is not None else ds_name
        self.manifest.add_job_intent(name, file)
        metadata = {
            "ds_name": ds_name,
            "ds_description": f"modelstudio-embeddings {self.spec.name} run {self.manifest.run_id}",
        }
        job = self.service.create(file_id, self.completion_window, metadata, BATCH_ENDPOINT)
        self._event("create_sent", name)
        self._record_job(name, job)
        self._event("created", name)

    def _record_job(self, name: str, job: object) -> None:
        from openai.types import Batch

        assert isinstance(job, Batch)
        counts = job.request_counts
        self.manifest.update_job(
            name,
            batch_id=job.id,
            status=job.status,
            output_file_id=job.output_file_id,
            error_file_id=job.error_file_id,
            counts=(
                (counts.total, counts.completed, counts.failed) if counts is not None else (0, 0, 0)
            ),
        )
        if job.status == "failed":
            errors = job.errors.data if job.errors is not None and job.errors.data else []
            reason = "; ".join(f"{e.code}: {e.message}" for e in errors) or "job failed"
            queued = self.manifest.requests(state="queued", file=self.manifest.job(name).file)
            self.manifest.mark_failed((r.start, f"validation: {reason}", False) for r in queued)

    def _fetch_job(self, job: JobRecord) -> None:
        wanted = {r.start for r in self.manifest.requests(file=job.file)}
        seen: set[int] = set()
        done: list[tuple[int, int]] = []
        failed: list[tuple[int, str, bool]] = []

        def store() -> None:
            self.sink.flush()
            self.manifest.mark_done(done)
            self.manifest.mark_failed(failed)
            self._event("stored", f"{job.name}:{len(seen)}")
            done.clear()
            failed.clear()

        for file_id in (job.output_file_id, job.error_file_id):
            if file_id is None:
                continue
            for raw in self.service.lines(file_id):
                try:
                    line = parse_output_line(raw, self.dimensions)
                except (ValueError, TypeError):
                    continue  # a malformed line: its request counts as missing below
                if line.start not in wanted or line.start in seen:
                    continue
                if line.vectors is not None:
                    self.sink.write(line.start, line.vectors)
                    self._at_risk.discard(line.start)
                    done.append((line.start, line.tokens))
                    seen.add(line.start)
                else:
                    failed.append((line.start, line.reason or "error", line.retryable))
                if len(done) + len(failed) >= self.store_every:
                    store()
        store()
        missing = [
            (r.start, f"no answer in the output (job {job.status})", True)
            for r in self.manifest.requests(state="queued", file=job.file)
        ]
        self.manifest.mark_failed(missing)

    def _next_round(self) -> bool:
        """Queue retryable failures in a follow-up file; False when there is nothing to do."""
        if any(j.status not in TERMINAL for j in self.manifest.jobs()):
            return True
        if any(
            f.state != "uploaded" or self.manifest.job_for(f.name) is None
            for f in self.manifest.files()
        ):
            return True  # a follow-up written but not yet submitted (a crash in between)
        failures = self.manifest.retryable_failures()
        round_number = int(self.manifest.get("round") or 0) + 1
        if not failures or round_number > self.max_rounds:
            return False
        write_followup_files(self.manifest, failures, round_number, self.file_limits)
        self.manifest.set("round", round_number)
        return True

    def _fallback(self) -> None:
        """Embed what is still failed through the real-time client."""
        from ..client import EmbeddingClient

        failed = self.manifest.requests(state="failed")
        if not failed:
            return
        self.sink.open(self.rows, self.dimensions)
        texts = self._texts_of(failed)
        with EmbeddingClient(
            self.spec.name,
            dimensions=self.dimensions,
            api_key=self._config.api_key,
            base_url=self._config.host_url,
            allow_insecure_http=self._allow_insecure_http,
        ) as client:
            for request in failed:
                try:
                    vectors = client.embed(texts[request.start])
                except ModelStudioError as exc:
                    reason = f"{request.reason}; real-time: {exc.message}"
                    self.manifest.mark_failed([(request.start, reason, False)])
                    continue
                self.sink.write(request.start, vectors)
                self._at_risk.discard(request.start)
                self.sink.flush()
                self.manifest.mark_done([(request.start, 0)])

    def _texts_of(self, requests: list[RequestRecord]) -> dict[int, list[str]]:
        by_file: dict[str, set[str]] = {}
        for request in requests:
            by_file.setdefault(request.file, set()).add(request.custom_id)
        out: dict[int, list[str]] = {}
        for name, wanted in by_file.items():
            for cid, line in read_lines(self.manifest.file(name).path, wanted):
                out[int(cid[1:].split("-")[0])] = list(orjson.loads(line)["body"]["input"])
        return out

    def _sink_wants_texts(self) -> bool:
        return bool(getattr(self.sink, "with_text", False))

    def _bar(self) -> tqdm[NoReturn] | None:
        if not self.show_progress:
            return None
        from tqdm.auto import tqdm as auto_tqdm

        return auto_tqdm(total=None, desc="Batch requests", unit="req", dynamic_ncols=True)
