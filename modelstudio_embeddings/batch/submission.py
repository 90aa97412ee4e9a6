"""The calls that cost money or create state at the service, each recorded as an intent in the
manifest before it is made and reconciled against the service's lists after a crash: upload
a file once, create its job once, and read the jobs' states back."""

from __future__ import annotations

import time
from collections.abc import Callable

import orjson
from openai.types import Batch

from .limits import BATCH_ENDPOINT, BATCH_TEST_MODEL, TEST_MAX_BYTES, TEST_MAX_LINES
from .manifest import FINAL, JobRecord, Manifest
from .requests import read_lines
from .service import BatchService

__all__ = ["TERMINAL", "Submission"]

TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})


class Submission:
    """Uploads and jobs of one manifest, through one ``BatchService`` made when first needed."""

    def __init__(
        self,
        manifest: Manifest,
        service: Callable[[], BatchService],
        *,
        model: str,
        completion_window: str,
        event: Callable[[str, str], None],
    ) -> None:
        self.manifest = manifest
        self._service = service
        self._model = model
        self.completion_window = completion_window
        self._event = event
        self.dry_run_lines = 0
        """The request lines the last dry run validated (the first file's first lines)."""

    @property
    def service(self) -> BatchService:
        return self._service()

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
                self.record(job.name, self.service.retrieve(job.batch_id))
        return self.manifest.jobs()

    def cancel(self) -> list[str]:
        """Cancel every job not yet ended (requests already done are kept and billed)."""
        cancelled = []
        for job in self.poll():
            if job.batch_id is not None and job.status not in TERMINAL | {"cancelling"}:
                self.record(job.name, self.service.cancel(job.batch_id))
                cancelled.append(job.batch_id)
        return cancelled

    def record(self, name: str, job: Batch) -> None:
        """Keep what the service says of a job; a job that failed validation fails its rows."""
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
            self.manifest.mark_failed((r.start, f"validation: {reason}", FINAL) for r in queued)

    def dry_run(self, interval: float, timeout: float = 120.0) -> list[str]:
        """Validate the first file's first lines with ``batch-test-model`` (no inference, no
        bill; at most its 100 lines and 1 MB); the service's validation errors, empty when
        those lines passed. ``dry_run_lines`` is then how many lines were checked."""
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
        self.dry_run_lines = len(lines)
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
            time.sleep(interval)
            job = self.service.retrieve(job.id)
        if job.status == "completed":
            return []
        errors = job.errors.data if job.errors is not None and job.errors.data else []
        found = [f"line {e.line}: {e.code}: {e.message}" for e in errors]
        return found or [f"the test job ended {job.status}"]

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

    def _create(self, file: str, file_id: str) -> None:
        existing = self.manifest.job_for(file)
        if existing is not None and existing.state == "created":
            return
        ds_name = file.removesuffix(".jsonl")[:100]
        if existing is not None:  # an intent: the call may have reached the service
            found = self.service.find_job(ds_name)
            if found is not None:
                self.record(existing.name, found)
                return
        name = existing.name if existing is not None else ds_name
        self.manifest.add_job_intent(name, file)
        metadata = {
            "ds_name": ds_name,
            "ds_description": f"modelstudio-embeddings {self._model} run {self.manifest.run_id}",
        }
        job = self.service.create(file_id, self.completion_window, metadata, BATCH_ENDPOINT)
        self._event("create_sent", name)
        self.record(name, job)
        self._event("created", name)
