"""Ended jobs' output and error files -> vectors in the sink and states in the manifest.

Rows are marked stored only after the sink flushed them. A sink that starts empty (a new
file, a new process's array) gets every stored row again from the jobs' outputs (downloads
are free); rows stored by no job (the real-time fallback's) are then reported, never assumed.
"""

from __future__ import annotations

from collections.abc import Callable

from .manifest import RETRY, JobRecord, Manifest
from .output import parse_output_line
from .service import BatchService
from .sinks import Sink
from .submission import TERMINAL

__all__ = ["Collector"]


class Collector:
    """Puts ended jobs' rows into one sink, each row once."""

    def __init__(
        self,
        manifest: Manifest,
        sink: Sink,
        service: Callable[[], BatchService],
        *,
        width: int,
        store_every: int,
        event: Callable[[str, str], None],
    ) -> None:
        self.manifest = manifest
        self.sink = sink
        self._service = service
        self._width = width
        self.store_every = store_every
        self._event = event
        self._empty_sink = False
        """The sink started empty in this process: stored rows must be downloaded again."""
        self._loaded: set[str] = set()
        """Jobs whose output this process has put into the sink."""
        self.at_risk: set[int] = set()
        """Requests stored before the sink started empty, not yet stored again."""

    def open(self, rows: int) -> None:
        """Open the sink; when it starts empty, every stored row is at risk until found."""
        if self.sink.open(rows, self._width):
            self._empty_sink = True
            self.at_risk = {r.start for r in self.manifest.requests(state="done")}

    def fetch(self, rows: int) -> None:
        """Download ended jobs' output and error files into the sink and the manifest."""
        self.open(rows)
        for job in self.manifest.jobs():
            if job.status not in TERMINAL:
                continue
            if job.fetched and (not self._empty_sink or job.name in self._loaded):
                continue
            self._fetch_job(job)
            self._loaded.add(job.name)
            self.manifest.set_fetched(job.name)
        self.report_lost()

    def report_lost(self) -> None:
        """Rows stored in a sink that is gone and in no job's output: failed, to redo."""
        if self.at_risk:
            reason = "stored by an earlier run in an output that is gone"
            lost = [r for r in self.manifest.requests(state="done") if r.start in self.at_risk]
            self.manifest.unmark_done((r.start, reason, RETRY) for r in lost)
            self.at_risk.clear()

    def _fetch_job(self, job: JobRecord) -> None:
        wanted = {r.start: r.stop for r in self.manifest.requests(file=job.file)}
        seen: set[int] = set()
        done: list[tuple[int, int]] = []
        failed: list[tuple[int, str, int]] = []

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
            for raw in self._service().lines(file_id):
                try:
                    line = parse_output_line(raw, self._width)
                except (ValueError, TypeError):
                    continue  # a malformed line: its request counts as missing below
                if wanted.get(line.start) != line.stop or line.start in seen:
                    continue
                if line.vectors is not None:
                    self.sink.write(line.start, line.vectors)
                    self.at_risk.discard(line.start)
                    done.append((line.start, line.tokens))
                    seen.add(line.start)
                else:
                    failed.append((line.start, line.reason or "error", line.retry))
                if len(done) + len(failed) >= self.store_every:
                    store()
        store()
        missing = [
            (r.start, f"no answer in the output (job {job.status})", RETRY)
            for r in self.manifest.requests(state="queued", file=job.file)
        ]
        self.manifest.mark_failed(missing)
