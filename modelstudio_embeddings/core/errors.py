"""Everything the library raises about the service, and the one table that maps responses to it.

Each class's docstring says when it happens and what to do. ``translate_status`` is the only
place that knows status codes and service codes; the client calls it at one boundary.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "APIConnectionError",
    "APITimeoutError",
    "AuthenticationError",
    "BillingError",
    "BurstRateLimitError",
    "ConfigurationError",
    "ContentFetchError",
    "ContentInspectionError",
    "EndpointNotFoundError",
    "HostNotFoundError",
    "InputTooLongError",
    "InvalidInputError",
    "InvalidRequestError",
    "ModelNotFoundError",
    "ModelStudioError",
    "PartialEmbeddings",
    "PermissionDeniedError",
    "RateLimitError",
    "RequestRateLimitError",
    "ResponseValidationError",
    "RowLimitError",
    "ServiceUnavailableError",
    "TokenRateLimitError",
    "translate_status",
    "translate_success_error",
]


@dataclass(frozen=True)
class PartialEmbeddings:
    """The vectors a failed call did get: ``vectors[k]`` belongs to input row ``indices[k]``."""

    indices: tuple[int, ...]
    vectors: npt.NDArray[np.float32]
    sparse: tuple[Any, ...] | None = None
    """The rows' ``SparseEmbedding``s, in the same order, when sparse output was asked for."""

    def as_dict(self) -> dict[int, list[float]]:
        """Input position -> vector as Python floats, for frameworks that want lists."""
        return {i: row.tolist() for i, row in zip(self.indices, self.vectors, strict=True)}

    def __len__(self) -> int:
        return len(self.indices)


class ModelStudioError(Exception):
    """The base of everything this library raises about the service or its configuration."""

    hint: str = ""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        model: str | None = None,
        base_url: str | None = None,
        indices: Iterable[int] | None = None,
        partial: PartialEmbeddings | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.code = code
        self.request_id = request_id
        self.model = model
        self.base_url = base_url
        self.indices: tuple[int, ...] | None = None if indices is None else tuple(indices)
        self.partial = partial
        self.retry_after = retry_after

    def __str__(self) -> str:
        parts = [self.message]
        if self.hint:
            parts.append(self.hint)
        context = [
            f"{label}={value}"
            for label, value in (
                ("status", self.status_code),
                ("code", self.code),
                ("model", self.model),
                ("base_url", self.base_url),
                ("request_id", self.request_id),
                ("rows", _short_indices(self.indices)),
            )
            if value is not None
        ]
        if context:
            parts.append("[" + ", ".join(context) + "]")
        return " ".join(parts)

    def _render_traceback_(self) -> list[str]:
        """In IPython and Jupyter: the message and its hint, not a wall of SDK frames."""
        return [f"{type(self).__name__}: {self}"]

    def _bind(
        self,
        *,
        model: str | None = None,
        base_url: str | None = None,
        indices: Iterable[int] | None = None,
    ) -> ModelStudioError:
        """Fill in call context that the raising layer did not know; returns self."""
        self.model = self.model or model
        self.base_url = self.base_url or base_url
        if self.indices is None and indices is not None:
            self.indices = tuple(indices)
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.message, self._state()))

    def _state(self) -> dict[str, Any]:
        return {
            "status_code": self.status_code,
            "code": self.code,
            "request_id": self.request_id,
            "model": self.model,
            "base_url": self.base_url,
            "indices": self.indices,
            "partial": self.partial,
            "retry_after": self.retry_after,
        }


def _rebuild(cls: type[ModelStudioError], message: str, state: dict[str, Any]) -> ModelStudioError:
    err = cls.__new__(cls)
    ModelStudioError.__init__(err, message, **state)
    return err


def _short_indices(indices: tuple[int, ...] | None) -> str | None:
    if indices is None:
        return None
    shown = ", ".join(map(str, indices[:10]))
    more = f", … {len(indices) - 10} more" if len(indices) > 10 else ""
    return f"[{shown}{more}]"


# --- raised before any request -------------------------------------------------------------


class ConfigurationError(ModelStudioError, ValueError):
    """No key, an unknown model or region, or dimensions the model does not offer.

    Raised before any request; the message names what is allowed.
    """


# --- the caller's input --------------------------------------------------------------------


class InvalidRequestError(ModelStudioError, ValueError):
    """A 400 caused by the request itself; fix the input or the settings, do not retry."""


class InvalidInputError(InvalidRequestError):
    """A row that is not a non-empty string (None, a number, a token list); ``indices`` name it."""


class InputTooLongError(InvalidRequestError):
    """A row over the model's tokens-per-row limit, or empty; ``indices`` name the rows.

    Split long documents into chunks before embedding, or pass ``on_too_long="truncate"``.
    """


class ContentInspectionError(InvalidRequestError):
    """The service's content moderation refused rows; ``indices`` are every offending row.

    The vectors of all other rows are on ``partial``: drop the offending rows and keep those,
    without paying for them twice.
    """

    hint = "Drop or rewrite these rows; the other rows' vectors are on .partial."


class ContentFetchError(InvalidRequestError):
    """The service could not fetch an image or video URL of the input (``url error``, ``Failed
    to download multimodal content``): expired, private, not http(s). ``indices`` name the items.

    Not retried: the same URL fails again. The other items' vectors are on ``partial``.
    """

    hint = "Make these URLs public (or send the files themselves); the others are on .partial."


class RowLimitError(InvalidRequestError):
    """The service said a request may hold at most ``limit`` rows (the limit has changed before).

    The client re-splits and remembers the limit on its own; you see this only if that fails.
    """

    def __init__(self, message: str, *, limit: int, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.limit = limit

    def _state(self) -> dict[str, Any]:
        return super()._state()

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_row_limit, (self.message, self.limit, self._state()))


def _rebuild_row_limit(message: str, limit: int, state: dict[str, Any]) -> RowLimitError:
    return RowLimitError(message, limit=limit, **state)


# --- account and access --------------------------------------------------------------------


class AuthenticationError(ModelStudioError):
    """401: the key is wrong, or belongs to another region or workspace than the host used.

    API keys are region-specific: a Singapore key fails against the Beijing host.
    """

    hint = (
        "API keys are region-specific: check that the key was created in the region of this "
        "host (set region= or base_url=), and that a workspace host gets that workspace's key."
    )


class PermissionDeniedError(ModelStudioError):
    """403: the service or model is not activated for this account, or the free tier is spent."""

    hint = (
        "Activate Model Studio and this model in the console, check the workspace's model "
        "permissions, or turn off 'free tier only' if the free quota is spent."
    )


class ModelNotFoundError(ModelStudioError):
    """404: the model name is wrong, or the model is not offered in this region."""

    hint = "Check the model name and that this region offers it (v1/v2 are Beijing only)."


class EndpointNotFoundError(ModelNotFoundError, ConfigurationError):
    """404 for the endpoint's path, not for the model: ``base_url`` points at the wrong path
    (for example ``<host>/v1``, or a full endpoint URL under a proxy prefix)."""

    hint = (
        "base_url should be the service's host, e.g. https://dashscope.aliyuncs.com, or its "
        "compatible-mode URL https://dashscope.aliyuncs.com/compatible-mode/v1; the client "
        "adds the endpoint's path itself."
    )


class BillingError(ModelStudioError):
    """The account is overdue (Arrearage): top up in the console; retrying will not help."""

    hint = "The account is overdue: top up in the Alibaba Cloud console, then try again."


# --- transient (retried first, raised when retries are exhausted) --------------------------


class RateLimitError(ModelStudioError):
    """429 after every retry: requests or tokens per minute exceeded for the whole account.

    Limits are per model per root account, shared by every key. Lower ``max_concurrency``,
    or spread the work over time; ``partial`` holds the rows done so far. The subclasses say
    which limit fired.
    """

    hint = "Rate limits are per model per account and usually clear within a minute."

    contended: bool = False
    """Set on a 429 that came while other requests of the same client were accepted: the
    account is being shared and this request waits its turn, so the retry is not counted
    against ``max_retries`` (the budget paces it instead)."""


class RequestRateLimitError(RateLimitError):
    """429 ``Requests rate limit exceeded``: the account's requests per minute (checked per
    second as RPM/60), shared by every key and process of the account."""

    hint = (
        "The account's requests-per-minute limit for this model fired (shared by every key "
        "and process of the account); lower max_concurrency or the number of processes. It "
        "clears within a minute."
    )


class TokenRateLimitError(RateLimitError):
    """429 ``insufficient_quota`` / ``Allocated quota exceeded``: the account's tokens per
    minute, despite the billing wording (the service's own error table); long rows fill it
    long before the request limit."""

    hint = (
        "This is the account's tokens-per-minute limit for this model, despite the word "
        "'quota' (it clears within a minute): send fewer tokens per second. If it persists "
        "for minutes, check the account's quota and billing in the Model Studio console."
    )


class BurstRateLimitError(RateLimitError):
    """429 ``Request rate increased too quickly``: the service's burst protection, which
    rejects traffic that grows too fast even below the per-minute limits."""

    hint = "Traffic grew too fast (burst protection): ramp up more slowly; it clears in seconds."


class ServiceUnavailableError(ModelStudioError):
    """5xx after every retry: the service failed or had no capacity; try again later."""


class APIConnectionError(ModelStudioError):
    """The request did not reach the service or got no answer, after every retry.

    ``heals`` is False for failures a retry cannot mend (the port refuses connections, TLS
    fails: an ``https://`` URL to a plain-HTTP port, a certificate that does not verify):
    those are raised at once."""

    heals: bool = True


class APITimeoutError(APIConnectionError):
    """The request timed out after every retry; raise ``timeout`` or lower ``max_concurrency``."""


class HostNotFoundError(APIConnectionError):
    """The host's name does not resolve: a mistyped ``base_url`` or region, or no DNS. Not
    retried: a name that does not resolve now will not in a second either."""


class ResponseValidationError(ModelStudioError):
    """The service answered, but not with exactly one finite vector of the right width per row."""


# --- the one translation table -------------------------------------------------------------

_BATCH_LIMIT = re.compile(r"should not be larger than (\d+)")
_PREFIX = re.compile(r"^<\d{3}>\s*[\w.]+:\s*")
_DETAILS = re.compile(r"\s*For details, see:\s*\S+\s*$")

# (status, service code) -> class. A code of None is the status's fallback.
_BY_STATUS_AND_CODE: Mapping[tuple[int, str | None], type[ModelStudioError]] = {
    (400, "data_inspection_failed"): ContentInspectionError,
    (400, "DataInspectionFailed"): ContentInspectionError,
    (400, "Arrearage"): BillingError,
    (400, None): InvalidRequestError,
    (401, None): AuthenticationError,
    (403, None): PermissionDeniedError,
    (404, None): ModelNotFoundError,
    (408, None): APITimeoutError,
    (429, None): RateLimitError,
}


_FETCH_FAILURES = ("failed to download multimodal content", "url error, please check url")
"""The multimodal endpoint's messages for an image or video URL it could not fetch."""


def _class_for(status: int, code: str | None, message: str) -> type[ModelStudioError]:
    if (status, code) in _BY_STATUS_AND_CODE:
        return _BY_STATUS_AND_CODE[(status, code)]
    if status == 400 and "Range of input length" in message:
        return InputTooLongError
    if status == 400 and "inappropriate content" in message:
        return ContentInspectionError
    if status == 400 and any(text in message.lower() for text in _FETCH_FAILURES):
        return ContentFetchError
    if status in {400, 401, 403, 404, 408, 429}:
        return _BY_STATUS_AND_CODE[(status, None)]
    if status >= 500:
        return ServiceUnavailableError
    return ModelStudioError


def _fields(body: object) -> tuple[str | None, str, str | None]:
    """(code, message, request_id) from the compatible envelope or the native flat body."""
    if not isinstance(body, Mapping):
        text = body if isinstance(body, str) else ""
        return None, text.strip()[:300], None
    inner = body.get("error")
    source: Mapping[str, Any] = inner if isinstance(inner, Mapping) else body
    code = source.get("code") or source.get("type")
    message = source.get("message")
    request_id = body.get("request_id") or body.get("id")
    return (
        str(code) if code is not None else None,
        str(message) if message is not None else "",
        str(request_id) if request_id is not None else None,
    )


def clean_message(message: str) -> str:
    """The service's message without its ``<400> Code:`` prefix and documentation link."""
    return _DETAILS.sub("", _PREFIX.sub("", message)).strip()


def translate_status(
    status: int,
    body: object,
    *,
    headers: Mapping[str, str] | None = None,
    model: str | None = None,
    base_url: str | None = None,
    indices: Iterable[int] | None = None,
    secret: str | None = None,
) -> ModelStudioError:
    """The most specific library error for one HTTP error response from the service."""
    code, raw_message, request_id = _fields(body)
    headers = headers or {}
    request_id = request_id or headers.get("x-request-id") or headers.get("x-dashscope-request-id")
    message = clean_message(raw_message) or f"HTTP {status} from the service"
    if secret:
        message = message.replace(secret, "<redacted>")
    if 300 <= status < 400:
        target = headers.get("location", "another address")
        return ModelStudioError(
            f"The host answered {status} with a redirect to {target}; redirects are not "
            "followed, so the key never reaches a host you did not configure. Set base_url "
            "to the final address if you trust it.",
            status_code=status,
            model=model,
            base_url=base_url,
            indices=indices,
        )
    cls = _class_for(status, code, raw_message)
    if cls is RateLimitError:
        cls = _rate_limit_class(code, raw_message)
    if cls is ModelNotFoundError and not _names_a_model(code, raw_message):
        cls = EndpointNotFoundError
        message = f"The host answered 404 for the endpoint's path ({message})"
    if cls is AuthenticationError and base_url:
        message = f"{message} (host: {host_of(base_url)})"
    kwargs: dict[str, Any] = {
        "status_code": status,
        "code": code,
        "request_id": request_id,
        "model": model,
        "base_url": base_url,
        "indices": indices,
        "retry_after": parse_retry_after(headers.get("retry-after")),
    }
    if cls is InvalidRequestError:
        limit = _BATCH_LIMIT.search(raw_message)
        if limit:
            return RowLimitError(message, limit=int(limit.group(1)), **kwargs)
    return cls(message, **kwargs)


def _rate_limit_class(code: str | None, message: str) -> type[RateLimitError]:
    """Which of the account's limits a 429 names (the service's code and message)."""
    text = message.lower()
    if "increased too quickly" in text:
        return BurstRateLimitError
    if code in ("insufficient_quota", "Throttling.AllocationQuota") or "quota" in text:
        return TokenRateLimitError
    if "rate limit" in text or code in ("limit_requests", "Throttling.RateQuota", "Throttling"):
        return RequestRateLimitError
    return RateLimitError


def _names_a_model(code: str | None, message: str) -> bool:
    """Whether a 404 is the service's "model not found" rather than a path it does not have."""
    return "model" in (code or "").lower() or "model" in message.lower()


def translate_success_error(body: object, *, secret: str | None = None) -> ModelStudioError:
    """The error for a success status whose body is the service's error envelope (some
    gateways answer so): the class its code names where the table knows it, else a
    ResponseValidationError, and the service's own message either way."""
    code, raw_message, request_id = _fields(body)
    message = clean_message(raw_message) or "no message"
    if secret:
        message = message.replace(secret, "<redacted>")
    cls: type[ModelStudioError] = next(
        (cls for (_, known), cls in _BY_STATUS_AND_CODE.items() if known and known == code),
        ResponseValidationError,
    )
    return cls(
        f"The service answered 200 with an error instead of vectors: {message}",
        code=code,
        request_id=request_id,
    )


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from datetime import datetime, timezone
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def host_of(url: str) -> str:
    """The host part of a URL, for messages."""
    from urllib.parse import urlsplit

    return urlsplit(url).netloc or url
