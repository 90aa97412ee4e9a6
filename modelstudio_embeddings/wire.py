"""Request bodies and response parsing for the compatible protocol (pure).

Responses are parsed straight into the caller's float32 output rows: vectors are placed by
their ``index``, never by position, and every row must come back exactly once, finite and of
the expected width; anything else is a ResponseValidationError.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jiter
import numpy as np
import numpy.typing as npt

from .errors import ResponseValidationError

__all__ = ["ParsedResponse", "compatible_body", "decode_json", "parse_compatible"]


def compatible_body(model: str, texts: Sequence[str], dimensions: int | None) -> dict[str, Any]:
    """The JSON body of one compatible-mode request; ``encoding_format`` is always ``float``."""
    body: dict[str, Any] = {"model": model, "input": list(texts), "encoding_format": "float"}
    if dimensions is not None:
        body["dimensions"] = dimensions
    return body


@dataclass(frozen=True)
class ParsedResponse:
    """What one successful response told us besides the vectors it wrote."""

    prompt_tokens: int | None
    request_id: str | None


def decode_json(content: bytes) -> object:
    """Parse a response body, turning any JSON error into a ResponseValidationError."""
    try:
        return jiter.from_json(content)
    except ValueError as exc:
        snippet = content[:80].decode("utf-8", "replace")
        raise ResponseValidationError(
            f"The service answered 200 with a body that is not JSON ({exc}): {snippet!r}"
        ) from None


def parse_compatible(payload: object, out: npt.NDArray[np.float32]) -> ParsedResponse:
    """Write each returned vector into ``out[index]``; ``out`` has one row per request row."""
    if not isinstance(payload, Mapping):
        raise _invalid(f"expected a JSON object, got {type(payload).__name__}")
    data = payload.get("data")
    if not isinstance(data, list):
        raise _invalid("the response has no 'data' list")
    rows, width = out.shape
    if len(data) != rows:
        raise _invalid(f"{len(data)} vectors for {rows} rows")
    seen = np.zeros(rows, dtype=bool)
    for item in data:
        if not isinstance(item, Mapping):
            raise _invalid("a 'data' item is not an object")
        index = item.get("index")
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < rows:
            raise _invalid(f"index {index!r} is not a row of this request (0..{rows - 1})")
        if seen[index]:
            raise _invalid(f"index {index} came back twice")
        seen[index] = True
        out[index] = _vector(item.get("embedding"), width, index)
    if not np.isfinite(out).all():
        bad = sorted({int(i) for i in np.argwhere(~np.isfinite(out))[:, 0]})
        raise _invalid(f"non-finite values in the vectors of rows {bad}")
    return ParsedResponse(
        prompt_tokens=_prompt_tokens(payload.get("usage")),
        request_id=_str_or_none(payload.get("request_id") or payload.get("id")),
    )


def _vector(embedding: object, width: int, index: int) -> npt.NDArray[Any]:
    if isinstance(embedding, str):
        try:
            raw = base64.b64decode(embedding, validate=True)
        except (binascii.Error, ValueError):
            raise _invalid(f"row {index}: the embedding is a string but not base64") from None
        if len(raw) != 4 * width:
            raise _invalid(f"row {index}: {len(raw) // 4} values, expected {width}")
        return np.frombuffer(raw, dtype="<f4")
    if not isinstance(embedding, list):
        raise _invalid(f"row {index}: the embedding is {type(embedding).__name__}, not a list")
    if len(embedding) != width:
        raise _invalid(f"row {index}: {len(embedding)} values, expected {width}")
    values = np.asarray(embedding)
    if values.dtype.kind not in "fi":
        raise _invalid(f"row {index}: the embedding holds values that are not numbers")
    return values


def _prompt_tokens(usage: object) -> int | None:
    if isinstance(usage, Mapping):
        for key in ("prompt_tokens", "total_tokens"):
            value = usage.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
    return None


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _invalid(what: str) -> ResponseValidationError:
    return ResponseValidationError(f"The service's response is not usable: {what}.")
