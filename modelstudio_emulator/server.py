"""The emulator: a real HTTP server on loopback that serves Model Studio's embedding endpoints
as the service contract describes, with limits, error bodies and scripted faults.

Compatible mode: ``POST /compatible-mode/v1/embeddings``. Native mode:
``POST /api/v1/services/embeddings/text-embedding/text-embedding``. Rerank (``rerank.py``):
``POST /compatible-api/v1/reranks`` and ``POST /api/v1/services/rerank/text-rerank/text-rerank``.
Multimodal (``multimodal.py``):
``POST /api/v1/services/embeddings/multimodal-embedding/multimodal-embedding``.
Control (no auth):
``GET /_emulator/stats``, ``GET /_emulator/log``, ``POST /_emulator/config``,
``POST /_emulator/script``, ``POST /_emulator/reset``. The Batch API (files and batches) is
in ``batch.py``, with ``POST /_emulator/batch_script`` and ``GET /_emulator/batch_stats``.

This module is the shared server (settings, limits, faults, the log, routing); each family's
endpoints are a room of their own that imports nothing of it: ``embeddings.py`` (one request
body answered), ``rerank.py``, ``batch.py``, all answering with ``replies.py``.
"""

from __future__ import annotations

import json
import random
import socket
import threading
import time
import uuid
from collections import deque
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import orjson

from . import multimodal, rerank
from .batch import BATCH_SETTINGS, BatchService, is_batch_path, stats_json
from .contract import COMPATIBLE_PATH, NATIVE_PATH, RERANK_NATIVE_PATH
from .contract import EMBEDDING_MODELS as MODELS
from .embeddings import CONTENT_FAULTS, TAMPERING_FAULTS, serve_body, texts_of
from .faults import CONTRACT_ERRORS, BatchFault, Fault
from .limits import RateLimiter, RateLimits, parse_rate_limits
from .quotas import QUOTAS_PATH, quotas_reply
from .replies import (
    HtmlReply,
    Reply,
    RequestRecord,
    Throttled,
    envelope,
    error_body,
    fault_reply,
    flat_error,
    items_of,
    parse_body,
    sleep_until,
)

__all__ = ["Emulator", "EmulatorStats", "RequestRecord"]

_SETTINGS = (
    "latency_ms",
    "latency_jitter_ms",
    "max_in_flight",
    "requests_per_second",
    "base64_policy",
    "moderation_marker",
    "too_long_marker",
    "rows_per_request",
    "compatible_extensions",
    "rerank_long_items",
    "rate_limits",
    "quotas",
    "multimodal_answer",
)
_PLAIN_429: dict[str, Any] = {
    "error": {"message": "Too Many Requests", "type": "rate_limit", "param": None, "code": None}
}
"""A gateway's 429: which limit fired is not told."""
_NATIVE_PATHS = frozenset({NATIVE_PATH, RERANK_NATIVE_PATH, multimodal.MULTIMODAL_PATH})
_SERVICE_PATHS = frozenset({COMPATIBLE_PATH, NATIVE_PATH, multimodal.MULTIMODAL_PATH})


@dataclass
class EmulatorStats:
    """Counts since the last reset."""

    requests: int = 0
    responses_by_status: dict[int, int] = field(default_factory=dict)
    peak_in_flight: int = 0
    in_flight: int = 0
    rows_embedded: int = 0
    prompt_tokens: int = 0
    documents_reranked: int = 0
    rerank_tokens: int = 0
    throttled_by_kind: dict[str, int] = field(default_factory=dict)
    """429s by the limit that refused: "requests", "tokens", "burst" (the account's rate
    limits; ``requests_per_second`` counts as "requests") and "in_flight" (``max_in_flight``)."""
    tokens_accepted: int = 0
    """Tokens of the requests the rate limits let through (usage.prompt_tokens' count)."""


class Emulator:
    """A Model Studio embeddings service on 127.0.0.1, for tests, demos and benchmarks."""

    def __init__(
        self,
        api_key: str = "sk-emulator",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency_ms: float = 0.0,
        latency_jitter_ms: float = 0.0,
        max_in_flight: int | None = None,
        requests_per_second: float | None = None,
        base64_policy: str = "ignore",
        moderation_marker: str | None = "[[BLOCKED]]",
        rows_per_request: dict[str, int] | None = None,
        compatible_extensions: str = "ignore",
        rerank_long_items: str = "truncate",
        rate_limits: RateLimits = None,
    ) -> None:
        """``rate_limits``: the account's per-model limits (see ``RateLimitSpec``): one spec for
        every model, or ``{model: spec}`` with ``"*"`` for the rest; None turns them off."""
        self.api_key = api_key
        self._host = host
        self._port = port
        self.latency_ms = latency_ms
        self.latency_jitter_ms = latency_jitter_ms
        """Each answer's latency is ``latency_ms`` plus or minus up to this, uniformly."""
        self.max_in_flight = max_in_flight
        self.requests_per_second = requests_per_second
        self.base64_policy = base64_policy
        self.moderation_marker = moderation_marker
        self.too_long_marker: str | None = None
        """A row holding it is refused as too long, as when the service's tokenizer counts
        more than the client's estimate (which the emulator's own count never does)."""
        self.rows_per_request = rows_per_request
        self.compatible_extensions = compatible_extensions
        self.rerank_long_items = rerank_long_items
        self.rate_limits = parse_rate_limits(rate_limits)
        self.quotas: object = None
        """What ``GET /api/v1/quotas`` serves (``quotas.py``): None answers 404."""
        self.multimodal_answer = "embeddings"
        """The multimodal answer's shape: ``"embeddings"`` (a list placed by ``index``) or
        ``"embedding"``, as older answers were: a one-item or fused request's one vector as
        ``output.embedding`` (``multimodal.ANSWER_SHAPES``)."""
        self._limiter = RateLimiter(self.rate_limits)
        self._lock = threading.Lock()
        self._script: deque[Fault] = deque()
        self._generation = 0  # one more at every reset
        self._log: list[RequestRecord] = []
        self._stats = EmulatorStats()
        self._bucket = max(1.0, float(requests_per_second or 0))
        self._bucket_time = time.monotonic()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

        self.batch: BatchService = BatchService(self)
        """The Batch API's files, jobs, faults (``batch.script``) and counts (``batch.stats``)."""

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Emulator:
        """Listen on the host and port (0 = a free port) and serve in a background thread."""
        if self._server is None:
            self._server = _Server((self._host, self._port), _Handler, self)
            self._thread = threading.Thread(
                target=self._server.serve_forever, name="modelstudio-emulator", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every open connection."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.close_all()
            server.server_close()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def host_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the emulator is not running: call start()")
        host, port = self._server.server_address[:2]
        host_text = host.decode() if isinstance(host, bytes) else str(host)
        return f"http://{host_text}:{port}"

    @property
    def base_url(self) -> str:
        """The compatible-mode base URL to give a client."""
        return self.host_url + "/compatible-mode/v1"

    @property
    def rerank_base_url(self) -> str:
        """The compatible rerank base URL (``/compatible-api/v1``; post to ``/reranks``)."""
        return self.host_url + "/compatible-api/v1"

    # --- control -----------------------------------------------------------------------------

    def configure(self, **settings: Any) -> None:
        """Change settings while running; only the given ones change. New ``rate_limits``
        replace the old ones whole and start with full buckets."""

        unknown = set(settings) - set(_SETTINGS) - BATCH_SETTINGS
        if unknown:
            raise TypeError(f"unknown emulator settings: {sorted(unknown)}")
        if "rate_limits" in settings:  # checked before anything changes
            settings["rate_limits"] = parse_rate_limits(settings["rate_limits"])
        if settings.get("multimodal_answer", "embeddings") not in multimodal.ANSWER_SHAPES:
            raise ValueError(f"multimodal_answer must be one of {multimodal.ANSWER_SHAPES}")
        self.batch.configure(**{k: v for k, v in settings.items() if k in BATCH_SETTINGS})
        settings = {k: v for k, v in settings.items() if k not in BATCH_SETTINGS}
        with self._lock:
            for name, value in settings.items():
                setattr(self, name, value)
            if "rate_limits" in settings:
                self._limiter = RateLimiter(self.rate_limits)
            if "requests_per_second" in settings:  # a new limit starts with a full bucket
                self._bucket = max(1.0, float(self.requests_per_second or 0))
                self._bucket_time = time.monotonic()

    def script(self, *faults: Fault) -> None:
        """Queue faults for the next requests, one each, in arrival order."""
        with self._lock:
            self._script.extend(faults)

    def clear_script(self) -> None:
        with self._lock:
            self._script.clear()

    def reset(self) -> None:
        """Clear the log, the stats and the script, and refill the rate limits' buckets (the
        settings stay). A request still being answered from before the reset (a slow one its
        client gave up on) is not recorded in the new log."""
        with self._lock:
            self._generation += 1
            self._limiter.reset()
            self._script.clear()
            self._log.clear()
            in_flight = self._stats.in_flight
            self._stats = EmulatorStats(in_flight=in_flight)
        self.batch.reset()

    @property
    def log(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._log)

    @property
    def stats(self) -> EmulatorStats:
        with self._lock:
            copy = EmulatorStats(**asdict(self._stats))
            copy.responses_by_status = dict(self._stats.responses_by_status)
            copy.throttled_by_kind = dict(self._stats.throttled_by_kind)
            return copy

    # --- request handling (called from handler threads) ---------------------------------------

    def _admit(self) -> tuple[str, dict[str, Any]] | None:
        """Count a request in, or which limit refuses it (``max_in_flight`` or
        ``requests_per_second``) and the 429 body."""
        with self._lock:
            self._stats.requests += 1
            if self.max_in_flight is not None and self._stats.in_flight >= self.max_in_flight:
                return "in_flight", envelope("burst_limited")
            if self.requests_per_second:
                now = time.monotonic()
                capacity = max(1.0, float(self.requests_per_second))
                self._bucket = min(
                    capacity,
                    self._bucket + (now - self._bucket_time) * self.requests_per_second,
                )
                self._bucket_time = now
                if self._bucket < 1.0:
                    return "requests", envelope("rate_limited")
                self._bucket -= 1.0
            self._stats.in_flight += 1
            self._stats.peak_in_flight = max(self._stats.peak_in_flight, self._stats.in_flight)
            return None

    def _within_limits(self, model: str, tokens: int) -> tuple[str, dict[str, Any]] | None:
        """Take a valid request from the account's rate limits, or which one refuses it and
        the 429 body (no Retry-After: the service sends none)."""
        with self._lock:
            kind = self._limiter.admit(model, tokens)
            if kind is None:
                self._stats.tokens_accepted += tokens
                return None
            spec = self._limiter.spec_for(model)
            if spec is not None and spec.plain_429:
                return kind, _PLAIN_429
            if kind == "requests":
                return kind, envelope("rate_limited")
            if kind == "burst":
                return kind, envelope("burst_rate_limited")
            allocated = spec is not None and spec.token_message == "allocated"
            return kind, envelope("allocated_quota_exceeded" if allocated else "quota_exceeded")

    def _leave(self) -> None:
        with self._lock:
            self._stats.in_flight -= 1

    def _next_fault(self, texts: list[str] | None) -> Fault | None:
        with self._lock:
            for position, fault in enumerate(self._script):
                if fault.match is None or (
                    texts is not None and any(fault.match in t for t in texts)
                ):
                    del self._script[position]
                    return None if fault.kind == "none" else fault
                if fault.match is None:
                    break
        return None

    def _record(
        self, record: RequestRecord, rows: int, tokens: int, generation: int | None = None
    ) -> None:
        with self._lock:
            if generation is not None and generation != self._generation:
                return
            self._log.append(record)
            by_status = self._stats.responses_by_status
            by_status[record.status] = by_status.get(record.status, 0) + 1
            if record.status == 429 and (record.fault or "").startswith(_THROTTLED):
                kind = (record.fault or "")[len(_THROTTLED) :]
                by_kind = self._stats.throttled_by_kind
                by_kind[kind] = by_kind.get(kind, 0) + 1
            if record.status == 200 and record.path in rerank.RERANK_PATHS:
                self._stats.documents_reranked += rows
                self._stats.rerank_tokens += tokens
            elif record.status == 200:
                self._stats.rows_embedded += rows
                self._stats.prompt_tokens += tokens

    def _row_limit(self, model: str) -> int:
        overrides = self.rows_per_request or {}
        return overrides.get(model, MODELS[model].rows_per_request)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256  # a burst of new connections must not overflow the backlog

    def __init__(self, address: tuple[str, int], handler: type, emulator: Emulator) -> None:
        self.emulator = emulator
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up is normal under load and cancellation: stay quiet."""
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            super().handle_error(request, client_address)

    def close_all(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out as two writes; with Nagle's algorithm the second waits for the
    # client's delayed ACK (40 ms on Linux), which made every small answer, a 429 above all,
    # arrive 40 ms late on a kept-alive connection.
    disable_nagle_algorithm = True
    server: _Server
    _pending: dict[str, Any] | None = None
    _pending_headers: dict[str, str]
    _pending_counts: tuple[int, int] = (0, 0)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read the request log instead."""

    # --- routing -----------------------------------------------------------------------------

    def do_GET(self) -> None:

        emulator = self.server.emulator
        if self.path == "/_emulator/stats":
            self._send_json(200, asdict(emulator.stats))
        elif self.path == "/_emulator/log":
            self._send_json(200, {"log": [asdict(r) for r in emulator.log]})
        elif self.path == "/_emulator/batch_stats":
            self._send_json(200, stats_json(emulator.batch))
        elif is_batch_path(self.path):
            emulator.batch.handle(self, "GET", self.path, b"")
        elif self.path.split("?", 1)[0] == QUOTAS_PATH:
            authorized = self.headers.get("Authorization", "") == f"Bearer {emulator.api_key}"
            self._send_json(*quotas_reply(emulator.quotas, authorized))
        else:
            self._send_json(404, {"error": {"message": "Not found", "code": "not_found"}})

    def do_POST(self) -> None:
        body_bytes = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        emulator = self.server.emulator
        path = self.path.split("?", 1)[0]
        if path.startswith("/_emulator/"):
            self._control(path, body_bytes)
        elif path in _SERVICE_PATHS or path in rerank.RERANK_PATHS:
            self._service(path, body_bytes)
        elif is_batch_path(path):
            emulator.batch.handle(self, "POST", self.path, body_bytes)
        else:
            emulator._record(_record_for(path, None, 404, None, time.time(), {}), 0, 0)
            self._send_json(404, {"error": {"message": f"No route {path}", "code": "NotFound"}})

    def do_DELETE(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if is_batch_path(self.path):
            self.server.emulator.batch.handle(self, "DELETE", self.path, b"")
        else:
            self._send_json(404, {"error": {"message": "Not found", "code": "not_found"}})

    def _control(self, path: str, body_bytes: bytes) -> None:
        """Apply a control request; a malformed one is answered 400 with what is wrong."""
        emulator = self.server.emulator
        try:
            data = json.loads(body_bytes or b"{}")
            if path == "/_emulator/config":
                emulator.configure(**data)
            elif path == "/_emulator/script":
                emulator.script(*(Fault.from_json(item) for item in data))
            elif path == "/_emulator/reset":
                emulator.reset()
            elif path == "/_emulator/batch_script":
                emulator.batch.script(*(BatchFault.from_json(item) for item in data))
            else:
                self._send_json(404, {"error": {"message": "unknown control", "code": "not_found"}})
                return
        except (TypeError, ValueError) as error:
            self._send_json(400, {"error": {"message": str(error), "code": "bad_control"}})
            return
        self._send_json(200, {"ok": True})

    # --- the embeddings and rerank endpoints --------------------------------------------------

    def _service(self, path: str, body_bytes: bytes) -> None:
        emulator = self.server.emulator
        native = path in _NATIVE_PATHS
        reranking = path in rerank.RERANK_PATHS
        started = time.time()
        headers = {
            k.lower(): ("<redacted>" if k.lower() == "authorization" else v)
            for k, v in self.headers.items()
        }
        refused = emulator._admit()
        if refused is not None:
            kind, refusal = refused
            emulator._record(
                _record_for(path, None, 429, _THROTTLED + kind, started, headers), 0, 0
            )
            self._send_json(429, flat_error(refusal) if native else refusal)
            return
        self._pending = {
            "path": path,
            "body": None,
            "fault": None,
            "started": started,
            "generation": emulator._generation,
        }
        self._pending_headers = headers
        self._pending_counts = (0, 0)
        # The answer is due ``latency_ms`` after arrival, whatever the emulator's own work took:
        # a service's latency includes its compute.
        jitter = emulator.latency_jitter_ms
        latency = emulator.latency_ms + (random.uniform(-jitter, jitter) if jitter else 0.0)
        due = time.monotonic() + max(0.0, latency) / 1000.0
        try:
            try:
                body = self._pending["body"] = parse_body(body_bytes)
                texts = _strings_of(path, body)
                fault = emulator._next_fault(texts)
                self._pending["fault"] = fault.name if fault else None
                self._check_auth(native)
                if fault is not None and fault.kind == "reset":
                    sleep_until(due)
                    self._settle(0)
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if fault is not None and fault.kind == "slow" and fault.seconds:
                    due += fault.seconds
                serve = self._rerank if reranking else self._serve
                if path == multimodal.MULTIMODAL_PATH:
                    serve = self._multimodal
                payload, rows, tokens = serve(body, native, fault)
                self._pending_counts = (rows, tokens)
                sleep_until(due)
                self._send_payload(payload, fault)
            except HtmlReply as reply:
                sleep_until(due)
                page = f"<html><head><title>{reply.status}</title></head><body><h1>Bad Gateway"
                self._send_bytes(reply.status, (page + "</h1></body></html>").encode(), "text/html")
            except Reply as reply:
                if not isinstance(reply, Throttled):  # a refusal is quick, as the service's
                    sleep_until(due)
                body_out = flat_error(reply.body) if native else reply.body
                self._send_json(reply.status, body_out, reply.headers)
        finally:
            self._settle(500)

    def _settle(self, status: int) -> None:
        """Record the request and count it out, once, before its answer is written."""
        pending, self._pending = self._pending, None
        if pending is None:
            return
        emulator = self.server.emulator
        emulator._leave()
        record = _record_for(
            pending["path"],
            pending["body"],
            status,
            pending["fault"],
            pending["started"],
            self._pending_headers,
        )
        emulator._record(record, *self._pending_counts, generation=pending["generation"])

    def _check_auth(self, native: bool) -> None:
        given = self.headers.get("Authorization", "")
        if given != f"Bearer {self.server.emulator.api_key}":
            raise Reply(401, envelope("invalid_api_key"))

    def _serve(
        self, body: dict[str, Any], native: bool, fault: Fault | None
    ) -> tuple[dict[str, Any], int, int]:
        return serve_body(self.server.emulator, body, native, fault, admit=self._admit_tokens)

    def _admit_tokens(self, model: str, tokens: int) -> None:
        """The account's rate limits, for a real-time request (the Batch API has none)."""
        refused = self.server.emulator._within_limits(model, tokens)
        if refused is not None:
            if self._pending is not None:
                self._pending["fault"] = _THROTTLED + refused[0]
            raise Throttled(429, refused[1])

    def _rerank(
        self, body: dict[str, Any], native: bool, fault: Fault | None
    ) -> tuple[dict[str, Any], int, int]:
        emulator = self.server.emulator
        if fault is not None and fault.kind not in CONTENT_FAULTS:
            raise fault_reply(fault)
        try:
            return rerank.answer(
                rerank.read(body, native),
                str(uuid.uuid4()),
                long_items=emulator.rerank_long_items,
                moderation_marker=emulator.moderation_marker,
            )
        except rerank.RerankRefusal as refusal:
            body_out = error_body(refusal.code, refusal.message, refusal.type)
            raise Reply(refusal.status, body_out) from None

    def _multimodal(
        self, body: dict[str, Any], native: bool, fault: Fault | None
    ) -> tuple[dict[str, Any], int, int]:
        emulator = self.server.emulator
        if fault is not None and fault.kind not in CONTENT_FAULTS:
            raise fault_reply(fault)
        try:
            request = multimodal.read(body)
        except multimodal.MultimodalRefusal as refusal:
            raise Reply(refusal.status, error_body(refusal.code, refusal.message)) from None
        if multimodal.moderated(request, emulator.moderation_marker):
            _, _, _, message = CONTRACT_ERRORS["moderated"]
            raise Reply(400, error_body("DataInspectionFailed", message))
        payload, rows, tokens = multimodal.answer(
            request, str(uuid.uuid4()), emulator.multimodal_answer
        )
        self._admit_tokens(request.model, tokens)
        return payload, rows, tokens

    # --- writing responses ---------------------------------------------------------------------

    def _send_payload(self, payload: dict[str, Any], fault: Fault | None) -> None:
        """Write a 200 answer: numpy rows straight to JSON, or tampered with by a content fault."""
        kind = fault.kind if fault is not None else None
        items = items_of(payload)
        if kind not in TAMPERING_FAULTS:
            self._send_bytes(200, orjson.dumps(payload, option=_NUMPY), "application/json")
            return
        dense_key = "embedding"
        for item in items:  # Python lists to tamper with, holding the float32 values exactly
            if isinstance(item.get(dense_key), np.ndarray):
                item[dense_key] = item[dense_key].tolist()
        if kind == "shuffle":
            random.shuffle(items)
        elif kind == "missing_vector" and items:
            items.pop()
        elif kind == "wrong_width" and items and isinstance(items[0].get(dense_key), list):
            items[0][dense_key] = items[0][dense_key][:-1]
        elif kind == "duplicate_index" and len(items) > 1:
            index_key = "index" if "index" in items[0] else "text_index"
            items[1][index_key] = items[0][index_key]
        elif kind == "nan" and items and isinstance(items[0].get(dense_key), list):
            items[0][dense_key][0] = float("nan")
        elif kind == "nan" and items and "relevance_score" in items[0]:
            items[0]["relevance_score"] = float("nan")
        elif kind == "nested_vectors":
            for item in items:
                if isinstance(item.get(dense_key), list):
                    item[dense_key] = [[value] for value in item[dense_key]]
        elif kind == "error_in_200":
            payload = {**envelope("server_error"), "request_id": str(uuid.uuid4())}
        elif kind == "no_content":
            self._send_bytes(204, b"", "application/json")
            return
        text = json.dumps(payload)
        if kind == "malformed_json":
            text = text[: len(text) // 2]
        if kind == "trickle":
            self._trickle(text.encode(), fault.seconds or 1.0 if fault is not None else 1.0)
            return
        self._send_bytes(200, text.encode(), "application/json")

    def _trickle(self, data: bytes, seconds: float) -> None:
        """Headers at once, then the body in 20 pieces over ``seconds``: every read the
        client makes gets bytes well within a per-read timeout, the whole takes ``seconds``."""
        self._settle(200)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.flush()
        step = -(-len(data) // 20)
        for start in range(0, len(data), step):
            time.sleep(seconds / 20)
            try:
                self.wfile.write(data[start : start + step])
                self.wfile.flush()
            except OSError:  # the client gave up on the answer
                return

    def _send_json(
        self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        self._send_bytes(status, json.dumps(body).encode(), "application/json", headers)

    def _send_bytes(
        self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self._settle(status)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-request-id", str(uuid.uuid4()))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


_NUMPY = orjson.OPT_SERIALIZE_NUMPY
_THROTTLED = "limit:"  # the log's fault name for a limit's 429, then its kind


def _strings_of(path: str, body: dict[str, Any]) -> list[str] | None:
    """The strings of a request a scripted fault's ``match`` looks in."""
    native = path in _NATIVE_PATHS
    if path == multimodal.MULTIMODAL_PATH:
        return multimodal.texts_of(body)
    return rerank.texts_of(body, native) if path in rerank.RERANK_PATHS else texts_of(body, native)


def _record_for(
    path: str,
    body: dict[str, Any] | None,
    status: int,
    fault: str | None,
    started: float,
    headers: dict[str, str],
) -> RequestRecord:
    native = path in _NATIVE_PATHS
    reranking = path in rerank.RERANK_PATHS
    if path == multimodal.MULTIMODAL_PATH:
        texts = multimodal.texts_of(body)
    else:
        texts = rerank.documents_of(body, native) if reranking else texts_of(body, native)
    parameters = (body or {}).get("parameters") if native else body
    parameters = parameters if isinstance(parameters, dict) else {}
    dimensions = parameters.get("dimension" if native else "dimensions")
    return RequestRecord(
        path=path,
        protocol="native" if native else "compatible",
        model=(body or {}).get("model"),
        texts=texts,
        rows=len(texts) if texts is not None else 0,
        dimensions=dimensions if isinstance(dimensions, int) else None,
        encoding_format=None if native else (body or {}).get("encoding_format"),
        text_type=parameters.get("text_type"),
        instruct=parameters.get("instruct"),
        output_type=parameters.get("output_type") if native else None,
        status=status,
        fault=fault,
        started=started,
        finished=time.time(),
        headers=headers,
        body=body,
        query=rerank.query_of(body, native) if reranking else None,
        top_n=parameters.get("top_n") if isinstance(parameters.get("top_n"), int) else None,
    )
