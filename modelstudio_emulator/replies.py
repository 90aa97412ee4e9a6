"""What every endpoint room answers with: the request record, a reply decided part-way
(``Reply``, raised), the service's error bodies in both protocols, and scripted faults' replies."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from .faults import CONTRACT_ERRORS, Fault

__all__ = [
    "HtmlReply",
    "Reply",
    "RequestRecord",
    "Throttled",
    "bad_param",
    "envelope",
    "error_body",
    "fault_reply",
    "flat_error",
    "items_of",
    "length_body",
    "parse_body",
    "row_limit_body",
    "sleep_until",
]

_BAD_PARAM = "<400> InternalError.Algo.InvalidParameter: "
_DOCS = " For details, see: https://help.aliyun.com/zh/model-studio/error-code#error-code"


@dataclass(frozen=True)
class RequestRecord:
    """One embeddings or rerank request as the emulator saw it (the key is never recorded).
    For a rerank request ``texts`` and ``rows`` are its documents."""

    path: str
    protocol: str
    model: str | None
    texts: list[str] | None
    rows: int
    dimensions: int | None
    encoding_format: str | None
    text_type: str | None
    instruct: str | None
    output_type: str | None
    status: int
    fault: str | None
    started: float
    finished: float
    headers: dict[str, str]
    body: dict[str, Any] | None
    query: str | None = None
    """A rerank request's query."""
    top_n: int | None = None


class Reply(Exception):
    """An answer decided part-way through handling: status and JSON body."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None):
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def items_of(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of an answer: embeddings or rerank results, either protocol."""
    outer = payload.get("output", payload)
    for key in ("data", "embeddings", "results"):
        if key in outer:
            items: list[dict[str, Any]] = outer[key]
            return items
    return []


def sleep_until(due: float) -> None:
    """Hold the answer until its due time (monotonic clock)."""
    remaining = due - time.monotonic()
    if remaining > 0:
        time.sleep(remaining)


def fault_reply(fault: Fault) -> Reply:
    headers = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
    if fault.kind == "html_error":
        return HtmlReply(fault.status or 502)
    if fault.kind == "batch_too_large":
        return Reply(400, row_limit_body(fault.limit or 10))
    if fault.kind == "input_too_long":
        return Reply(400, length_body(8192))
    status = fault.status or 500
    message = fault.message or "Scripted error."
    return Reply(status, error_body(fault.code or "InternalError", message, fault.type), headers)


class Throttled(Reply):
    """A rate limit's 429: answered at once, without the configured latency."""


class HtmlReply(Reply):
    def __init__(self, status: int) -> None:
        super().__init__(status, {})


def error_body(code: str, message: str, type_: str | None = None) -> dict[str, Any]:
    request_id = str(uuid.uuid4())
    return {
        "error": {"message": message, "type": type_ or code, "param": None, "code": code},
        "id": request_id,
        "request_id": request_id,
    }


def envelope(name: str) -> dict[str, Any]:
    status, code, type_, message = CONTRACT_ERRORS[name]
    return error_body(code, message, type_)


def bad_param(detail: str) -> dict[str, Any]:
    return error_body("InvalidParameter", _BAD_PARAM + detail + _DOCS, "InvalidParameter")


def row_limit_body(limit: int) -> dict[str, Any]:
    return bad_param(
        f"Value error, batch size is invalid, it should not be larger than {limit}.: input.contents"
    )


def length_body(limit: int) -> dict[str, Any]:
    return bad_param(f"Range of input length should be [1, {limit}]")


def flat_error(body: dict[str, Any]) -> dict[str, Any]:
    """The native protocol's flat error body from the compatible envelope."""
    error = body.get("error", {})
    return {
        "code": error.get("code"),
        "message": error.get("message"),
        "request_id": body.get("request_id"),
    }


def parse_body(body_bytes: bytes) -> dict[str, Any]:
    try:
        body = json.loads(body_bytes)
    except ValueError:
        raise Reply(400, bad_param("Request body is not valid JSON.")) from None
    if not isinstance(body, dict):
        raise Reply(400, bad_param("Request body must be a JSON object."))
    return body
