"""Scripted faults: what the emulator does to the next matching request instead of serving it.

Every fault is one small frozen value; the server looks its ``kind`` up in one table.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["BATCH_ERRORS", "CONTRACT_ERRORS", "RERANK_MESSAGES", "BatchFault", "Fault"]

_DOCS = " For details, see: https://help.aliyun.com/zh/model-studio/error-code#error-code"
_BAD_PARAM = "<400> InternalError.Algo.InvalidParameter: "

# name -> (status, code, type, message): the rows of the service contract's error table.
CONTRACT_ERRORS: dict[str, tuple[int, str, str, str]] = {
    "rate_limited": (
        429,
        "limit_requests",
        "limit_requests",
        "Requests rate limit exceeded, please try again later.",
    ),
    "burst_limited": (
        429,
        "limit_requests",
        "limit_requests",
        "You have exceeded your current request limit.",
    ),
    "quota_exceeded": (
        429,
        "insufficient_quota",
        "insufficient_quota",
        "You exceeded your current quota, please check your plan and billing details.",
    ),
    # The token limit's other message (the error-code page lists both; which when is unknown).
    "allocated_quota_exceeded": (
        429,
        "insufficient_quota",
        "insufficient_quota",
        "Allocated quota exceeded, please increase your quota limit.",
    ),
    # Burst protection (native code Throttling.BurstRate), from the error-code page.
    "burst_rate_limited": (
        429,
        "limit_burst_rate",
        "limit_burst_rate",
        "Request rate increased too quickly. To ensure system stability, please adjust your "
        "client logic to scale requests more smoothly over time.",
    ),
    "server_error": (500, "internal_error", "internal_error", "An internal error has occured."),
    "unavailable": (503, "ModelUnavailable", "ModelUnavailable", "Model is unavailable now."),
    "arrearage": (
        400,
        "Arrearage",
        "Arrearage",
        "Access denied, please make sure your account is in good standing." + _DOCS,
    ),
    "moderated": (
        400,
        "data_inspection_failed",
        "data_inspection_failed",
        "Input data may contain inappropriate content." + _DOCS,
    ),
    "invalid_api_key": (
        401,
        "invalid_api_key",
        "invalid_request_error",
        "Incorrect API key provided. " + _DOCS,
    ),
    "model_not_found": (404, "model_not_found", "model_not_found", "Model not exist."),
}


# Rerank refusals: 400 InvalidParameter with these messages (``str.format`` fields). The
# documents one is the service's text as users report it (no "For details" suffix there);
# the others are written in its style and are assumptions.
RERANK_MESSAGES: dict[str, str] = {
    "documents": _BAD_PARAM + "Value error, batch size of documents is invalid, it should not be "
    "empty or larger than {limit}.: input.documents",
    "document_type": _BAD_PARAM + "Value error, documents should be a list of str.: "
    "input.documents",
    "empty_document": _BAD_PARAM + "Value error, document index:{index} is invalid, it should not "
    "be empty.: input.documents",
    "long_document": _BAD_PARAM + "Value error, document index:{index} is invalid, it should not "
    "be larger than {limit} tokens.: input.documents",
    "query": _BAD_PARAM + "Value error, query is invalid, it should be a non-empty str.: "
    "input.query",
    "long_query": _BAD_PARAM + "Value error, query is invalid, it should not be larger than "
    "{limit} tokens.: input.query",
    "request_tokens": _BAD_PARAM + "Value error, the input tokens (query tokens x documents + "
    "document tokens = {tokens}) should not be larger than {limit}.: input",
    "top_n": _BAD_PARAM + "Value error, top_n is invalid, it should be a positive integer.: "
    "parameters.top_n",
}


@dataclass(frozen=True)
class Fault:
    """One scripted misbehaviour; ``match`` limits it to a request with a row containing it."""

    kind: str
    status: int | None = None
    code: str | None = None
    message: str | None = None
    type: str | None = None
    retry_after: float | None = None
    seconds: float | None = None
    limit: int | None = None
    match: str | None = None

    @property
    def name(self) -> str:
        return self.kind if self.code is None else f"{self.kind}:{self.code}"

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fault:
        data = dict(data)
        kind = data.pop("fault", None) or data.pop("kind")
        return cls(kind=kind, **data)

    # --- errors in the contract's envelope -------------------------------------------------

    @classmethod
    def error(
        cls,
        status: int,
        code: str,
        message: str,
        type: str | None = None,
        retry_after: float | None = None,
        match: str | None = None,
    ) -> Fault:
        return cls("error", status, code, message, type or code, retry_after, match=match)

    @classmethod
    def _row(cls, name: str, match: str | None, retry_after: float | None = None) -> Fault:
        status, code, type_, message = CONTRACT_ERRORS[name]
        return cls(name, status, code, message, type_, retry_after, match=match)

    @classmethod
    def rate_limited(cls, retry_after: float | None = None, match: str | None = None) -> Fault:
        return cls._row("rate_limited", match, retry_after)

    @classmethod
    def quota_exceeded(cls, match: str | None = None) -> Fault:
        return cls._row("quota_exceeded", match)

    @classmethod
    def allocated_quota_exceeded(cls, match: str | None = None) -> Fault:
        """The token limit's 429 with its "Allocated quota exceeded" wording."""
        return cls._row("allocated_quota_exceeded", match)

    @classmethod
    def burst_rate_limited(cls, match: str | None = None) -> Fault:
        """Burst protection's 429: "Request rate increased too quickly"."""
        return cls._row("burst_rate_limited", match)

    @classmethod
    def server_error(cls, match: str | None = None) -> Fault:
        return cls._row("server_error", match)

    @classmethod
    def unavailable(cls, match: str | None = None) -> Fault:
        return cls._row("unavailable", match)

    @classmethod
    def arrearage(cls, match: str | None = None) -> Fault:
        return cls._row("arrearage", match)

    @classmethod
    def moderated(cls, match: str | None = None) -> Fault:
        return cls._row("moderated", match)

    @classmethod
    def access_denied(cls, code: str = "AccessDenied", match: str | None = None) -> Fault:
        return cls("access_denied", 403, code, "Access denied.", code, match=match)

    @classmethod
    def batch_too_large(cls, limit: int, match: str | None = None) -> Fault:
        return cls("batch_too_large", 400, "InvalidParameter", None, limit=limit, match=match)

    @classmethod
    def input_too_long(cls, match: str | None = None) -> Fault:
        return cls("input_too_long", 400, "InvalidParameter", None, match=match)

    # --- transport and content faults --------------------------------------------------------

    @classmethod
    def reset(cls, match: str | None = None) -> Fault:
        """Close the connection without answering."""
        return cls("reset", match=match)

    @classmethod
    def slow(cls, seconds: float, match: str | None = None) -> Fault:
        return cls("slow", seconds=seconds, match=match)

    @classmethod
    def missing_vector(cls, match: str | None = None) -> Fault:
        return cls("missing_vector", match=match)

    @classmethod
    def wrong_width(cls, match: str | None = None) -> Fault:
        return cls("wrong_width", match=match)

    @classmethod
    def malformed_json(cls, match: str | None = None) -> Fault:
        return cls("malformed_json", match=match)

    @classmethod
    def shuffle(cls, match: str | None = None) -> Fault:
        return cls("shuffle", match=match)

    @classmethod
    def duplicate_index(cls, match: str | None = None) -> Fault:
        return cls("duplicate_index", match=match)

    @classmethod
    def nan(cls, match: str | None = None) -> Fault:
        return cls("nan", match=match)

    @classmethod
    def nested_vectors(cls, match: str | None = None) -> Fault:
        """A 200 whose vectors are lists of one-element lists."""
        return cls("nested_vectors", match=match)

    @classmethod
    def error_in_200(cls, match: str | None = None) -> Fault:
        """A 200 whose body is an error envelope, as some gateways answer."""
        return cls("error_in_200", match=match)

    @classmethod
    def no_content(cls, match: str | None = None) -> Fault:
        """A 204 with an empty body."""
        return cls("no_content", match=match)

    @classmethod
    def trickle(cls, seconds: float, match: str | None = None) -> Fault:
        """A 200 whose body arrives in small pieces over ``seconds``, no read ever idle long."""
        return cls("trickle", seconds=seconds, match=match)

    @classmethod
    def html_error(cls, status: int = 502, match: str | None = None) -> Fault:
        return cls("html_error", status=status, match=match)

    @classmethod
    def none(cls) -> Fault:
        """Serve normally: a placeholder that keeps a script's later faults in their place."""
        return cls("none")


# --- the Batch API -------------------------------------------------------------------------------

# name -> (status, code, message template): every Batch API error the emulator writes, in one
# place. The codes and wording are the emulator's (the docs publish none): **assumed**.
BATCH_ERRORS: dict[str, tuple[int, str, str]] = {
    "missing_file": (400, "InvalidParameter", "Missing the 'file' part of the upload."),
    "invalid_purpose": (400, "InvalidParameter", "Invalid purpose {purpose!r}: use 'batch'."),
    "not_utf8": (400, "InvalidFile", "The file is not UTF-8 text."),
    "not_jsonl": (400, "InvalidFile", "Line {line} is not a JSON object: the file must be JSONL."),
    "empty_file": (400, "InvalidFile", "The file has no request lines."),
    "file_too_large": (400, "InvalidFile", "The file is {size} bytes; at most {limit} allowed."),
    "too_many_lines": (400, "InvalidFile", "The file has {count} lines; at most {limit} allowed."),
    "line_too_large": (400, "InvalidFile", "Line {line} is {size} bytes; at most {limit} allowed."),
    "file_not_found": (404, "NotFound", "File {file_id} not found."),
    "batch_not_found": (404, "NotFound", "Batch {batch_id} not found."),
    "invalid_endpoint": (
        400,
        "InvalidParameter",
        "Invalid endpoint {endpoint!r}: this emulator runs '/v1/embeddings'.",
    ),
    "invalid_window": (
        400,
        "InvalidParameter",
        "Invalid completion_window {window!r}: an integer from {low}h to {high}h (or in d).",
    ),
    "invalid_metadata": (400, "InvalidParameter", "Invalid metadata: {detail}."),
    "wrong_file_purpose": (400, "InvalidParameter", "File {file_id} is not a batch input file."),
    "cannot_cancel": (400, "InvalidParameter", "Cannot cancel a batch with status {status!r}."),
    "test_model_busy": (
        429,
        "limit_requests",
        "At most {limit} batch-test-model jobs may run at once.",
    ),
    # validation failures: Batch.errors.data items, the job ends "failed"
    "invalid_line": (400, "invalid_request", "Line {line}: {detail}."),
    "mixed_models": (
        400,
        "mixed_models",
        "Line {line} uses model {model!r}; a file may use one model only ({first!r}).",
    ),
    "duplicate_custom_id": (
        400,
        "duplicate_custom_id",
        "Line {line} repeats custom_id {custom_id!r}; custom_ids must be unique.",
    ),
    "model_not_supported": (
        400,
        "model_not_supported",
        "Model {model!r} is not supported by the Batch API.",
    ),
    "url_mismatch": (
        400,
        "invalid_url",
        "Line {line} has url {url!r}; the batch endpoint is {endpoint!r}.",
    ),
    "test_model_file_too_large": (
        400,
        "InvalidFile",
        "A batch-test-model file may hold at most {lines} lines and {size} bytes.",
    ),
    "validation_failed": (400, "validation_failed", "The input file failed validation."),
    # error-file lines
    "batch_expired": (
        400,
        "batch_expired",
        "This request could not be executed before the completion window expired.",
    ),
    "batch_cancelled": (400, "batch_cancelled", "This request was not executed: cancelled."),
    "line_error": (500, "InternalError", "An internal error has occured."),
}


def batch_error(name: str, **details: object) -> tuple[int, str, str]:
    """The status, code and filled-in message of one ``BATCH_ERRORS`` row."""
    status, code, template = BATCH_ERRORS[name]
    return status, code, template.format(**details)


@dataclass(frozen=True)
class BatchFault:
    """What the emulator does to the next batch job created (one fault per job, in order).

    ``fraction`` is the share of the job's requests finished when the fault strikes;
    ``match`` picks request lines by a substring of their input.
    """

    kind: str
    fraction: float | None = None
    match: str | None = None
    status: int | None = None
    code: str | None = None
    message: str | None = None
    rest: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BatchFault:
        data = dict(data)
        kind = data.pop("fault", None) or data.pop("kind")
        return cls(kind=kind, **data)

    @classmethod
    def fail_validation(
        cls, code: str = "validation_failed", message: str | None = None
    ) -> BatchFault:
        """The job ends ``failed`` after validating, with ``errors`` and no output."""
        return cls("fail_validation", code=code, message=message)

    @classmethod
    def expire(cls, fraction: float = 0.5, rest: str = "error_file") -> BatchFault:
        """The job ends ``expired`` with ``fraction`` done; the rest go to the error file
        with code ``batch_expired`` (``rest="error_file"``) or nowhere (``rest="dropped"``)."""
        return cls("expire", fraction=fraction, rest=rest)

    @classmethod
    def hold(cls, fraction: float = 0.5) -> BatchFault:
        """The job stops at ``fraction`` done and stays ``in_progress`` until cancelled."""
        return cls("hold", fraction=fraction)

    @classmethod
    def line_error(
        cls,
        match: str,
        status: int = 500,
        code: str = "InternalError",
        message: str = "An internal error has occured.",
    ) -> BatchFault:
        """Lines whose input contains ``match`` fail and go to the error file."""
        return cls("line_error", match=match, status=status, code=code, message=message)

    @classmethod
    def malformed_output(cls) -> BatchFault:
        """The first line of the output file is cut in half (not JSON)."""
        return cls("malformed_output")

    @classmethod
    def none(cls) -> BatchFault:
        """Run normally: keeps a script's later faults for later jobs."""
        return cls("none")
