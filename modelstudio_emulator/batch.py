"""The OpenAI-compatible Batch API on the emulator: files in memory, jobs on a compressed clock.

``POST/GET /compatible-mode/v1/files``, ``GET/DELETE /files/{id}``, ``GET /files/{id}/content``,
``POST/GET /compatible-mode/v1/batches``, ``GET /batches/{id}``, ``POST /batches/{id}/cancel``.
A job's status is worked out from the clock whenever it is read (no background thread): it
validates, runs its requests one by one (``request_counts`` grows), finalizes and completes.
Each request line is answered by the real-time endpoint's own logic (``serve_body``).
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections import deque
from dataclasses import asdict, fields, replace
from email.message import Message
from typing import Any, Protocol
from urllib.parse import parse_qs

from .batch_jobs import TERMINAL, BatchStats, Job, StoredFile, now_epoch
from .contract import (
    BATCH_ENDPOINT,
    BATCH_LIMITS,
    BATCH_TEST_MODEL,
    BATCH_TEST_URL,
    BATCHES_PATH,
    EMBEDDING_MODELS,
    FILES_PATH,
    BatchLimits,
)
from .embeddings import EmbeddingSettings, serve_body
from .faults import BatchFault, batch_error
from .replies import Reply, RequestRecord, envelope, error_body

__all__ = ["BATCH_SETTINGS", "OUTPUT_FORMATS", "BatchService", "BatchStats", "StoredFile"]


class Emulator(EmbeddingSettings, Protocol):
    """What the Batch API room uses of the emulator: its key, its log, and the settings with
    which each request line is answered as the real-time endpoints would."""

    api_key: str

    def _record(self, record: RequestRecord, rows: int, tokens: int) -> None: ...


class Handler(Protocol):
    """What the room uses of the HTTP handler of one request."""

    headers: Message

    def _send_bytes(self, status: int, data: bytes, content_type: str) -> None: ...


OUTPUT_FORMATS = ("openai", "error_object", "flat", "string_body")
"""``openai``: error lines carry ``response.status_code`` != 200 and the error body (``error``
only for non-HTTP failures such as expiry); ``error_object``: every error line is
``response: null, error: {code, message}``; ``flat``: ``{custom_id, status_code, body}``;
``string_body``: as ``openai`` with ``response.body`` a JSON string, not an object."""
OUTPUT_ORDERS = ("shuffled", "input")
BATCH_SETTINGS = frozenset(
    {
        "batch_validation_seconds",
        "batch_seconds_per_request",
        "batch_duration",
        "batch_finalizing_seconds",
        "batch_output_format",
        "batch_output_order",
        "batch_limits",
    }
)
_WINDOW = re.compile(r"^([1-9][0-9]*)([hd])$")
_JSONL = "application/octet-stream"


class BatchService:
    """The emulator's Batch API state; ``emulator.batch``. Settings via ``emulator.configure``."""

    def __init__(self, emulator: Emulator) -> None:
        self._emulator = emulator
        self._lock = threading.RLock()
        self.batch_validation_seconds = 0.05
        self.batch_seconds_per_request = 0.01
        self.batch_duration: float | None = None
        """If set, a job's requests take this long in all, whatever their number."""
        self.batch_finalizing_seconds = 0.05
        self.batch_output_format = "openai"
        self.batch_output_order = "shuffled"
        self.batch_limits: dict[str, int] | None = None
        """Overrides of ``BATCH_LIMITS`` fields, e.g. ``{"max_lines": 5}``."""
        self._files: dict[str, StoredFile] = {}
        self._jobs: dict[str, Job] = {}
        self._script: deque[BatchFault] = deque()
        self._stats = BatchStats()
        self._refusal: tuple[int, dict[str, Any]] | None = None

    # --- control -----------------------------------------------------------------------------

    def configure(self, **settings: Any) -> None:
        unknown = set(settings) - BATCH_SETTINGS
        if unknown:
            raise TypeError(f"unknown batch settings: {sorted(unknown)}")
        if settings.get("batch_output_format", "openai") not in OUTPUT_FORMATS:
            raise ValueError(f"batch_output_format must be one of {OUTPUT_FORMATS}")
        if settings.get("batch_output_order", "input") not in OUTPUT_ORDERS:
            raise ValueError(f"batch_output_order must be one of {OUTPUT_ORDERS}")
        names = {f.name for f in fields(BatchLimits)}
        if set(settings.get("batch_limits") or {}) - names:
            raise TypeError(f"batch_limits keys are among {sorted(names)}")
        with self._lock:
            for name, value in settings.items():
                setattr(self, name, value)

    def script(self, *faults: BatchFault) -> None:
        """Queue faults for the next jobs created, one each."""
        with self._lock:
            self._script.extend(faults)

    def refuse_calls(
        self, status: int | None, code: str = "InternalError", message: str = "An internal error"
    ) -> None:
        """Answer every Files and Batches call with this error (a 5xx or a 429 that every
        retry meets) until called with ``None`` or reset."""
        with self._lock:
            self._refusal = None if status is None else (status, error_body(code, message))

    def reset(self) -> None:
        """Forget every file, job, queued fault, refusal and count (settings stay)."""
        with self._lock:
            self._refusal = None
            self._files.clear()
            self._jobs.clear()
            self._script.clear()
            self._stats = BatchStats()

    @property
    def stats(self) -> BatchStats:
        with self._lock:
            return replace(self._stats)

    @property
    def limits(self) -> BatchLimits:
        return replace(BATCH_LIMITS, **(self.batch_limits or {}))

    def file_content(self, file_id: str) -> bytes:
        """A stored file's bytes (not counted as a download)."""
        with self._lock:
            return self._files[file_id].data

    def retrieve(self, batch_id: str) -> dict[str, Any]:
        """A job as ``GET /batches/{id}`` would answer it."""
        with self._lock:
            job = self._jobs[batch_id]
            self._advance(job, time.monotonic())
            return job.to_json()

    # --- HTTP --------------------------------------------------------------------------------

    def handle(self, handler: Handler, method: str, raw_path: str, body: bytes) -> None:
        """Answer one Batch API request and record it in the emulator's log."""
        path, _, query = raw_path.partition("?")
        started = time.time()
        headers = {
            k.lower(): ("<redacted>" if k.lower() == "authorization" else v)
            for k, v in handler.headers.items()
        }
        summary: dict[str, Any] | None = None
        content_type = "application/json"
        try:
            if handler.headers.get("Authorization", "") != f"Bearer {self._emulator.api_key}":
                raise Reply(401, envelope("invalid_api_key"))
            refusal = self._refusal
            if refusal is not None:
                raise Reply(*refusal)
            status, answer, summary = self._route(method, path, query, handler, body)
            if isinstance(answer, bytes):
                data, content_type = answer, _JSONL
            else:
                data = json.dumps(answer).encode()
        except Reply as reply:
            status, data = reply.status, json.dumps(reply.body).encode()
        record = RequestRecord(
            path=path,
            protocol="batch",
            model=None,
            texts=None,
            rows=0,
            dimensions=None,
            encoding_format=None,
            text_type=None,
            instruct=None,
            output_type=None,
            status=status,
            fault=(summary or {}).pop("_fault", None),
            started=started,
            finished=time.time(),
            headers=headers,
            body=summary,
        )
        self._emulator._record(record, 0, 0)
        handler._send_bytes(status, data, content_type)

    def _route(
        self, method: str, path: str, query: str, handler: Handler, body: bytes
    ) -> tuple[int, dict[str, Any] | bytes, dict[str, Any] | None]:
        params = {k: v[-1] for k, v in parse_qs(query).items()}
        if path.startswith(FILES_PATH):
            rest = path[len(FILES_PATH) :].strip("/").split("/") if path != FILES_PATH else []
            if method == "POST" and not rest:
                return self._upload(handler.headers.get("Content-Type", ""), body)
            if method == "GET" and not rest:
                return 200, self._list_files(params), None
            if method == "GET" and len(rest) == 1:
                return 200, self._file(rest[0]).to_json(), None
            if method == "GET" and len(rest) == 2 and rest[1] == "content":
                return 200, self._download(rest[0]), None
            if method == "DELETE" and len(rest) == 1:
                return 200, self._delete(rest[0]), None
        else:
            rest = path[len(BATCHES_PATH) :].strip("/").split("/") if path != BATCHES_PATH else []
            if method == "POST" and not rest:
                return self._create(_json_object(body))
            if method == "GET" and not rest:
                return 200, self._list_batches(params), None
            if method == "GET" and len(rest) == 1:
                return 200, self.retrieve_or_404(rest[0]), None
            if method == "POST" and len(rest) == 2 and rest[1] == "cancel":
                return 200, self._cancel(rest[0]), None
        raise Reply(404, error_body("NotFound", f"No route {method} {path}"))

    # --- files -------------------------------------------------------------------------------

    def _advance(self, job: Job, now: float) -> None:
        job.advance(now, self._answer, self._store_output, self._stats)

    def _answer(self, body: dict[str, Any]) -> tuple[dict[str, Any], int]:
        payload, _rows, tokens = serve_body(self._emulator, body, False, None)
        return payload, tokens

    def _store_output(self, name: str, rows: list[bytes]) -> str:
        stored = StoredFile(
            "file-batch_output-" + uuid.uuid4().hex,
            name,
            "batch_output",
            b"\n".join(rows) + b"\n",
            now_epoch(),
        )
        self._files[stored.id] = stored
        return stored.id

    def _upload(self, content_type: str, body: bytes) -> tuple[int, dict[str, Any], dict[str, Any]]:
        parts = _multipart(content_type, body)
        purpose = parts.get("purpose", (None, b""))[1].decode(errors="replace")
        if "file" not in parts:
            raise _batch_reply("missing_file")
        filename, data = parts["file"]
        summary = {"filename": filename, "purpose": purpose, "bytes": len(data)}
        if purpose != "batch":
            raise _batch_reply("invalid_purpose", purpose=purpose)
        _check_jsonl(data, self.limits)
        stored = StoredFile(
            "file-batch-" + uuid.uuid4().hex, filename or "upload.jsonl", "batch", data, now_epoch()
        )
        with self._lock:
            self._files[stored.id] = stored
            self._stats.uploads += 1
            self._stats.bytes_uploaded += len(data)
        return 200, stored.to_json(), summary

    def _file(self, file_id: str) -> StoredFile:
        with self._lock:
            stored = self._files.get(file_id)
        if stored is None:
            raise _batch_reply("file_not_found", file_id=file_id)
        return stored

    def _download(self, file_id: str) -> bytes:
        stored = self._file(file_id)
        with self._lock:
            self._stats.downloads += 1
            self._stats.bytes_downloaded += len(stored.data)
        return stored.data

    def _delete(self, file_id: str) -> dict[str, Any]:
        self._file(file_id)
        with self._lock:
            self._files.pop(file_id, None)
            self._stats.files_deleted += 1
        return {"id": file_id, "object": "file", "deleted": True}

    def _list_files(self, params: dict[str, str]) -> dict[str, Any]:
        with self._lock:
            data = [f.to_json() for f in self._files.values()]
        if "purpose" in params:
            data = [f for f in data if f["purpose"] == params["purpose"]]
        return {"object": "list", "data": data, "has_more": False}

    # --- jobs --------------------------------------------------------------------------------

    def _create(self, request: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, Any]]:
        summary = dict(request)
        limits = self.limits
        endpoint = request.get("endpoint")
        if endpoint != BATCH_ENDPOINT:
            raise _batch_reply("invalid_endpoint", endpoint=endpoint)
        window = request.get("completion_window")
        hours = _window_hours(window, limits)
        metadata = _metadata(request.get("metadata"), limits)
        file_id = str(request.get("input_file_id"))
        stored = self._file(file_id)
        if stored.purpose != "batch":
            raise _batch_reply("wrong_file_purpose", file_id=file_id)
        lines = _check_jsonl(stored.data, limits)
        errors, model = _validate(lines, len(stored.data), limits)
        test_model = model == BATCH_TEST_MODEL
        with self._lock:
            now = time.monotonic()
            if test_model:
                running = 0
                for other in self._jobs.values():
                    self._advance(other, now)
                    running += other.test_model and other.status not in TERMINAL
                if running >= limits.test_max_jobs:
                    raise _batch_reply("test_model_busy", limit=limits.test_max_jobs)
            fault = self._script.popleft() if self._script else None
            if fault is not None and fault.kind == "none":
                fault = None
            if fault is not None and fault.kind == "fail_validation":
                _, code, message = batch_error("validation_failed")
                errors = [_validation_error(fault.code or code, fault.message or message, None)]
            total = len(lines)
            if test_model:
                run_s = 0.0
            elif self.batch_duration is not None:
                run_s = float(self.batch_duration)
            else:
                run_s = total * float(self.batch_seconds_per_request)
            job = Job(
                id="batch_" + str(uuid.uuid4()),
                input_file_id=file_id,
                endpoint=endpoint,
                window=str(window),
                metadata=metadata,
                created_at=now_epoch(),
                window_hours=hours,
                started=now,
                validation_s=float(self.batch_validation_seconds),
                run_s=run_s,
                finalizing_s=float(self.batch_finalizing_seconds),
                output_format=self.batch_output_format,
                output_order=self.batch_output_order,
                fault=fault,
                lines=lines,
                errors=errors,
                model=model,
                test_model=test_model,
            )
            if fault is not None and fault.kind in ("hold", "expire"):
                job.stop_at = int(total * (fault.fraction if fault.fraction is not None else 0.5))
            self._jobs[job.id] = job
            self._stats.jobs_created += 1
            summary["_fault"] = fault.kind if fault else None
            return 200, job.to_json(), summary

    def retrieve_or_404(self, batch_id: str) -> dict[str, Any]:
        with self._lock:
            if batch_id not in self._jobs:
                raise _batch_reply("batch_not_found", batch_id=batch_id)
            return self.retrieve(batch_id)

    def _cancel(self, batch_id: str) -> dict[str, Any]:
        with self._lock:
            job = self._jobs.get(batch_id)
            if job is None:
                raise _batch_reply("batch_not_found", batch_id=batch_id)
            now = time.monotonic()
            self._advance(job, now)
            if job.status in ("validating", "in_progress"):
                job.status = "cancelling"
                job.cancel_started = now
                job.times["cancelling_at"] = now_epoch()
                self._stats.cancels += 1
            elif job.status != "cancelling":
                raise _batch_reply("cannot_cancel", status=job.status)
            return job.to_json()

    def _list_batches(self, params: dict[str, str]) -> dict[str, Any]:
        with self._lock:
            now = time.monotonic()
            jobs = sorted(self._jobs.values(), key=lambda j: j.started, reverse=True)
            for job in jobs:
                self._advance(job, now)
            if "after" in params:
                ids = [j.id for j in jobs]
                jobs = jobs[ids.index(params["after"]) + 1 :] if params["after"] in ids else []
            given = params.get("limit", "20")
            limit = max(1, min(100, int(given))) if given.isdigit() else 20
            page = [j.to_json() for j in jobs[:limit]]
        return {
            "object": "list",
            "data": page,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
            "has_more": len(jobs) > limit,
        }


# --- helpers ------------------------------------------------------------------------------------


def _batch_reply(name: str, **details: object) -> Reply:
    status, code, message = batch_error(name, **details)
    return Reply(status, error_body(code, message))


def _validation_error(code: str, message: str, line: int | None) -> dict[str, Any]:
    return {"code": code, "message": message, "line": line, "param": None}


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise Reply(400, error_body("InvalidParameter", "Request body is not a JSON object."))
    return data


def _multipart(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]]:
    """The parts of a multipart/form-data body: name -> (filename, bytes)."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not content_type.startswith("multipart/form-data") or match is None:
        raise _batch_reply("missing_file")
    delimiter = b"--" + match.group(1).encode()
    parts: dict[str, tuple[str | None, bytes]] = {}
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, content = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        disposition = head.decode(errors="replace")
        name = re.search(r'name="([^"]*)"', disposition)
        filename = re.search(r'filename="([^"]*)"', disposition)
        if name is not None:
            parts[name.group(1)] = (
                filename.group(1) if filename else None,
                content.removesuffix(b"\r\n"),
            )
    return parts


def _check_jsonl(data: bytes, limits: BatchLimits) -> list[dict[str, Any]]:
    """The file's request lines, or the upload's 400: size, lines, UTF-8, one object a line."""
    if len(data) > limits.max_file_bytes:
        raise _batch_reply("file_too_large", size=len(data), limit=limits.max_file_bytes)
    raw = [line for line in data.split(b"\n") if line.strip()]
    if len(raw) > limits.max_lines:
        raise _batch_reply("too_many_lines", count=len(raw), limit=limits.max_lines)
    lines: list[dict[str, Any]] = []
    for number, line in enumerate(raw, 1):
        if len(line) > limits.max_line_bytes:
            raise _batch_reply(
                "line_too_large", line=number, size=len(line), limit=limits.max_line_bytes
            )
        try:
            value = json.loads(line.decode("utf-8"))
        except UnicodeDecodeError:
            raise _batch_reply("not_utf8") from None
        except ValueError:
            value = None
        if not isinstance(value, dict):
            raise _batch_reply("not_jsonl", line=number)
        lines.append(value)
    if not lines:
        raise _batch_reply("empty_file")
    return lines


def _validate(
    lines: list[dict[str, Any]], size: int, limits: BatchLimits
) -> tuple[list[dict[str, Any]], str | None]:
    """The validating stage: per-line shape, one model, unique custom_ids (errors, model)."""
    errors: list[dict[str, Any]] = []

    def add(name: str, line: int | None, **details: object) -> None:
        _, code, message = batch_error(name, line=line, **details)
        errors.append(_validation_error(code, message, line))

    first: str | None = None
    seen: set[str] = set()
    for number, line in enumerate(lines, 1):
        body = line.get("body")
        custom_id = line.get("custom_id")
        model = body.get("model") if isinstance(body, dict) else None
        if not isinstance(custom_id, str) or not custom_id:
            add("invalid_line", number, detail="custom_id must be a non-empty string")
        elif line.get("method") != "POST":
            add("invalid_line", number, detail="method must be 'POST'")
        elif not isinstance(model, str):
            add("invalid_line", number, detail="body must be an object with a model")
        elif first is not None and model != first:
            add("mixed_models", number, model=model, first=first)
        elif custom_id in seen:
            add("duplicate_custom_id", number, custom_id=custom_id)
        elif line.get("url") not in (
            (BATCH_ENDPOINT, BATCH_TEST_URL) if model == BATCH_TEST_MODEL else (BATCH_ENDPOINT,)
        ):
            add("url_mismatch", number, url=line.get("url"), endpoint=BATCH_ENDPOINT)
        if isinstance(custom_id, str):
            seen.add(custom_id)
        if first is None and isinstance(model, str):
            first = model
    if first is not None and first != BATCH_TEST_MODEL and first not in EMBEDDING_MODELS:
        add("model_not_supported", None, model=first)
    if first == BATCH_TEST_MODEL and (
        len(lines) > limits.test_max_lines or size > limits.test_max_file_bytes
    ):
        add(
            "test_model_file_too_large",
            None,
            lines=limits.test_max_lines,
            size=limits.test_max_file_bytes,
        )
    return errors, first


def _window_hours(window: object, limits: BatchLimits) -> int:
    """``24h``..``336h`` (or ``1d``..``14d``) as hours, or the 400."""
    match = _WINDOW.match(window) if isinstance(window, str) else None
    hours = 0
    if match is not None:
        hours = int(match.group(1)) * (24 if match.group(2) == "d" else 1)
    if not limits.min_window_hours <= hours <= limits.max_window_hours:
        raise _batch_reply(
            "invalid_window",
            window=window,
            low=limits.min_window_hours,
            high=limits.max_window_hours,
        )
    return hours


def _metadata(value: object, limits: BatchLimits) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise _batch_reply("invalid_metadata", detail="an object of strings")
    if len(value.get("ds_name", "")) > limits.ds_name_chars:
        raise _batch_reply("invalid_metadata", detail=f"ds_name over {limits.ds_name_chars}")
    if len(value.get("ds_description", "")) > limits.ds_description_chars:
        raise _batch_reply(
            "invalid_metadata", detail=f"ds_description over {limits.ds_description_chars}"
        )
    return dict(value)


def is_batch_path(path: str) -> bool:
    """True for the Batch API's paths (files and batches), query string ignored."""
    path = path.split("?", 1)[0]
    return any(path == p or path.startswith(p + "/") for p in (FILES_PATH, BATCHES_PATH))


def stats_json(service: BatchService) -> dict[str, Any]:
    """The counters as JSON for ``GET /_emulator/batch_stats``."""
    return asdict(service.stats)
