"""Scripted faults: what the emulator does to the next matching request instead of serving it.

Every fault is one small frozen value; the server looks its ``kind`` up in one table.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["CONTRACT_ERRORS", "RERANK_MESSAGES", "Fault"]

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
