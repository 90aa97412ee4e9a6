"""One line of a job's output or error file -> its request's rows, or the service's reason.

The OpenAI convention is parsed first (``{custom_id, response: {status_code, body}, error}``);
the variants seen in the wild are tolerated: ``response: null`` with ``error: {code,
message}``, and the flat ``{custom_id, status_code, body}``. Vectors are checked by
``wire.parse_compatible`` (count, width, finite) into a float32 block for the row range.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import orjson

from ..errors import ModelStudioError
from ..wire import parse_compatible
from .manifest import parse_custom_id

__all__ = ["LineResult", "parse_output_line"]

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
    retryable: bool


def _reason(status: int | None, error: object) -> tuple[str, bool]:
    if isinstance(error, Mapping):
        inner = error.get("error")
        if isinstance(inner, Mapping):  # the compatible envelope {"error": {...}}
            error = inner
        code = str(error.get("code") or "")
        message = str(error.get("message") or "")
    else:
        code, message = "", str(error or "")
    text = " ".join(p for p in (f"HTTP {status}" if status else "", code, message) if p)
    retryable = (status in RETRYABLE_STATUSES) or code in RETRYABLE_CODES
    return text or "unknown error", retryable


def parse_output_line(raw: bytes, width: int) -> LineResult:
    """Parse one line; raise ValueError when it has no usable ``custom_id``."""
    line = orjson.loads(raw)
    if not isinstance(line, Mapping):
        raise ValueError("an output line is not a JSON object")
    start, stop = parse_custom_id(str(line.get("custom_id")))
    response = line.get("response")
    if isinstance(response, Mapping):
        status = response.get("status_code")
        body = response.get("body")
    elif "status_code" in line:  # flat
        status, body = line.get("status_code"), line.get("body")
    else:
        status, body = None, None
    status = status if isinstance(status, int) else None
    if status == 200 and isinstance(body, Mapping):
        out = np.empty((stop - start, width), dtype=np.float32)
        try:
            parsed = parse_compatible(body, out)
        except ModelStudioError as exc:
            return LineResult(start, stop, None, 0, f"invalid answer: {exc.message}", True)
        return LineResult(start, stop, out, parsed.prompt_tokens or 0, None, False)
    error = line.get("error") or body
    reason, retryable = _reason(status, error)
    return LineResult(start, stop, None, 0, reason, retryable)
