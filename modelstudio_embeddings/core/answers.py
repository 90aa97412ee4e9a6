"""Reading a 2xx answer's body, for every family: JSON decoding, and the service's error
envelope that a success status sometimes carries instead of results."""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from .errors import ResponseValidationError

__all__ = ["decode_json", "is_error_envelope"]


def decode_json(content: bytes) -> object:
    """Parse a response body, turning any JSON error into a ResponseValidationError."""
    try:
        return orjson.loads(content)
    except ValueError as exc:
        snippet = content[:80].decode("utf-8", "replace")
        raise ResponseValidationError(
            f"The service answered 200 with a body that is not JSON ({exc}): {snippet!r}"
        ) from None


def is_error_envelope(payload: object) -> bool:
    """A success status whose body is the service's error envelope, not vectors."""
    if not isinstance(payload, Mapping):
        return False
    if "data" in payload or "output" in payload:
        return False
    return isinstance(payload.get("error"), Mapping) or "code" in payload
