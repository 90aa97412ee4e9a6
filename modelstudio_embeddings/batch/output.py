"""One line of a job's output or error file -> its request's rows, or the service's reason.

The OpenAI convention is parsed first (``{custom_id, response: {status_code, body}, error}``);
the variants seen in the wild are tolerated: ``response: null`` with ``error: {code,
message}``, the flat ``{custom_id, status_code, body}``, and a ``body`` sent as a JSON string
rather than an object. Vectors are checked by ``wire.parse_compatible`` (count, width, finite)
into a float32 block for the row range. A failure is classified once, by the real-time path's
error table: sent again as it is (transient), split row by row (one row's content or length
refused the whole line), or final.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import orjson

from ..core.errors import (
    ContentInspectionError,
    InputTooLongError,
    ModelStudioError,
    translate_status,
)
from ..embeddings.wire import parse_compatible
from .manifest import FINAL, ISOLATE, RETRY, parse_custom_id

__all__ = ["REASON_CHARS", "LineResult", "parse_output_line"]

REASON_CHARS = 300
"""A reason kept in the manifest and the report: the code and the start of the message."""

RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
RETRYABLE_CODES = frozenset(
    {"batch_expired", "batch_cancelled", "expired", "cancelled", "missing", "malformed"}
)


@dataclass(frozen=True)
class LineResult:
    """What one line says about rows ``start``..``stop``: vectors, or why there are none."""

    start: int
    stop: int
    vectors: npt.NDArray[np.float32] | None
    tokens: int
    reason: str | None
    retry: int
    """What a follow-up does with the request: ``RETRY``, ``ISOLATE`` or ``FINAL``."""


def _reason(status: int | None, error: object, rows: int) -> tuple[str, int]:
    if isinstance(error, Mapping):
        inner = error.get("error")
        if isinstance(inner, Mapping):  # the compatible envelope {"error": {...}}
            error = inner
        code = str(error.get("code") or "")
        message = str(error.get("message") or "")
    else:
        code, message = "", str(error or "")
    text = " ".join(p for p in (f"HTTP {status}" if status else "", code, message) if p)
    text = text or "unknown error"
    if len(text) > REASON_CHARS:
        text = text[: REASON_CHARS - 3] + "..."
    if (status in RETRYABLE_STATUSES) or code in RETRYABLE_CODES:
        return text, RETRY
    # The real-time table decides whether one row caused it (an error_object line has no
    # status: its code is read as a 400's).
    known = translate_status(status or 400, {"error": {"code": code, "message": message}})
    if rows > 1 and isinstance(known, ContentInspectionError | InputTooLongError):
        return text, ISOLATE
    return text, FINAL


def _object(value: object) -> object:
    """A body sent as a JSON string, decoded; anything else as it is."""
    if isinstance(value, str | bytes):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def parse_output_line(raw: bytes, width: int) -> LineResult:
    """Parse one line; raise ValueError when it has no usable ``custom_id``."""
    line = orjson.loads(raw)
    if not isinstance(line, Mapping):
        raise ValueError("an output line is not a JSON object")
    start, stop = parse_custom_id(str(line.get("custom_id")))
    response = line.get("response")
    if isinstance(response, Mapping):
        status = response.get("status_code")
        body = _object(response.get("body"))
    elif "status_code" in line:  # flat
        status, body = line.get("status_code"), _object(line.get("body"))
    else:
        status, body = None, None
    status = status if isinstance(status, int) else None
    if status == 200 and isinstance(body, Mapping):
        out = np.empty((stop - start, width), dtype=np.float32)
        try:
            parsed = parse_compatible(body, out)
        except ModelStudioError as exc:
            reason = f"invalid answer: {exc.message}"[:REASON_CHARS]
            return LineResult(start, stop, None, 0, reason, RETRY)
        return LineResult(start, stop, out, parsed.prompt_tokens or 0, None, FINAL)
    error = _object(line.get("error")) or body
    reason, retry = _reason(status, error, stop - start)
    return LineResult(start, stop, None, 0, reason, retry)
