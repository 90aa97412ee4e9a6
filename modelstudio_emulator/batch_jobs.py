"""The emulator's batch jobs on a compressed clock: a job is worked out from the clock whenever
it is read (no background thread): it validates, answers its request lines one by one, then
finalizes, writing its output and error files. The HTTP room (``batch.py``) owns the files and
the jobs; this module owns what a job does with time."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from .contract import BATCH_TEST_MODEL
from .faults import BatchFault, batch_error
from .replies import Reply, error_body

__all__ = [
    "TERMINAL",
    "Answer",
    "BatchStats",
    "Job",
    "Outcome",
    "Store",
    "StoredFile",
    "now_epoch",
    "output_line",
]

TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})

Answer = Callable[[dict[str, Any]], tuple[dict[str, Any], int]]
"""A request line's body -> (the real-time endpoint's answer, its tokens); raises ``Reply``."""
Store = Callable[[str, list[bytes]], str]
"""Stores an output file (its name, its lines) and gives its id."""


@dataclass
class BatchStats:
    """Batch API counts since the last reset: a line is billed once, when its job ends."""

    uploads: int = 0
    bytes_uploaded: int = 0
    jobs_created: int = 0
    cancels: int = 0
    downloads: int = 0
    bytes_downloaded: int = 0
    files_deleted: int = 0
    lines_billed: int = 0
    tokens_billed: int = 0


@dataclass
class StoredFile:
    """One file held in memory: an upload or a job's output or error file."""

    id: str
    filename: str
    purpose: str
    data: bytes
    created_at: int

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.data),
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
        }


@dataclass
class Outcome:
    """One request line's answer."""

    custom_id: str
    status: int
    body: dict[str, Any]
    request_id: str
    tokens: int = 0
    http: bool = True
    """False for a failure that is not an HTTP answer (expiry): ``error`` in the line."""


@dataclass
class Job:
    """One batch on the emulator's compressed clock: its lines, its outcomes so far, its status."""

    id: str
    input_file_id: str
    endpoint: str
    window: str
    metadata: dict[str, str] | None
    created_at: int
    window_hours: int
    started: float
    validation_s: float
    run_s: float
    finalizing_s: float
    output_format: str
    output_order: str
    fault: BatchFault | None
    lines: list[dict[str, Any]]
    errors: list[dict[str, Any]]
    model: str | None
    test_model: bool
    status: str = "validating"
    outcomes: list[Outcome] = field(default_factory=list)
    stop_at: int | None = None
    cancel_started: float | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    times: dict[str, int] = field(default_factory=dict)

    def advance(self, now: float, answer: Answer, store: Store, stats: BatchStats) -> None:
        """Bring a job up to ``now``: run the requests now due, then change status as due."""
        if self.status in TERMINAL:
            return
        elapsed = now - self.started
        if self.status == "validating":
            if elapsed < self.validation_s:
                return
            if self.errors:
                self._finish("failed", store, stats)
                return
            self.status = "in_progress"
            self.times["in_progress_at"] = now_epoch()
        total = len(self.lines)
        if self.status == "in_progress":
            running = elapsed - self.validation_s
            due = total if running >= self.run_s else int(total * running / self.run_s)
            if self.stop_at is not None:
                due = min(due, self.stop_at)
            self._run(due, answer)
            if self.fault is not None and self.fault.kind == "expire" and due == self.stop_at:
                self._finish("expired", store, stats)
                return
            if len(self.outcomes) < total:
                return
            self.status = "finalizing"
            self.times["finalizing_at"] = now_epoch()
        if self.status == "finalizing":
            if elapsed >= self.validation_s + self.run_s + self.finalizing_s:
                self._finish("completed", store, stats)
        elif (
            self.status == "cancelling"
            and self.cancel_started is not None
            and now - self.cancel_started >= self.finalizing_s
        ):
            self._finish("cancelled", store, stats)

    def _run(self, due: int, answer: Answer) -> None:
        """Answer request lines up to ``due`` with the real-time endpoint's logic."""
        fault = self.fault
        while len(self.outcomes) < due:
            line = self.lines[len(self.outcomes)]
            custom_id = str(line["custom_id"])
            body = line["body"]
            request_id = str(uuid.uuid4())
            texts = body.get("input")
            texts = [texts] if isinstance(texts, str) else texts
            if self.test_model:
                empty = {
                    "object": "list",
                    "data": [],
                    "model": BATCH_TEST_MODEL,
                    "usage": {"prompt_tokens": 0, "total_tokens": 0},
                    "id": request_id,
                }
                outcome = Outcome(custom_id, 200, empty, request_id)
            elif (
                fault is not None
                and fault.kind == "line_error"
                and fault.match
                and isinstance(texts, list)
                and any(isinstance(t, str) and fault.match in t for t in texts)
            ):
                envelope = error_body(fault.code or "InternalError", fault.message or "")
                outcome = Outcome(custom_id, fault.status or 500, envelope, request_id)
            else:
                try:
                    payload, tokens = answer(body)
                    payload["id"] = request_id
                    outcome = Outcome(custom_id, 200, payload, request_id, tokens)
                except Reply as reply:
                    outcome = Outcome(custom_id, reply.status, reply.body, request_id)
            self.outcomes.append(outcome)

    def _finish(self, status: str, store: Store, stats: BatchStats) -> None:
        """End a job: write its output and error files and bill its successful lines."""
        self.status = status
        self.times[f"{status}_at"] = now_epoch()
        if status == "failed":
            return
        done = list(self.outcomes)
        good = [o for o in done if o.status == 200]
        bad = [o for o in done if o.status != 200]
        fault = self.fault
        if status == "expired" and fault is not None and fault.rest != "dropped":
            _, code, message = batch_error("batch_expired")
            for line in self.lines[len(done) :]:
                envelope = error_body(code, message)
                bad.append(Outcome(str(line["custom_id"]), 400, envelope, "", http=False))
        if self.output_order == "shuffled":
            rng = random.Random(self.id)
            rng.shuffle(good)
            rng.shuffle(bad)
        if good:
            rows = [output_line(self.output_format, o) for o in good]
            if fault is not None and fault.kind == "malformed_output":
                rows[0] = rows[0][: len(rows[0]) // 2]
            self.output_file_id = store(f"{self.id}_success.jsonl", rows)
        if bad:
            rows = [output_line(self.output_format, o) for o in bad]
            self.error_file_id = store(f"{self.id}_error.jsonl", rows)
        if not self.test_model:
            stats.lines_billed += len(good)
            stats.tokens_billed += sum(o.tokens for o in good)

    def to_json(self) -> dict[str, Any]:
        """The job as ``GET /batches/{id}`` answers it."""
        validated = self.status not in ("validating", "failed")
        succeeded = sum(o.status == 200 for o in self.outcomes)
        times = self.times
        return {
            "id": self.id,
            "object": "batch",
            "endpoint": self.endpoint,
            "model": self.model,
            "errors": (
                {"object": "list", "data": self.errors}
                if self.status == "failed" and self.errors
                else None
            ),
            "input_file_id": self.input_file_id,
            "completion_window": self.window,
            "status": self.status,
            "output_file_id": self.output_file_id,
            "error_file_id": self.error_file_id,
            "created_at": self.created_at,
            "in_progress_at": times.get("in_progress_at"),
            "expires_at": self.created_at + self.window_hours * 3600,
            "finalizing_at": times.get("finalizing_at"),
            "completed_at": times.get("completed_at"),
            "failed_at": times.get("failed_at"),
            "expired_at": times.get("expired_at"),
            "cancelling_at": times.get("cancelling_at"),
            "cancelled_at": times.get("cancelled_at"),
            "request_counts": {
                "total": len(self.lines) if validated else 0,
                "completed": succeeded,
                "failed": len(self.outcomes) - succeeded,
            },
            "metadata": self.metadata,
        }


def now_epoch() -> int:
    """Seconds since the epoch, as the API's timestamps."""
    return int(time.time())


def output_line(output_format: str, outcome: Outcome) -> bytes:
    """One output or error file line in the chosen format (numpy rows written by orjson)."""
    line: dict[str, Any]
    if output_format == "flat":
        line = {
            "custom_id": outcome.custom_id,
            "status_code": outcome.status,
            "body": outcome.body,
        }
    else:
        line = {"id": "batch_req_" + uuid.uuid4().hex, "custom_id": outcome.custom_id}
        error = outcome.body.get("error") if outcome.status != 200 else None
        if isinstance(error, dict) and (output_format == "error_object" or not outcome.http):
            line["response"] = None
            line["error"] = {"code": error.get("code"), "message": error.get("message")}
        else:
            body: object = outcome.body
            if output_format == "string_body":
                body = orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY).decode()
            line["response"] = {
                "status_code": outcome.status,
                "request_id": outcome.request_id,
                "body": body,
            }
            line["error"] = None
    return orjson.dumps(line, option=orjson.OPT_SERIALIZE_NUMPY)
